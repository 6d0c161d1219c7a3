package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/store"
)

// repoContext is a repository as a job sees it: its client, default branch
// and config (read from the default branch, never from a PR).
type repoContext struct {
	Owner, Name, Full string
	InstallationID    int64
	GH                *github.Client
	CloneURL          string
	DefaultBranch     string
	HeadSHA           string // of the default branch, when the config was read
	Config            *repoconfig.Config
}

// errBadConfig means the repo's config did not parse; a failing
// specloop/config check run says where, and nothing else runs.
var errBadConfig = errors.New("repo config does not parse")

// repoCache reads a repo's installation, default branch and config from
// GitHub once per default-branch commit and keeps the read in the
// database, where every process sees it: waiting cycles, commands and the
// schedule cost no GitHub request. A push to the default branch marks the
// read stale (in the delivery's transaction), an installation event drops
// it, and ttl bounds it in case a webhook was lost.
type repoCache struct {
	pool   *pgxpool.Pool
	gh     GitHub
	logger *slog.Logger
	ttl    time.Duration
	// images is the operator's KUBE_IMAGES (repoconfig.ImageAllowed).
	images []string
}

// open returns the repo as last read, reading GitHub only when there is no
// read, it is stale or older than the ttl.
func (c *repoCache) open(ctx context.Context, full string, installationID int64) (*repoContext, error) {
	cached, err := store.GetRepoConfig(ctx, c.pool, full)
	switch {
	case err == nil && !cached.Stale && time.Since(cached.ReadAt) < c.ttl:
		return c.fromCache(cached)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return c.read(ctx, full, installationID, cached)
}

// fresh is open for a cycle about to run: it asks GitHub where the default
// branch is (one request) and rereads the config only if it moved.
func (c *repoCache) fresh(ctx context.Context, full string, installationID int64) (*repoContext, error) {
	cached, err := store.GetRepoConfig(ctx, c.pool, full)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if cached != nil && !cached.Stale {
		owner, name := splitRepo(full)
		ref, _, err := c.gh.Installation(cached.InstallationID).Git.GetRef(ctx, owner, name, "heads/"+cached.DefaultBranch)
		if err != nil {
			return nil, fmt.Errorf("get %s of %s: %w", cached.DefaultBranch, full, err)
		}
		if ref.GetObject().GetSHA() == cached.HeadSHA {
			return c.fromCache(cached)
		}
	}
	return c.read(ctx, full, installationID, cached)
}

// parse is repoconfig.Parse, then what this installation allows: a repo's
// sandbox.image must be in the operator's KUBE_IMAGES.
func (c *repoCache) parse(src []byte) (*repoconfig.Config, error) {
	cfg, err := repoconfig.Parse(src)
	if err != nil {
		return nil, err
	}
	if err := repoconfig.ImageAllowed(cfg.Sandbox.Image, c.images); err != nil {
		return nil, fmt.Errorf("%s: %w", repoconfig.Path, err)
	}
	return cfg, nil
}

func (c *repoCache) fromCache(r *store.RepoConfig) (*repoContext, error) {
	rc := c.context(r)
	cfg, err := c.parse(r.Config)
	if err != nil {
		// The failing specloop/config check was posted when it was read.
		return nil, fmt.Errorf("%w: %v", errBadConfig, err)
	}
	rc.Config = cfg
	return rc, nil
}

func (c *repoCache) context(r *store.RepoConfig) *repoContext {
	rc := &repoContext{Full: r.Repo, InstallationID: r.InstallationID, GH: c.gh.Installation(r.InstallationID),
		CloneURL: r.CloneURL, DefaultBranch: r.DefaultBranch, HeadSHA: r.HeadSHA}
	rc.Owner, rc.Name = splitRepo(r.Repo)
	return rc
}

// read asks GitHub for the repo, its default branch's head and the config
// there, and records the read.
func (c *repoCache) read(ctx context.Context, full string, installationID int64, cached *store.RepoConfig) (*repoContext, error) {
	if installationID == 0 && cached != nil {
		installationID = cached.InstallationID
	}
	id, err := c.installation(ctx, full, installationID)
	if err != nil {
		return nil, err
	}
	owner, name := splitRepo(full)
	gh := c.gh.Installation(id)
	repo, _, err := gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return nil, fmt.Errorf("get repo %s: %w", full, err)
	}
	ref, _, err := gh.Git.GetRef(ctx, owner, name, "heads/"+repo.GetDefaultBranch())
	if err != nil {
		return nil, fmt.Errorf("get %s of %s: %w", repo.GetDefaultBranch(), full, err)
	}
	r := &store.RepoConfig{Repo: full, InstallationID: id, DefaultBranch: repo.GetDefaultBranch(),
		CloneURL: repo.GetCloneURL(), HeadSHA: ref.GetObject().GetSHA()}
	rc := c.context(r)
	if r.Config, err = rc.file(ctx, repoconfig.Path, r.HeadSHA); err != nil {
		return nil, err
	}
	cfg, perr := c.parse(r.Config)
	if perr != nil {
		// Post the check before caching the read: a cached bad config is
		// never posted again, so a failed post must leave nothing cached
		// and fail the job, to be retried, rather than cancel it.
		if _, err := evidence.NewCheckRuns(rc.GH, rc.Owner, rc.Name).Create(ctx, evidence.ConfigCheck(rc.HeadSHA, perr)); err != nil {
			return nil, fmt.Errorf("post the config check of %s: %w", full, err)
		}
	}
	if err := store.SaveRepoConfig(ctx, c.pool, r); err != nil {
		return nil, err
	}
	if perr != nil {
		return nil, fmt.Errorf("%w: %v", errBadConfig, perr)
	}
	rc.Config = cfg
	return rc, nil
}

