package workspace

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Environment of the child worker (see TestMain and startWorker).
const (
	childDir       = "SPECLOOP_WORKSPACE_CHILD_DIR"
	childRemote    = "SPECLOOP_WORKSPACE_CHILD_REMOTE"
	childSHA       = "SPECLOOP_WORKSPACE_CHILD_SHA"
	childNoOverlay = "SPECLOOP_WORKSPACE_CHILD_NO_OVERLAY"
)

// TestMain makes the test binary double as a worker process: with
// childDir set it checks out a commit, prints the Workdir's path and holds
// it until killed or until its stdin closes.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childDir); dir != "" {
		os.Exit(childWorker(dir))
	}
	os.Exit(m.Run())
}

func childWorker(dir string) int {
	ctx := context.Background()
	noOverlay, _ := strconv.ParseBool(os.Getenv(childNoOverlay))
	c := &Cache{Dir: dir, NoOverlay: noOverlay}
	remote := os.Getenv(childRemote)
	if _, err := c.Fetch(ctx, remote, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w, err := c.Checkout(ctx, remote, os.Getenv(childSHA))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(w.root)
	io.Copy(io.Discard, os.Stdin)
	w.Close()
	return 0
}

// worker is a child worker process holding one Workdir.
type worker struct {
	cmd   *exec.Cmd
	stdin io.Closer
	root  string // its Workdir's root
}

// startWorker starts a worker process holding a checkout of sha in dir,
// and returns once the Workdir is made.
func startWorker(t *testing.T, dir string, r *remote, sha string, noOverlay bool) *worker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDir+"="+dir, childRemote+"="+r.dir, childSHA+"="+sha,
		childNoOverlay+"="+strconv.FormatBool(noOverlay))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	w := &worker{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { w.kill(t) })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the worker printed no Workdir")
	w.root = line[:len(line)-1]
	return w
}

// kill SIGKILLs the worker, as a crash or the OOM killer would, and reaps it.
func (w *worker) kill(t *testing.T) {
	if w.cmd.ProcessState != nil {
		return
	}
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
	w.cmd.Wait()
	w.stdin.Close()
}

// TestSweepAfterCrash: a worker SIGKILLed holding a Workdir leaves its
// directory (and overlay mount); a new Cache on the same Dir sweeps both
// at start, and leaves another live process's Workdir alone.
func TestSweepAfterCrash(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRemote(t)
			dir := t.TempDir()
			crashed := startWorker(t, dir, r, r.old, noOverlay)
			live := startWorker(t, dir, r, r.new, noOverlay)
			crashed.kill(t)

			tree := filepath.Join(crashed.root, "tree")
			require.DirExists(t, crashed.root)
			mounted, err := isMountPoint(tree)
			require.NoError(t, err)
			require.Equal(t, !noOverlay, mounted, "the dead worker's mount outlives it")

			c := newCache(t, noOverlay)
			c.Dir = dir
			s, err := c.Sweep(t.Context())
			require.NoError(t, err)
			want := Swept{Workdirs: 1}
			if !noOverlay {
				want.Mounts = 1
			}
			require.Equal(t, want, s)
			mounted, err = isMountPoint(tree)
			require.NoError(t, err)
			require.False(t, mounted)
			require.NoDirExists(t, crashed.root)

			require.DirExists(t, live.root)
			require.Equal(t, "bee\n", readT(t, filepath.Join(live.root, "tree", "b.txt")))
			mounted, err = isMountPoint(filepath.Join(live.root, "tree"))
			require.NoError(t, err)
			require.Equal(t, !noOverlay, mounted)

			// Sweeping again finds nothing more; the live Workdir still stays.
			s, err = c.Sweep(t.Context())
			require.NoError(t, err)
			require.Equal(t, Swept{}, s)
			require.DirExists(t, live.root)

			// Once the live worker dies too, its Workdir goes.
			live.kill(t)
			s, err = c.Sweep(t.Context())
			require.NoError(t, err)
			require.Equal(t, 1, s.Workdirs)
			require.NoDirExists(t, live.root)
		})
	}
}

