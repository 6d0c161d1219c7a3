package workspace

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/specloop/specloop/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

func needOverlay(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("layers need overlay mounts, which need root")
	}
}

// newEmptyRemote is a remote whose history the test writes with edit and
// commit.
func newEmptyRemote(t *testing.T) *remote {
	t.Helper()
	base := t.TempDir()
	r := &remote{dir: filepath.Join(base, "origin.git"), src: filepath.Join(base, "src")}
	gitT(t, base, "init", "-q", "-b", "main", r.src)
	gitT(t, base, "init", "-q", "--bare", r.dir)
	return r
}

// commit records everything in the source and pushes it.
func (r *remote) commit(t *testing.T, edit func(src string)) string {
	t.Helper()
	edit(r.src)
	gitT(t, r.src, "add", "-A")
	gitT(t, r.src, "commit", "-q", "--allow-empty", "-m", "c")
	gitT(t, r.src, "push", "-q", r.dir, "main")
	return gitT(t, r.src, "rev-parse", "HEAD")
}

func symlinkT(t *testing.T, target, path string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	os.Remove(path)
	require.NoError(t, os.Symlink(target, path))
}

// treeOf describes every entry of a tree: type, executable bit, content or
// link target.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || rel == ".git" {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			got[rel] = "dir"
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fmt.Sprintf("file x=%v %q", info.Mode()&0o100 != 0, b)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "link " + target
		default:
			got[rel] = "other " + info.Mode().String()
		}
		return nil
	}))
	return got
}

// requireSameAsArchive checks that the Workdir's tree is exactly `git
// archive sha`: the same entries, contents, executable bits and links.
func requireSameAsArchive(t *testing.T, r *remote, w *Workdir, sha string) {
	t.Helper()
	cmd := exec.Command("git", "archive", "--format=tar", sha)
	cmd.Dir = r.dir
	out, err := cmd.Output()
	require.NoError(t, err)
	want := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		name := strings.TrimSuffix(h.Name, "/")
		switch h.Typeflag {
		case tar.TypeXGlobalHeader:
		case tar.TypeDir:
			want[name] = "dir"
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			want[name] = fmt.Sprintf("file x=%v %q", h.Mode&0o100 != 0, b)
		case tar.TypeSymlink:
			want[name] = "link " + h.Linkname
		default:
			t.Fatalf("unexpected tar entry %q of type %c", h.Name, h.Typeflag)
		}
	}
	require.Equal(t, want, treeOf(t, w.Path))
	changes, err := w.Changes(t.Context())
	require.NoError(t, err)
	require.Empty(t, changes)
	// The index copied from the pristine checkout is fresh: diff-files
	// does not refresh, so any stale stat data would list the file.
	require.Empty(t, gitT(t, w.Path, "-c", "safe.directory=*", "diff-files", "--name-only"))
	require.Empty(t, gitT(t, w.Path, "-c", "safe.directory=*", "status", "--porcelain"))
}

// layersOf is the chain a pristine checkout is mounted from; one entry for
// a full checkout.
func layersOf(t *testing.T, c *Cache, r *remote, sha string) []string {
	t.Helper()
	chain, err := readChain(c.pristineDir(mustKey(t, r.dir), sha))
	require.NoError(t, err)
	return chain
}