// installation resolves the installation of a repo when a delivery did not
// carry one (repo webhooks do not).
func (c *repoCache) installation(ctx context.Context, repo string, id int64) (int64, error) {
	if id != 0 {
		return id, nil
	}
	owner, name := splitRepo(repo)
	inst, _, err := c.gh.App().Apps.FindRepositoryInstallation(ctx, owner, name)
	if err != nil {
		return 0, fmt.Errorf("find installation of %s: %w", repo, err)
	}
	return inst.GetID(), nil
}

// openRepoForJob opens a repo for a job's Work: a config that does not
// parse cancels the job (retrying cannot fix it; the config check says why).
func (d *deps) openRepoForJob(ctx context.Context, full string, installationID int64) (*repoContext, error) {
	rc, err := d.repos.open(ctx, full, installationID)
	if errors.Is(err, errBadConfig) {
		return nil, river.JobCancel(err)
	}
	return rc, err
}

// file reads a file at ref; a missing file is nil, not an error.
func (rc *repoContext) file(ctx context.Context, path, ref string) ([]byte, error) {
	fc, _, resp, err := rc.GH.Repositories.GetContents(ctx, rc.Owner, rc.Name, path, &github.RepositoryContentGetOptions{Ref: ref})
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, ref, err)
	}
	if fc == nil {
		return nil, fmt.Errorf("read %s at %s: it is a directory", path, ref)
	}
	s, err := fc.GetContent()
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return []byte(s), nil
}

// checks is the repo's check runs.
func (rc *repoContext) checks() *evidence.CheckRuns {
	return evidence.NewCheckRuns(rc.GH, rc.Owner, rc.Name)
}

// base is the branch PRs go into: the config's, else the default branch.
func (rc *repoContext) base() string {
	if rc.Config.Base != "" {
		return rc.Config.Base
	}
	return rc.DefaultBranch
}

// baseHead is the head of the branch PRs go into: the default branch's
// from the cache, another base's from GitHub.
func (rc *repoContext) baseHead(ctx context.Context) (string, error) {
	base := rc.base()
	if base == rc.DefaultBranch {
		return rc.HeadSHA, nil
	}
	ref, _, err := rc.GH.Git.GetRef(ctx, rc.Owner, rc.Name, "heads/"+base)
	if err != nil {
		return "", fmt.Errorf("read the base branch %s (base: in %s): %w", base, repoconfig.Path, err)
	}
	return ref.GetObject().GetSHA(), nil
}

// splitRepo splits "owner/name".
func splitRepo(full string) (string, string) {
	owner, name, _ := strings.Cut(full, "/")
	return owner, name
}
