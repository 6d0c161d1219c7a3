package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"
)

// repoContext is a repository as a job sees it: its client, default branch
// and config (read from the default branch, never from a PR).
type repoContext struct {
	Owner, Name, Full string
	InstallationID    int64
	GH                *github.Client
	Repo              *github.Repository
	DefaultBranch     string
	HeadSHA           string // of the default branch
	Config            *RepoConfig
}

// errBadConfig means the repo's config did not parse; a failing
// specloop/config check run says where, and nothing else runs.
var errBadConfig = errors.New("repo config does not parse")

func (d *Deps) openRepo(ctx context.Context, full string, installationID int64) (*repoContext, error) {
	id, err := d.installation(ctx, full, installationID)
	if err != nil {
		return nil, err
	}
	rc := &repoContext{Full: full, InstallationID: id, GH: d.GitHub.Installation(id)}
	rc.Owner, rc.Name = splitRepo(full)
	repo, _, err := rc.GH.Repositories.Get(ctx, rc.Owner, rc.Name)
	if err != nil {
		return nil, fmt.Errorf("get repo %s: %w", full, err)
	}
	rc.Repo = repo
	rc.DefaultBranch = repo.GetDefaultBranch()
	ref, _, err := rc.GH.Git.GetRef(ctx, rc.Owner, rc.Name, "heads/"+rc.DefaultBranch)
	if err != nil {
		return nil, fmt.Errorf("get %s of %s: %w", rc.DefaultBranch, full, err)
	}
	rc.HeadSHA = ref.GetObject().GetSHA()
	src, err := rc.file(ctx, ConfigPath, rc.HeadSHA)
	if err != nil {
		return nil, err
	}
	cfg, perr := ParseRepoConfig(src)
	if perr != nil {
		d.configCheck(ctx, rc, perr)
		return nil, fmt.Errorf("%w: %v", errBadConfig, perr)
	}
	rc.Config = cfg
	return rc, nil
}

// openRepoForJob is openRepo for a job's Work: a config that does not parse
// cancels the job (retrying cannot fix it; the config check says why).
func (d *Deps) openRepoForJob(ctx context.Context, full string, installationID int64) (*repoContext, error) {
	rc, err := d.openRepo(ctx, full, installationID)
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

// configCheck posts the failing specloop/config check run on the default
// branch's head, saying what is wrong with the config.
func (d *Deps) configCheck(ctx context.Context, rc *repoContext, perr error) {
	_, _, err := rc.GH.Checks.CreateCheckRun(ctx, rc.Owner, rc.Name, github.CreateCheckRunOptions{
		Name:       "specloop/config",
		HeadSHA:    rc.HeadSHA,
		Status:     github.String("completed"),
		Conclusion: github.String("failure"),
		Output: &github.CheckRunOutput{
			Title:   github.String(".github/specloop.yml does not parse"),
			Summary: github.String(fmt.Sprintf("specloop does nothing in this repo until its config is fixed.\n\n```\n%s\n```", perr)),
		},
	})
	if err != nil {
		d.Logger.Error("post config check", "repo", rc.Full, "err", err)
	}
}
