package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ErrNotFetched is returned by Checkout when the repository has no mirror
// yet: call Fetch first.
var ErrNotFetched = errors.New("repository not fetched")

// ErrUnknownCommit is returned by Checkout when the mirror lacks the commit.
var ErrUnknownCommit = errors.New("commit not in mirror")

// Cache holds bare mirrors and pristine checkouts under Dir. It is safe for
// concurrent use by several cycles, in one process or several processes
// sharing Dir: each repository's mirror and each pristine checkout is
// guarded by a flock file.
type Cache struct {
	// Dir is the root of the cache. Keep it on a local filesystem: the
	// overlay upper layers and the pristine trees must share it.
	Dir string
	// Logger receives progress and fallbacks; nil means discard.
	Logger *slog.Logger
	// NoOverlay disables overlay mounts even when they work, so every
	// Checkout is a plain checkout from the mirror.
	NoOverlay bool
	// TreeOwner, when set, owns the files of every working copy: the
	// sandbox's user, so a worker running as root never has to hand a tree
	// over file by file before each sandboxed command.
	TreeOwner *Owner
	// MaxBytes bounds the disk use of mirrors and pristine checkouts
	// (MIRROR_MAX_BYTES): Prune evicts the least recently used ones that no
	// Workdir holds until they fit. 0 means unbounded.
	MaxBytes int64
	// Deadlines bound Fetch and the Push of every Workdir it checks out.
	Deadlines Deadlines

	probeOnce sync.Once
	overlayOK bool
}

// Owner is a user and group that owns working copies.
type Owner struct{ UID, GID int }

// chown gives path (and with tree, everything under it) to TreeOwner.
func (c *Cache) chown(path string, tree bool) error {
	if c.TreeOwner == nil {
		return nil
	}
	uid, gid := c.TreeOwner.UID, c.TreeOwner.GID
	if !tree {
		return os.Lchown(path, uid, gid)
	}
	return filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func (c *Cache) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Fetch creates or updates the mirror of remoteURL and returns its path.
// All branches and tags are mirrored (deleted ones pruned); extraRefs, such
// as "refs/pull/12/head" for a pull request from a fork, are fetched under
// their own names too. token, if not empty, is an installation token; see
// the package documentation for how it is kept secret.
func (c *Cache) Fetch(ctx context.Context, remoteURL, token string, extraRefs ...string) (mirrorPath string, err error) {
	start := time.Now()
	key, err := repoKey(remoteURL)
	if err != nil {
		return "", err
	}
	mirror := c.mirrorPath(key)
	g := authed(gitCmd{}, remoteURL, token)
	defer func() {
		var stall *StallError
		if err != nil && !errors.As(err, &stall) { // a StallError names the fetch already
			err = redactErr(fmt.Errorf("fetch %s: %w", redactURL(remoteURL), err), g.secret...)
		}
	}()
	refspecs := []string{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	for _, r := range extraRefs {
		if !strings.HasPrefix(r, "refs/") || strings.ContainsAny(r, "*:^~ \\") {
			return "", fmt.Errorf("bad ref %q", r)
		}
		refspecs = append(refspecs, "+"+r+":"+r)
	}

	unlock, err := flock(ctx, filepath.Join(c.Dir, "locks", key+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	cold := false
	if _, err := os.Stat(filepath.Join(mirror, "HEAD")); errors.Is(err, fs.ErrNotExist) {
		cold = true
		// Build the mirror beside its final place and rename it in, so a
		// crash never leaves a half-made mirror that looks usable.
		tmp := mirror + ".tmp"
		if err := os.RemoveAll(tmp); err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
			return "", err
		}
		if _, err := g.run(ctx, "init", "--quiet", "--bare", tmp); err != nil {
			return "", err
		}
		g.dir = tmp
		for _, kv := range [][2]string{{"gc.auto", "0"}, {"core.logAllRefUpdates", "false"}, {"fetch.writeCommitGraph", "false"}} {
			if _, err := g.run(ctx, "config", kv[0], kv[1]); err != nil {
				return "", err
			}
		}
		if _, err := c.fetch(ctx, g, remoteURL, append([]string{"fetch", "--quiet", "--no-tags", "--", remoteURL}, refspecs...)); err != nil {
			os.RemoveAll(tmp)
			return "", err
		}
		// A mirror without HEAD is debris from something else; replace it.
		if err := os.RemoveAll(mirror); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, mirror); err != nil {
			return "", err
		}
	} else {
		g.dir = mirror
		if _, err := c.fetch(ctx, g, remoteURL, append([]string{"fetch", "--quiet", "--prune", "--no-tags", "--", remoteURL}, refspecs...)); err != nil {
			return "", err
		}
	}
	now := time.Now()
	os.Chtimes(mirror, now, now) // last use, for the size bound
	c.logger().DebugContext(ctx, "workspace: fetched", "remote", redactURL(remoteURL), "cold", cold, "took", time.Since(start))
	return mirror, nil
}

func (c *Cache) mirrorPath(key string) string {
	return filepath.Join(c.Dir, "mirrors", key+".git")
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// repoKey names a repository in the cache: host/owner/repo for URLs, and
// local/<name>-<hash> for paths, so distinct remotes never share a mirror.
func repoKey(remoteURL string) (string, error) {
	if remoteURL == "" {
		return "", errors.New("empty remote URL")
	}
	var parts []string
	u, err := url.Parse(remoteURL)
	if err == nil && u.Host != "" && u.Scheme != "file" {
		p := strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
		parts = append([]string{u.Hostname()}, strings.Split(p, "/")...)
	} else {
		p := remoteURL
		if err == nil && u.Scheme == "file" {
			p = u.Path
		}
		sum := sha256.Sum256([]byte(filepath.Clean(p)))
		name := strings.TrimSuffix(filepath.Base(p), ".git")
		parts = []string{"local", name + "-" + hex.EncodeToString(sum[:6])}
	}
	var clean []string
	for _, p := range parts {
		p = unsafeChars.ReplaceAllString(p, "_")
		if p == "" || p == "." || p == ".." {
			continue
		}
		clean = append(clean, p)
	}
	// Only the mirror itself ends in .git, so one repository's mirror is
	// never a parent directory of another's.
	for i, p := range clean {
		if strings.HasSuffix(p, ".git") || strings.HasSuffix(p, ".git.tmp") {
			clean[i] = p + "_"
		}
	}
	if len(clean) < 2 {
		return "", fmt.Errorf("cannot name a cache entry for %s", redactURL(remoteURL))
	}
	return filepath.Join(clean...), nil
}
