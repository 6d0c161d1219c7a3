package sandbox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/syncbuf"
	"github.com/specloop/specloop/internal/unpriv"
	"github.com/specloop/specloop/internal/vm"
	"github.com/specloop/specloop/sandbox"
)

// TestBwrapMemoryCgroup: where the host delegates a cgroup v2 with the
// memory controller, each run's memory is bounded by a cgroup of its own,
// not by an address-space limit. This host's memory controller is cgroup
// v1, so the test runs itself in a machine whose hierarchy is pure cgroup
// v2, the way systemd's Delegate=yes hands a service its cgroup.
func TestBwrapMemoryCgroup(t *testing.T) {
	d := bwrapDriver(t)
	if ok, how := sandbox.MemoryBound(d); !ok {
		// The copy run as nobody is given a delegated cgroup: it must take it.
		require.Empty(t, os.Getenv(unpriv.Env), "as nobody in a delegated cgroup: %s", how)
		vm.RunTest(t, "^TestBwrapMemoryCgroup$", 10*time.Minute)
		return
	}
	tree := cgroupTree(t)

	t.Run("OverTheLimitIsKilled", func(t *testing.T) {
		// tail buffers the last 500 MB it is given: far above the limit.
		res := run(t, d, sandbox.Spec{
			Dir:    workDir(t),
			Shell:  "head -c 600000000 /dev/zero | tail -c 500000000 | wc -c",
			Limits: sandbox.Limits{Memory: 64 << 20, AddressSpace: sandbox.AgentMemory},
		})
		require.True(t, res.OOMKilled, "%s", res.Output)
		require.Equal(t, 137, res.ExitCode)
		require.Contains(t, string(res.Output), "killed: out of memory at 64 MiB")
		require.NotContains(t, string(res.Output), "500000000")
	})
	t.Run("NoAddressSpaceLimit", func(t *testing.T) {
		// 500 MB in tail fits under 1 GiB of memory.max; an address-space
		// limit of 64 MiB, were it applied, would stop it.
		res := run(t, d, sandbox.Spec{
			Dir:    workDir(t),
			Shell:  "ulimit -v; head -c 600000000 /dev/zero | tail -c 500000000 | wc -c",
			Limits: sandbox.Limits{Memory: 1 << 30, AddressSpace: 64 << 20},
		})
		require.False(t, res.OOMKilled)
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		require.Equal(t, "unlimited\n500000000\n", string(res.Output))
	})
	t.Run("NodeUnderTheLimit", func(t *testing.T) {
		node, err := exec.LookPath("node")
		require.NoError(t, err, "node is needed to test the memory bound with a real JavaScript engine")
		// A WebAssembly memory reserves 10 GiB of address space, as Codex's
		// V8 tool host does; it uses a page of it.
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Argv: []string{node, "-e", `new WebAssembly.Memory({initial: 1}); console.log("wasm ok")`},
			Limits: sandbox.Limits{Memory: 512 << 20, AddressSpace: 8 << 30, Processes: 512}})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		require.Equal(t, "wasm ok\n", string(res.Output))
	})
	t.Run("OneCgroupPerRunWithItsLimits", func(t *testing.T) {
		started := make(chan struct{})
		w := &signalWriter{on: "started", ch: started}
		type limits struct{ memMax, swapMax, oomGroup, pidsMax, procs string }
		seen := make(chan limits, 1)
		go func() {
			<-started
			runs, _ := filepath.Glob(filepath.Join(tree, "specloop-run-*"))
			if len(runs) != 1 {
				seen <- limits{procs: "runs: " + strings.Join(runs, " ")}
				return
			}
			read := func(f string) string {
				b, _ := os.ReadFile(filepath.Join(runs[0], f))
				return strings.TrimSpace(string(b))
			}
			seen <- limits{read("memory.max"), read("memory.swap.max"), read("memory.oom.group"), read("pids.max"), read("cgroup.procs")}
		}()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "echo started; sleep 3", Stdout: w,
			Limits: sandbox.Limits{Memory: 256 << 20, Processes: 64}})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		got := <-seen
		require.NotEmpty(t, got.procs, "the sandbox runs in the run's cgroup")
		require.Equal(t, limits{"268435456", "0", "1", "64", got.procs}, got)
		runs, _ := filepath.Glob(filepath.Join(tree, "specloop-run-*"))
		require.Empty(t, runs, "the run's cgroup is removed when it ends")
	})
	t.Run("NoCgroupWithoutAMemoryLimit", func(t *testing.T) {
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "ulimit -v", Limits: sandbox.Limits{AddressSpace: 1 << 30}})
		require.Equal(t, "1048576\n", string(res.Output), "with no Memory the address-space limit applies")
	})
	t.Run("LeftoversSwept", func(t *testing.T) {
		// A dead worker's run cgroup goes when a driver starts; a live
		// worker's, still empty before its clone, stays.
		dead := filepath.Join(tree, "specloop-run-999999999-0badc0ffee00")
		live := filepath.Join(tree, "specloop-run-"+strconv.Itoa(os.Getpid())+"-0badc0ffee01")
		require.NoError(t, os.Mkdir(dead, 0o755))
		require.NoError(t, os.Mkdir(live, 0o755))
		t.Cleanup(func() { os.Remove(live); os.Remove(dead) })
		_, err := sandbox.New("bwrap", nil)
		require.NoError(t, err)
		require.NoDirExists(t, dead)
		require.DirExists(t, live)
		require.Equal(t, tree, cgroupTree(t), "a second driver takes the same tree, not a leaf of the leaf")
	})
	t.Run("Off", func(t *testing.T) {
		t.Setenv("SANDBOX_CGROUP", "off")
		d, err := sandbox.New("bwrap", nil)
		require.NoError(t, err)
		ok, how := sandbox.MemoryBound(d)
		require.False(t, ok)
		require.Contains(t, how, "SANDBOX_CGROUP=off")
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "ulimit -v", Limits: sandbox.Limits{Memory: 64 << 20, AddressSpace: 1 << 30}})
		require.Equal(t, "1048576\n", string(res.Output))
	})
	t.Run("NotACgroup", func(t *testing.T) {
		t.Setenv("SANDBOX_CGROUP", t.TempDir())
		_, err := sandbox.New("bwrap", nil)
		require.ErrorContains(t, err, "is not in a cgroup v2 hierarchy")
		t.Setenv("SANDBOX_CGROUP", "relative/path")
		_, err = sandbox.New("bwrap", nil)
		require.ErrorContains(t, err, "want the absolute path of a cgroup v2 directory")
	})
	if unpriv.Wanted() {
		// As an unprivileged worker whose service cgroup is delegated to it.
		t.Run("Unprivileged", func(t *testing.T) {
			unpriv.Run(t, "TestBwrapMemoryCgroup", unpriv.InCgroup(filepath.Dir(tree)))
		})
	}
}

// cgroupTree is the directory the driver makes run cgroups in: the parent
// of the leaf this worker moved itself into.
func cgroupTree(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	own := strings.TrimSpace(strings.TrimPrefix(string(raw), "0::"))
	require.Equal(t, "specloop-worker", filepath.Base(own), "the worker left its delegated cgroup for a leaf")
	return filepath.Join("/sys/fs/cgroup", filepath.Dir(own))
}

// signalWriter closes ch the first time on has been written.
type signalWriter struct {
	syncbuf.Buffer
	on   string
	ch   chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if strings.Contains(w.String(), w.on) {
		w.once.Do(func() { close(w.ch) })
	}
	return n, err
}
