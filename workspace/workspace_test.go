package workspace

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gitT runs git in dir for a test and returns trimmed stdout.
func gitT(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+os.TempDir())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func writeT(t testing.TB, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// remote is a bare repository standing in for GitHub, with two commits on
// main.
type remote struct {
	dir      string // bare repository
	src      string // its non-bare source, to add commits
	old, new string // shas
}

func newRemote(t testing.TB) *remote {
	t.Helper()
	base := t.TempDir()
	r := &remote{dir: filepath.Join(base, "origin.git"), src: filepath.Join(base, "src")}
	gitT(t, base, "init", "-q", "-b", "main", r.src)
	writeT(t, filepath.Join(r.src, "a.txt"), "one\n")
	writeT(t, filepath.Join(r.src, "spec", "feature.md"), "# Spec\n- [ ] first\n")
	writeT(t, filepath.Join(r.src, "gone.txt"), "to be deleted\n")
	writeT(t, filepath.Join(r.src, ".gitignore"), "*.log\n")
	gitT(t, r.src, "add", "-A")
	gitT(t, r.src, "commit", "-q", "-m", "first")
	r.old = gitT(t, r.src, "rev-parse", "HEAD")
	writeT(t, filepath.Join(r.src, "a.txt"), "one\ntwo\n")
	writeT(t, filepath.Join(r.src, "b.txt"), "bee\n")
	gitT(t, r.src, "add", "-A")
	gitT(t, r.src, "commit", "-q", "-m", "second")
	r.new = gitT(t, r.src, "rev-parse", "HEAD")
	gitT(t, base, "clone", "-q", "--bare", r.src, r.dir)
	gitT(t, r.dir, "config", "http.receivepack", "true")
	return r
}

// addCommit adds a commit on main of the remote and returns its sha.
func (r *remote) addCommit(t testing.TB, file, content string) string {
	t.Helper()
	writeT(t, filepath.Join(r.src, file), content)
	gitT(t, r.src, "add", "-A")
	gitT(t, r.src, "commit", "-q", "-m", "more")
	gitT(t, r.src, "push", "-q", r.dir, "main")
	return gitT(t, r.src, "rev-parse", "HEAD")
}

// modes are the two ways Checkout can work; overlay only when root.
func modes(t *testing.T) map[string]bool {
	m := map[string]bool{"checkout": true}
	if os.Geteuid() == 0 {
		m["overlay"] = false
	}
	return m
}

func newCache(t testing.TB, noOverlay bool) *Cache {
	t.Helper()
	c := &Cache{Dir: t.TempDir(), NoOverlay: noOverlay}
	t.Cleanup(func() {
		// Nothing may stay mounted once a test is done.
		require.NoError(t, c.Prune(context.Background(), -time.Hour))
	})
	return c
}

func checkout(t testing.TB, c *Cache, r *remote, sha string) *Workdir {
	t.Helper()
	_, err := c.Fetch(t.Context(), r.dir, "")
	require.NoError(t, err)
	w, err := c.Checkout(t.Context(), r.dir, sha)
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	return w
}

func readT(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestFetchColdThenWarm(t *testing.T) {
	t.Parallel()
	r := newRemote(t)
	c := newCache(t, true)
	ctx := t.Context()

	mirror, err := c.Fetch(ctx, r.dir, "")
	require.NoError(t, err)
	require.Equal(t, r.new, gitT(t, mirror, "rev-parse", "refs/heads/main"))
	require.Equal(t, "0", gitT(t, mirror, "config", "gc.auto"))

	_, err = c.Checkout(ctx, r.dir, strings.Repeat("ab", 20))
	require.ErrorIs(t, err, ErrUnknownCommit)

	third := r.addCommit(t, "c.txt", "sea\n")
	gitT(t, r.src, "push", "-q", r.dir, "main:feature")
	again, err := c.Fetch(ctx, r.dir, "")
	require.NoError(t, err)
	require.Equal(t, mirror, again)
	require.Equal(t, third, gitT(t, mirror, "rev-parse", "refs/heads/main"))
	require.Equal(t, third, gitT(t, mirror, "rev-parse", "refs/heads/feature"))

	// Deleted branches go; extra refs come.
	gitT(t, r.dir, "branch", "-D", "feature")
	gitT(t, r.dir, "update-ref", "refs/pull/7/head", r.old)
	_, err = c.Fetch(ctx, r.dir, "", "refs/pull/7/head")
	require.NoError(t, err)
	require.Equal(t, r.old, gitT(t, mirror, "rev-parse", "refs/pull/7/head"))
	require.Empty(t, gitT(t, mirror, "branch", "--list", "feature"))
}

func TestCheckoutBeforeFetch(t *testing.T) {
	t.Parallel()
	c := newCache(t, true)
	_, err := c.Checkout(t.Context(), "https://github.com/o/r", strings.Repeat("a", 40))
	require.ErrorIs(t, err, ErrNotFetched)
}

func TestCheckoutOlderCommit(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRemote(t)
			c := newCache(t, noOverlay)
			w := checkout(t, c, r, r.old[:12]) // abbreviated shas resolve

			require.Equal(t, r.old, w.Base)
			require.Equal(t, "one\n", readT(t, filepath.Join(w.Path, "a.txt")))
			require.NoFileExists(t, filepath.Join(w.Path, "b.txt"))
			// Plain git works in the tree, and the index needs no refresh.
			require.Equal(t, r.old, gitT(t, w.Path, "rev-parse", "HEAD"))
			require.Empty(t, gitT(t, w.Path, "diff-files", "--name-only"))
			require.Empty(t, gitT(t, w.Path, "status", "--porcelain"))
		})
	}
}

