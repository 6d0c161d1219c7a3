package sandbox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/unpriv"
	"github.com/specloop/specloop/sandbox"
)

// TestBwrapAgentNeeds checks what a coding agent needs of the sandbox: a
// writable home of its own, extra binds (read-write and read-only), tool
// paths, and a memory bound that lets a JavaScript engine start. Run as
// root, it runs itself again as an unprivileged user, so both ways bwrap
// is started are covered.
func TestBwrapAgentNeeds(t *testing.T) {
	d := bwrapDriver(t)
	t.Run("Home", func(t *testing.T) {
		home := workDir(t)
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Home: home, Shell: `echo "$HOME"; mkdir -p "$HOME/.codex" && echo conf > "$HOME/.codex/config.toml"`})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		require.Equal(t, sandbox.HomeDir+"\n", string(res.Output))
		got, err := os.ReadFile(filepath.Join(home, ".codex", "config.toml"))
		require.NoError(t, err, "the home outlives the run, for the cycle's next agent run")
		require.Equal(t, "conf\n", string(got))
		requireOwnedByWorker(t, home)
	})
	t.Run("Binds", func(t *testing.T) {
		rw, ro := workDir(t), workDir(t)
		require.NoError(t, os.WriteFile(filepath.Join(ro, "objects"), []byte("borrowed\n"), 0o644))
		res := run(t, d, sandbox.Spec{Dir: workDir(t),
			Binds: []sandbox.Bind{{Src: rw, Dst: "/srv/gitdir", Writable: true}, {Src: ro}},
			Shell: "echo HEAD > /srv/gitdir/HEAD && cat " + ro + "/objects && (echo x > " + ro + "/objects) 2>/dev/null || echo read-only"})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		require.Equal(t, "borrowed\nread-only\n", string(res.Output))
		got, err := os.ReadFile(filepath.Join(rw, "HEAD"))
		require.NoError(t, err)
		require.Equal(t, "HEAD\n", string(got))
		requireOwnedByWorker(t, rw)
	})
	t.Run("ToolPaths", func(t *testing.T) {
		// An agent CLI installed outside the system directories, as npm
		// --prefix does.
		tools := workDir(t)
		bin := filepath.Join(tools, "node_modules", ".bin")
		require.NoError(t, os.MkdirAll(bin, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(bin, "fake-agent"), []byte("#!/bin/sh\necho agent ran\n"), 0o755))
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "fake-agent", Env: map[string]string{"PATH": bin + ":/usr/bin:/bin"}})
		require.NotEqual(t, 0, res.ExitCode, "without the tool path the CLI is not there: %s", res.Output)
		res = run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "fake-agent", ExtraRO: []string{tools}, Env: map[string]string{"PATH": bin + ":/usr/bin:/bin"}})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		require.Equal(t, "agent ran\n", string(res.Output))
	})
	t.Run("NodeUnderAgentMemory", func(t *testing.T) {
		node, err := exec.LookPath("node")
		require.NoError(t, err, "node is needed to test the memory bound with a real JavaScript engine")
		// A WebAssembly memory reserves 10 GiB of address space, as Codex's
		// V8 tool host does: under the old 8 GiB bound this fails.
		script := `new WebAssembly.Memory({initial: 1}); console.log("wasm ok")`
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Argv: []string{node, "-e", script}, Limits: sandbox.Limits{AddressSpace: 8 << 30}})
		require.NotEqual(t, 0, res.ExitCode, "%s", res.Output)
		res = run(t, d, sandbox.Spec{Dir: workDir(t), Argv: []string{node, "-e", script}, Limits: sandbox.Limits{AddressSpace: sandbox.AgentMemory, Processes: 512}})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		require.Equal(t, "wasm ok\n", string(res.Output))
	})
	if unpriv.Wanted() {
		t.Run("Unprivileged", func(t *testing.T) { unpriv.Run(t, "TestBwrapAgentNeeds") })
	}
}

// requireOwnedByWorker fails unless everything under dir is owned by this
// process's user again after a run.
func requireOwnedByWorker(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		require.Equal(t, uint32(os.Geteuid()), fi.Sys().(*syscall.Stat_t).Uid, "%s", p)
		return nil
	}))
}

// BenchmarkBwrapAgentStart is the start of an agent's sandbox as a cycle
// makes it: the tool paths (the CLIs' npm prefix, SPECLOOP_AGENT_CLIS or
// /var/cache/specloop/npm), a private git directory and its objects, a
// home, the limits; running true(1). Target: under 50 ms.
func BenchmarkBwrapAgentStart(b *testing.B) {
	d, err := sandbox.New("bwrap", nil)
	require.NoError(b, err)
	tools := os.Getenv("SPECLOOP_AGENT_CLIS")
	if tools == "" {
		tools = "/var/cache/specloop/npm"
	}
	_, err = os.Stat(tools)
	require.NoError(b, err, "the agent CLIs' prefix (.ci/run installs it)")
	mk := func() string {
		dir := b.TempDir()
		require.NoError(b, os.Chmod(filepath.Dir(dir), 0o711))
		return dir
	}
	dir, home, gitdir, objects := mk(), mk(), mk(), mk()
	s := sandbox.Spec{Dir: dir, Home: home, Argv: []string{"true"}, ExtraRO: []string{tools},
		Binds:  []sandbox.Bind{{Src: gitdir, Dst: "/srv/git", Writable: true}, {Src: objects}},
		Limits: sandbox.Limits{CPU: 3600e9, Memory: 4 << 30, AddressSpace: sandbox.AgentMemory, Processes: 512}}
	for b.Loop() {
		res, err := d.Run(b.Context(), s)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("true: %v, exit %d: %s", err, res.ExitCode, res.Output)
		}
	}
}