// Parent P, child C and grandchild D, with every kind of change.
func layeredHistory(t *testing.T, r *remote) (p, c, d string) {
	p = r.commit(t, func(src string) {
		writeT(t, filepath.Join(src, "a.txt"), "one\n")
		writeT(t, filepath.Join(src, "mod.txt"), "old\n")
		writeT(t, filepath.Join(src, "run.sh"), "#!/bin/sh\necho hi\n")
		writeT(t, filepath.Join(src, "del.txt"), "doomed\n")
		writeT(t, filepath.Join(src, "dir", "gone1.txt"), "g1\n")
		writeT(t, filepath.Join(src, "dir", "sub", "gone2.txt"), "g2\n")
		writeT(t, filepath.Join(src, "keep", "x.txt"), "x\n")
		writeT(t, filepath.Join(src, "with space", "s p.txt"), "spaced\n")
		symlinkT(t, "a.txt", filepath.Join(src, "link"))
	})
	c = r.commit(t, func(src string) {
		writeT(t, filepath.Join(src, "mod.txt"), "new\n")
		writeT(t, filepath.Join(src, "add.txt"), "added\n")
		require.NoError(t, os.Remove(filepath.Join(src, "del.txt")))
		require.NoError(t, os.Chmod(filepath.Join(src, "run.sh"), 0o755))
		symlinkT(t, "keep/x.txt", filepath.Join(src, "newlink"))
		symlinkT(t, "mod.txt", filepath.Join(src, "link"))
		writeT(t, filepath.Join(src, "newdir", "deep", "f.txt"), "deep\n")
		writeT(t, filepath.Join(src, "keep", "y.txt"), "y\n")
		require.NoError(t, os.RemoveAll(filepath.Join(src, "dir")))
		writeT(t, filepath.Join(src, "with space", "s p.txt"), "still spaced\n")
	})
	d = r.commit(t, func(src string) {
		writeT(t, filepath.Join(src, "dir", "again.txt"), "back\n") // a dir deleted one layer down
		require.NoError(t, os.RemoveAll(filepath.Join(src, "newdir")))
		writeT(t, filepath.Join(src, "keep", "x.txt"), "x2\n")
		writeT(t, filepath.Join(src, "del.txt"), "revived\n")
		require.NoError(t, os.Chmod(filepath.Join(src, "run.sh"), 0o644))
	})
	return p, c, d
}