func TestConcurrentCheckoutsAreIndependent(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRemote(t)
			c := newCache(t, noOverlay)
			_, err := c.Fetch(t.Context(), r.dir, "")
			require.NoError(t, err)

			ws := make([]*Workdir, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range ws {
				wg.Go(func() { ws[i], errs[i] = c.Checkout(t.Context(), r.dir, r.new) })
			}
			wg.Wait()
			for _, w := range ws {
				if w != nil {
					t.Cleanup(func() { w.Close() })
				}
			}
			for i, err := range errs {
				require.NoError(t, err, "checkout %d", i)
			}
			require.NotEqual(t, ws[0].Path, ws[1].Path)

			// An append modifies in place: the case hardlinks get wrong.
			f, err := os.OpenFile(filepath.Join(ws[0].Path, "a.txt"), os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("three\n")
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.NoError(t, os.Remove(filepath.Join(ws[0].Path, "b.txt")))
			gitT(t, ws[0].Path, "commit", "-q", "-am", "local")

			require.Equal(t, "one\ntwo\nthree\n", readT(t, filepath.Join(ws[0].Path, "a.txt")))
			require.Equal(t, "one\ntwo\n", readT(t, filepath.Join(ws[1].Path, "a.txt")))
			require.FileExists(t, filepath.Join(ws[1].Path, "b.txt"))
			require.Equal(t, r.new, gitT(t, ws[1].Path, "rev-parse", "HEAD"))
			require.Empty(t, gitT(t, ws[1].Path, "status", "--porcelain"))

			// A later checkout sees the cache untouched.
			w3 := checkout(t, c, r, r.new)
			require.Equal(t, "one\ntwo\n", readT(t, filepath.Join(w3.Path, "a.txt")))
			require.Empty(t, gitT(t, w3.Path, "status", "--porcelain"))
		})
	}
}