// TestSweepTemp: half-built mirrors and pristine checkouts whose builder
// died go, a pristine checkout left without its ready file goes, and a
// young root-in-the-making stays (its maker may be about to lock it).
func TestSweepTemp(t *testing.T) {
	t.Parallel()
	r := newRemote(t)
	c := newCache(t, true)
	checkout(t, c, r, r.new).Close()
	key := mustKey(t, r.dir)
	sha := r.old
	mirrorTmp := c.mirrorPath(key) + ".tmp"
	pristineTmp := c.pristineDir(key, sha) + ".tmp"
	broken := c.pristineDir(key, r.new)
	making := filepath.Join(c.Dir, "work", newPrefix+"123")
	staleProbe := filepath.Join(c.Dir, "work", "probe-456")
	for _, d := range []string{mirrorTmp, filepath.Join(pristineTmp, "tree"), filepath.Join(broken, "tree"), making, staleProbe} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	// Their builders made their locks first; the builders are gone.
	for _, l := range []string{c.pristineDir(key, sha) + ".lock", broken + ".lock"} {
		require.NoError(t, os.WriteFile(l, nil, 0o644))
	}
	// A repository named like a sha is not a pristine checkout.
	shaNamed := filepath.Join(c.Dir, "pristine", "example.com", "owner", r.new, "tree")
	require.NoError(t, os.MkdirAll(shaNamed, 0o755))
	old := time.Now().Add(-2 * debrisGrace)
	require.NoError(t, os.Chtimes(staleProbe, old, old))

	s, err := c.Sweep(t.Context())
	require.NoError(t, err)
	require.Equal(t, Swept{Temp: 3, Pristine: 1}, s)
	for _, d := range []string{mirrorTmp, pristineTmp, broken, staleProbe} {
		require.NoDirExists(t, d)
	}
	require.DirExists(t, making)
	require.DirExists(t, shaNamed)
	require.DirExists(t, c.mirrorPath(key), "the mirror itself stays")
}

// TestEvictLeastRecentlyUsed: past MaxBytes, Prune evicts mirrors and
// pristine checkouts oldest use first, only as many as needed, and never
// what a live Workdir holds.
func TestEvictLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	for name, noOverlay := range modes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			type entry struct {
				path, touch string
				size        int64
			}
			// setup makes two repos, each with a mirror and (with
			// overlay) a pristine checkout, used in this order: repo a's
			// before repo b's, each mirror before its pristine checkout.
			setup := func(t *testing.T, max func(total int64, es []entry) int64, hold bool) (*Cache, []entry) {
				c := newCache(t, noOverlay)
				var es []entry
				for i, r := range []*remote{newRemote(t), newRemote(t)} {
					// A held Workdir stays open until the test's cleanup.
					w := checkout(t, c, r, r.old)
					if !hold || i == 0 {
						require.NoError(t, w.Close())
					}
					key := mustKey(t, r.dir)
					es = append(es, entry{path: c.mirrorPath(key), touch: c.mirrorPath(key)})
					if !noOverlay {
						p := c.pristineDir(key, r.old)
						es = append(es, entry{path: p, touch: filepath.Join(p, "ready")})
					}
				}
				var total int64
				for i := range es {
					at := time.Now().Add(-time.Duration(len(es)-i) * time.Hour)
					require.NoError(t, os.Chtimes(es[i].touch, at, at))
					size, err := diskUse(es[i].path)
					require.NoError(t, err)
					es[i].size = size
					total += size
				}
				c.MaxBytes = max(total, es)
				return c, es
			}
			total := func(es []entry) (n int64) {
				for _, e := range es {
					n += e.size
				}
				return n
			}
			tests := []struct {
				name string
				max  func(total int64, es []entry) int64
				hold bool // a live Workdir holds repo b
				kept func(n int) []bool
			}{
				{"unbounded", func(int64, []entry) int64 { return 0 }, false, func(n int) []bool { return all(n, true) }},
				{"fits", func(t int64, _ []entry) int64 { return t }, false, func(n int) []bool { return all(n, true) }},
				{"one over", func(t int64, _ []entry) int64 { return t - 1 }, false, func(n int) []bool {
					k := all(n, true)
					k[0] = false
					return k
				}},
				{"all but the newest", func(_ int64, es []entry) int64 { return es[len(es)-1].size }, false, func(n int) []bool {
					k := all(n, false)
					k[n-1] = true
					return k
				}},
				{"in use stays", func(int64, []entry) int64 { return 1 }, true, func(n int) []bool {
					k := all(n, false)
					for i := n / 2; i < n; i++ {
						k[i] = true
					}
					return k
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					c, es := setup(t, tt.max, tt.hold)
					require.Positive(t, total(es))
					require.NoError(t, c.Prune(t.Context(), 1000*time.Hour))
					kept := tt.kept(len(es))
					for i, e := range es {
						if kept[i] {
							require.DirExists(t, e.path, "entry %d", i)
						} else {
							require.NoDirExists(t, e.path, "entry %d", i)
						}
					}
				})
			}
		})
	}
}

func all(n int, v bool) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = v
	}
	return b
}