func TestCheckoutChildAsLayer(t *testing.T) {
	t.Parallel()
	needOverlay(t)
	r := newEmptyRemote(t)
	p, cc, d := layeredHistory(t, r)
	c := newCache(t, false)
	key := mustKey(t, r.dir)

	wp := checkout(t, c, r, p)
	require.Equal(t, []string{p}, layersOf(t, c, r, p))
	requireSameAsArchive(t, r, wp, p)

	wc := checkout(t, c, r, cc)
	require.Equal(t, []string{cc, p}, layersOf(t, c, r, cc))
	requireSameAsArchive(t, r, wc, cc)
	// The layer holds the changes only: whiteouts for deletions, one for
	// the whole deleted directory.
	layer := filepath.Join(c.pristineDir(key, cc), "layer")
	require.NoFileExists(t, filepath.Join(layer, "a.txt"))
	info, err := os.Lstat(filepath.Join(layer, "dir"))
	require.NoError(t, err)
	require.Equal(t, fs.ModeCharDevice|fs.ModeDevice, info.Mode().Type())
	require.Equal(t, uint64(0), uint64(info.Sys().(*syscall.Stat_t).Rdev))
	require.NoDirExists(t, filepath.Join(layer, "dir", "sub"))

	// Edits in the child's Workdir reach neither pristine checkout.
	require.NoError(t, wc.WriteFile("mod.txt", []byte("edited\n")))
	f, err := os.OpenFile(filepath.Join(wc.Path, "a.txt"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("appended\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Remove(filepath.Join(wc.Path, "keep", "y.txt")))
	require.NoError(t, os.Remove(filepath.Join(wc.Path, "keep", "x.txt")))
	require.NoError(t, os.Chmod(filepath.Join(wc.Path, "run.sh"), 0o644))
	require.NoError(t, wc.WriteFile("dir/new.txt", []byte("n\n")))
	changes, err := wc.Changes(t.Context())
	require.NoError(t, err)
	require.Len(t, changes, 6)
	require.Equal(t, "new\n", readT(t, filepath.Join(layer, "mod.txt")))
	require.Equal(t, "one\n", readT(t, filepath.Join(c.pristineDir(key, p), "tree", "a.txt")))
	requireSameAsArchive(t, r, wp, p)
	requireSameAsArchive(t, r, checkout(t, c, r, cc), cc)
	requireSameAsArchive(t, r, checkout(t, c, r, p), p)

	// A grandchild is one more layer.
	wd := checkout(t, c, r, d)
	require.Equal(t, []string{d, cc, p}, layersOf(t, c, r, d))
	requireSameAsArchive(t, r, wd, d)
	sha, err := wd.Commit(t.Context(), "x", Signature{Name: "n", Email: "e@x"})
	require.ErrorIs(t, err, ErrNothingToCommit, sha)
}

func TestCheckoutChildFallsBackToFull(t *testing.T) {
	t.Parallel()
	needOverlay(t)
	for _, tc := range []struct {
		name    string
		before  func(t *testing.T, src string)
		change  func(t *testing.T, src string)
		layered bool
	}{
		{
			name:    "small change is a layer",
			before:  func(t *testing.T, src string) { writeT(t, filepath.Join(src, "f"), "1\n") },
			change:  func(t *testing.T, src string) { writeT(t, filepath.Join(src, "f"), "2\n") },
			layered: true,
		},
		{
			name:    "empty commit is a layer",
			before:  func(t *testing.T, src string) { writeT(t, filepath.Join(src, "f"), "1\n") },
			change:  func(t *testing.T, src string) {},
			layered: true,
		},
		{
			name:   "file becomes directory",
			before: func(t *testing.T, src string) { writeT(t, filepath.Join(src, "tc"), "file\n") },
			change: func(t *testing.T, src string) {
				require.NoError(t, os.Remove(filepath.Join(src, "tc")))
				writeT(t, filepath.Join(src, "tc", "inner"), "now a dir\n")
			},
		},
		{
			name:   "directory becomes file",
			before: func(t *testing.T, src string) { writeT(t, filepath.Join(src, "td", "x"), "x\n") },
			change: func(t *testing.T, src string) {
				require.NoError(t, os.RemoveAll(filepath.Join(src, "td")))
				writeT(t, filepath.Join(src, "td"), "now a file\n")
			},
		},
		{
			name: "symlink becomes file",
			before: func(t *testing.T, src string) {
				writeT(t, filepath.Join(src, "target"), "t\n")
				symlinkT(t, "target", filepath.Join(src, "l"))
			},
			change: func(t *testing.T, src string) {
				require.NoError(t, os.Remove(filepath.Join(src, "l")))
				writeT(t, filepath.Join(src, "l"), "a file\n")
			},
		},
		{
			name:   "too many files",
			before: func(t *testing.T, src string) { writeT(t, filepath.Join(src, "f"), "1\n") },
			change: func(t *testing.T, src string) {
				for i := range maxLayerPaths + 1 {
					writeT(t, filepath.Join(src, "many", fmt.Sprintf("%d.txt", i)), fmt.Sprintf("%d\n", i))
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newEmptyRemote(t)
			p := r.commit(t, func(src string) {
				writeT(t, filepath.Join(src, "base.txt"), "base\n")
				tc.before(t, src)
			})
			child := r.commit(t, func(src string) { tc.change(t, src) })
			c := newCache(t, false)
			var log syncbuf.Buffer
			c.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			requireSameAsArchive(t, r, checkout(t, c, r, p), p)
			w := checkout(t, c, r, child)
			if tc.layered {
				require.Equal(t, []string{child, p}, layersOf(t, c, r, child))
				require.Contains(t, log.String(), "materialised pristine layer")
			} else {
				require.Equal(t, []string{child}, layersOf(t, c, r, child))
			}
			// Fallbacks are decisions, not failures.
			require.NotContains(t, log.String(), "level=WARN")
			requireSameAsArchive(t, r, w, child)
		})
	}
}

func TestLayerChainIsBounded(t *testing.T) {
	t.Parallel()
	needOverlay(t)
	r := newEmptyRemote(t)
	c := newCache(t, false)
	key := mustKey(t, r.dir)
	sha := r.commit(t, func(src string) { writeT(t, filepath.Join(src, "n"), "0\n") })
	// The chain grows by one layer a commit until it reaches maxChain or
	// the mount option gets too long (this test's long temporary paths),
	// then starts again from a full checkout.
	var parent string
	for i := 1; ; i++ {
		w := checkout(t, c, r, sha)
		chain := layersOf(t, c, r, sha)
		if len(chain) == 1 && i > 1 {
			require.LessOrEqual(t, i, maxChain+1)
			if i <= maxChain {
				chain := append([]string{sha}, layersOf(t, c, r, parent)...)
				require.Greater(t, len(strings.Join(lowerDirs(filepath.Join(c.Dir, "pristine", key), chain), ":")), maxLowerLen)
			}
			requireSameAsArchive(t, r, w, sha)
			break
		}
		require.Len(t, chain, i)
		require.NoError(t, w.Close())
		parent = sha
		sha = r.commit(t, func(src string) { writeT(t, filepath.Join(src, "n"), fmt.Sprintf("%d\n", i)) })
	}
	sha = r.commit(t, func(src string) { writeT(t, filepath.Join(src, "n"), "again\n") })
	w := checkout(t, c, r, sha)
	require.Len(t, layersOf(t, c, r, sha), 2)
	requireSameAsArchive(t, r, w, sha)
}

func TestLayerTreeOwner(t *testing.T) {
	t.Parallel()
	needOverlay(t)
	r := newEmptyRemote(t)
	p, cc, _ := layeredHistory(t, r)
	c := newCache(t, false)
	c.TreeOwner = &Owner{UID: 4242, GID: 4343}
	checkout(t, c, r, p)
	w := checkout(t, c, r, cc)
	require.Len(t, layersOf(t, c, r, cc), 2)
	for _, name := range []string{"mod.txt", "newdir/deep/f.txt", "newdir", "newlink", "a.txt", "keep"} {
		info, err := os.Lstat(filepath.Join(w.Path, name))
		require.NoError(t, err)
		st := info.Sys().(*syscall.Stat_t)
		require.Equal(t, [2]uint32{4242, 4343}, [2]uint32{st.Uid, st.Gid}, name)
	}
	requireSameAsArchive(t, r, w, cc)
}

func TestPruneKeepsLayeredParents(t *testing.T) {
	t.Parallel()
	needOverlay(t)
	r := newEmptyRemote(t)
	p, cc, d := layeredHistory(t, r)
	c := newCache(t, false)
	ctx := t.Context()
	key := mustKey(t, r.dir)
	age := func(sha string, d time.Duration) {
		when := time.Now().Add(-d)
		require.NoError(t, os.Chtimes(filepath.Join(c.pristineDir(key, sha), "ready"), when, when))
	}
	for _, sha := range []string{p, cc} {
		require.NoError(t, checkout(t, c, r, sha).Close())
	}
	require.Len(t, layersOf(t, c, r, cc), 2)

	// An old parent stays while a recent child is layered on it.
	age(p, 2*time.Hour)
	require.NoError(t, c.Prune(ctx, time.Hour))
	require.DirExists(t, c.pristineDir(key, p))
	requireSameAsArchive(t, r, checkout(t, c, r, cc), cc)

	// A live Workdir on the child keeps the parent, even with no age limit.
	require.NoError(t, c.Prune(ctx, -time.Hour))
	require.DirExists(t, c.pristineDir(key, p))
	require.DirExists(t, c.pristineDir(key, cc))

	// A live Workdir on a grandchild keeps the whole chain, whatever the age.
	wd := checkout(t, c, r, d)
	require.Len(t, layersOf(t, c, r, d), 3)
	for _, w := range []string{p, cc, d} {
		age(w, 2*time.Hour)
	}
	closeAllBut(t, c, wd)
	require.NoError(t, c.Prune(ctx, -time.Hour))
	for _, sha := range []string{p, cc, d} {
		require.DirExists(t, c.pristineDir(key, sha))
	}
	requireSameAsArchive(t, r, wd, d)
	require.NoError(t, wd.Close())
	require.NoError(t, c.Prune(ctx, -time.Hour))
	for _, sha := range []string{p, cc, d} {
		require.NoDirExists(t, c.pristineDir(key, sha))
	}

	// A layer whose parent disappeared anyway is rebuilt in full.
	checkout(t, c, r, p).Close()
	checkout(t, c, r, cc).Close()
	require.Len(t, layersOf(t, c, r, cc), 2)
	require.NoError(t, os.RemoveAll(c.pristineDir(key, p)))
	w := checkout(t, c, r, cc)
	require.Len(t, layersOf(t, c, r, cc), 1)
	requireSameAsArchive(t, r, w, cc)
}

// closeAllBut closes every Workdir of c except keep, as their cycles would.
func closeAllBut(t *testing.T, c *Cache, keep *Workdir) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(c.Dir, "work"))
	require.NoError(t, err)
	for _, e := range entries {
		root := filepath.Join(c.Dir, "work", e.Name())
		if root == keep.root {
			continue
		}
		require.NoError(t, removeWorkRoot(root))
	}
}