func TestChangesAndDiff(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRemote(t)
			w := checkout(t, newCache(t, noOverlay), r, r.old)
			ctx := t.Context()

			changes, err := w.Changes(ctx)
			require.NoError(t, err)
			require.Empty(t, changes)

			require.NoError(t, w.WriteFile("a.txt", []byte("uno\n")))
			require.NoError(t, os.Remove(filepath.Join(w.Path, "gone.txt")))
			require.NoError(t, w.WriteFile("new/untracked.txt", []byte("x\ny\n")))
			require.NoError(t, w.WriteFile("data.bin", []byte{0, 1, 2, 0}))
			require.NoError(t, w.WriteFile("debug.log", []byte("ignored\n")))

			changes, err = w.Changes(ctx)
			require.NoError(t, err)
			require.Equal(t, []Change{
				{Path: "a.txt", Status: 'M', Added: 1, Deleted: 1},
				{Path: "data.bin", Status: 'A', Binary: true},
				{Path: "gone.txt", Status: 'D', Deleted: 1},
				{Path: "new/untracked.txt", Status: 'A', Added: 2},
			}, changes)

			patch, err := w.Diff(ctx)
			require.NoError(t, err)
			for _, want := range []string{
				"+++ b/new/untracked.txt", "deleted file mode", "-one\n+uno\n", "GIT binary patch",
			} {
				require.Contains(t, string(patch), want)
			}
			require.NotContains(t, string(patch), "debug.log")

			// Reading changes leaves the real index alone: the new file is
			// still untracked.
			require.Contains(t, gitT(t, w.Path, "status", "--porcelain"), "?? new/")

			// The patch applies to the base commit.
			other := checkout(t, newCache(t, true), r, r.old)
			require.NoError(t, os.WriteFile(filepath.Join(t.TempDir(), "p"), patch, 0o644))
			cmd := exec.Command("git", "apply", "--index", "-")
			cmd.Dir, cmd.Stdin = other.Path, strings.NewReader(string(patch))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Equal(t, "x\ny\n", readT(t, filepath.Join(other.Path, "new/untracked.txt")))
		})
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRemote(t)
			w := checkout(t, newCache(t, noOverlay), r, r.new)
			ctx := t.Context()

			tamper := func() {
				require.NoError(t, w.WriteFile("spec/feature.md", []byte("# Spec\n- [x] first\n")))
				require.NoError(t, w.WriteFile("spec/extra.md", []byte("mine\n")))
				require.NoError(t, w.WriteFile("a.txt", []byte("changed\n")))
				require.NoError(t, os.Remove(filepath.Join(w.Path, "b.txt")))
				require.NoError(t, w.WriteFile("out.log", []byte("log\n")))
				gitT(t, w.Path, "add", "spec/extra.md")
			}
			tamper()
			require.NoError(t, w.Reset(ctx, "spec", "b.txt"))
			require.Equal(t, "# Spec\n- [ ] first\n", readT(t, filepath.Join(w.Path, "spec/feature.md")))
			require.NoFileExists(t, filepath.Join(w.Path, "spec/extra.md"))
			require.Equal(t, "bee\n", readT(t, filepath.Join(w.Path, "b.txt")))
			require.Equal(t, "changed\n", readT(t, filepath.Join(w.Path, "a.txt")))
			changes, err := w.Changes(ctx)
			require.NoError(t, err)
			require.Equal(t, []Change{{Path: "a.txt", Status: 'M', Added: 1, Deleted: 2}}, changes)

			// A file that exists nowhere is not an error.
			require.NoError(t, w.Reset(ctx, "no/such/file"))
			require.Error(t, w.Reset(ctx, "../escape"))
			require.Error(t, w.Reset(ctx, ".git"))

			tamper()
			require.NoError(t, w.Reset(ctx))
			require.Empty(t, gitT(t, w.Path, "status", "--porcelain", "--ignored"))
			require.FileExists(t, filepath.Join(w.Path, ".git"))
		})
	}
}

func TestResetDoesNotFollowSymlinks(t *testing.T) {
	t.Parallel()
	r := newRemote(t)
	w := checkout(t, newCache(t, false), r, r.new)
	outside := t.TempDir()
	writeT(t, filepath.Join(outside, "feature.md"), "precious\n")
	require.NoError(t, os.RemoveAll(filepath.Join(w.Path, "spec")))
	require.NoError(t, os.Symlink(outside, filepath.Join(w.Path, "spec")))

	require.NoError(t, w.Reset(t.Context(), "spec/feature.md"))
	require.Equal(t, "precious\n", readT(t, filepath.Join(outside, "feature.md")))
	got, err := w.ReadFile("spec/feature.md")
	require.NoError(t, err)
	require.Equal(t, "# Spec\n- [ ] first\n", string(got))

	// ReadFile and WriteFile stay inside the tree too.
	require.NoError(t, os.Symlink(outside, filepath.Join(w.Path, "link")))
	_, err = w.ReadFile("link/feature.md")
	require.Error(t, err)
	require.Error(t, w.WriteFile("link/feature.md", []byte("pwned")))
	require.Error(t, w.WriteFile("../x", []byte("pwned")))
	require.Equal(t, "precious\n", readT(t, filepath.Join(outside, "feature.md")))
}

func TestCommitAndPush(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRemote(t)
			w := checkout(t, newCache(t, noOverlay), r, r.new)
			ctx := t.Context()
			bot := Signature{Name: "specloop[bot]", Email: "123+specloop[bot]@users.noreply.github.com"}

			_, err := w.Commit(ctx, "empty", bot)
			require.ErrorIs(t, err, ErrNothingToCommit)

			require.NoError(t, w.WriteFile("impl.go", []byte("package x\n")))
			sha, err := w.Commit(ctx, "Implement OB-1\n\nBody.\n", bot)
			require.NoError(t, err)
			require.Equal(t, sha, gitT(t, w.Path, "rev-parse", "HEAD"))
			require.Equal(t, r.new, gitT(t, w.Path, "rev-parse", "HEAD^"))
			require.Equal(t, bot.Name+" <"+bot.Email+">|"+bot.Name+"|Implement OB-1",
				gitT(t, w.Path, "log", "-1", "--format=%an <%ae>|%cn|%s"))
			require.Empty(t, gitT(t, w.Path, "status", "--porcelain"))

			err = w.Push(ctx, PushOptions{RemoteURL: r.dir, Branch: "main", BranchPrefix: "specloop/"})
			require.ErrorContains(t, err, "specloop/")
			err = w.Push(ctx, PushOptions{RemoteURL: r.dir, Branch: "specloop/bad..name"})
			require.Error(t, err)

			require.NoError(t, w.Push(ctx, PushOptions{RemoteURL: r.dir, SHA: sha, Branch: "specloop/ob-1", BranchPrefix: "specloop/"}))
			require.Equal(t, sha, gitT(t, r.dir, "rev-parse", "refs/heads/specloop/ob-1"))

			// Non-fast-forward needs Force.
			err = w.Push(ctx, PushOptions{RemoteURL: r.dir, SHA: r.old, Branch: "specloop/ob-1"})
			require.Error(t, err)
			require.NoError(t, w.Push(ctx, PushOptions{RemoteURL: r.dir, SHA: r.old, Branch: "specloop/ob-1", Force: true}))
			require.Equal(t, r.old, gitT(t, r.dir, "rev-parse", "refs/heads/specloop/ob-1"))
		})
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRemote(t)
			c := newCache(t, noOverlay)
			w := checkout(t, c, r, r.new)
			require.NoError(t, w.WriteFile("x.txt", []byte("x")))

			require.NoError(t, w.Close())
			require.NoError(t, w.Close())
			require.NoDirExists(t, w.root)
			mounted, err := isMountPoint(w.Path)
			require.NoError(t, err)
			require.False(t, mounted)
			entries, err := os.ReadDir(filepath.Join(c.Dir, "work"))
			require.NoError(t, err)
			require.Empty(t, entries)
		})
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRemote(t)
			c := newCache(t, noOverlay)
			ctx := t.Context()
			live := checkout(t, c, r, r.new)
			crashed := checkout(t, c, r, r.old)
			// A crashed worker: its lock is gone, its directory (and mount) stays.
			crashed.unlock()
			old := time.Now().Add(-2 * time.Hour)
			require.NoError(t, os.Chtimes(crashed.root, old, old))

			require.NoError(t, c.Prune(ctx, time.Hour))
			require.NoDirExists(t, crashed.root)
			require.DirExists(t, live.root)
			require.Equal(t, "one\ntwo\n", readT(t, filepath.Join(live.Path, "a.txt")))

			// Pristine checkouts go when unused, but not from under a live
			// Workdir.
			require.NoError(t, c.Prune(ctx, -time.Hour))
			require.DirExists(t, live.root)
			require.Equal(t, "one\ntwo\n", readT(t, filepath.Join(live.Path, "a.txt")))
			if !noOverlay {
				require.NoDirExists(t, filepath.Join(c.Dir, "pristine", mustKey(t, r.dir), r.old))
				require.DirExists(t, filepath.Join(c.Dir, "pristine", mustKey(t, r.dir), r.new))
			}
			require.NoError(t, live.Close())
			require.NoError(t, c.Prune(ctx, -time.Hour))
			require.NoDirExists(t, filepath.Join(c.Dir, "pristine", mustKey(t, r.dir), r.new))

			// The mirror stays, and checkouts still work.
			w := checkout(t, c, r, r.new)
			require.Equal(t, "bee\n", readT(t, filepath.Join(w.Path, "b.txt")))
		})
	}
}

func mustKey(t testing.TB, remoteURL string) string {
	k, err := repoKey(remoteURL)
	require.NoError(t, err)
	return k
}

func TestRepoKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"https://github.com/owner/repo.git", "github.com/owner/repo"},
		{"https://x-access-token:secret@github.com/owner/repo", "github.com/owner/repo"},
		{"http://127.0.0.1:8080/o/r.git", "127.0.0.1/o/r"},
		{"https://github.com/../../etc", "github.com/etc"},
	} {
		require.Equal(t, tc.want, mustKey(t, tc.url), tc.url)
	}
	a, b := mustKey(t, "/srv/a/repo.git"), mustKey(t, "file:///srv/b/repo.git")
	require.True(t, strings.HasPrefix(a, "local/repo-"), a)
	require.NotEqual(t, a, b)
	_, err := repoKey("")
	require.Error(t, err)
}

func TestRepoKeysDoNotNest(t *testing.T) {
	t.Parallel()
	a := mustKey(t, "https://h/o/r.git")
	b := mustKey(t, "https://h/o/r.git/x")
	require.False(t, strings.HasPrefix(b+"/", a+".git/"), "%s inside %s", b, a)
}

func TestConcurrentColdFetch(t *testing.T) {
	t.Parallel()
	r := newRemote(t)
	dir := t.TempDir()
	paths := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range paths {
		// Separate Cache values sharing Dir stand in for worker processes.
		c := &Cache{Dir: dir}
		wg.Go(func() { paths[i], errs[i] = c.Fetch(t.Context(), r.dir, "") })
	}
	wg.Wait()
	for i, p := range paths {
		require.NoError(t, errs[i], "fetch %d", i)
		require.Equal(t, paths[0], p)
	}
	require.Equal(t, r.new, gitT(t, paths[0], "rev-parse", "main"))
}

func TestChownDoesNotTouchCache(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	r := newRemote(t)
	c := newCache(t, false)
	w := checkout(t, c, r, r.new)
	// What the sandbox does before running the agent as its own user.
	require.NoError(t, filepath.WalkDir(w.Path, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 990099, 990099)
	}))
	require.NoError(t, os.WriteFile(filepath.Join(w.Path, "a.txt"), []byte("mine\n"), 0o644))
	changes, err := w.Changes(t.Context())
	require.NoError(t, err)
	require.Equal(t, []Change{{Path: "a.txt", Status: 'M', Added: 1, Deleted: 2}}, changes)

	w2 := checkout(t, c, r, r.new)
	var info os.FileInfo
	info, err = os.Stat(filepath.Join(w2.Path, "a.txt"))
	require.NoError(t, err)
	require.Equal(t, uint32(0), info.Sys().(*syscall.Stat_t).Uid)
	require.Equal(t, "one\ntwo\n", readT(t, filepath.Join(w2.Path, "a.txt")))
}
