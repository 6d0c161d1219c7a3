package sandbox_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/sandbox"
)

// runSuite checks the contract every Driver meets. The caller must not be
// parallel: the environment test uses t.Setenv.
func runSuite(t *testing.T, d sandbox.Driver) {
	t.Run("OnlyGivenEnv", func(t *testing.T) {
		t.Setenv("SPECLOOP_CANARY", "leaked")
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Argv: []string{"env"}, Env: map[string]string{"GIVEN": "yes"}})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		require.Contains(t, string(res.Output), "GIVEN=yes")
		require.Contains(t, string(res.Output), "HOME=/tmp")
		require.NotContains(t, string(res.Output), "SPECLOOP_CANARY")
		require.NotContains(t, string(res.Output), "leaked")
	})

	t.Run("ExitCode", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "exit 7"})
		require.Equal(t, 7, res.ExitCode)
		require.False(t, res.TimedOut)
		require.False(t, res.Cancelled)
	})

	t.Run("Argv", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Argv: []string{"printf", "%s|", "a b", "$HOME"}})
		require.Equal(t, "a b|$HOME|", string(res.Output))
	})

	t.Run("Stdin", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Argv: []string{"cat"}, Stdin: strings.NewReader("the prompt\n")})
		require.Equal(t, "the prompt\n", string(res.Output))
	})

	t.Run("CombinedOutput", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "echo out; echo err >&2; echo out2"})
		require.Equal(t, "out\nerr\nout2\n", string(res.Output))
	})

	t.Run("CwdIsDir", func(t *testing.T) {
		t.Parallel()
		dir := workDir(t)
		res := run(t, d, sandbox.Spec{Dir: dir, Argv: []string{"pwd"}})
		require.Equal(t, dir+"\n", string(res.Output))
	})

	t.Run("WritesToDirPersist", func(t *testing.T) {
		t.Parallel()
		dir := workDir(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "in.txt"), []byte("before\n"), 0o644))
		res := run(t, d, sandbox.Spec{Dir: dir, Shell: "mkdir -p sub && cat in.txt > sub/out.txt && echo after >> in.txt"})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)

		got, err := os.ReadFile(filepath.Join(dir, "sub", "out.txt"))
		require.NoError(t, err)
		require.Equal(t, "before\n", string(got))
		got, err = os.ReadFile(filepath.Join(dir, "in.txt"))
		require.NoError(t, err)
		require.Equal(t, "before\nafter\n", string(got))

		// The working copy comes back owned by its owner, new files too,
		// so that the worker's git does not find it "dubious".
		for _, p := range []string{dir, filepath.Join(dir, "in.txt"), filepath.Join(dir, "sub", "out.txt")} {
			fi, err := os.Lstat(p)
			require.NoError(t, err)
			require.Equal(t, uint32(os.Getuid()), fi.Sys().(*syscall.Stat_t).Uid, p)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		marker := sleepMarker()
		res := run(t, d, sandbox.Spec{
			Dir:     workDir(t),
			Shell:   "sleep " + marker + " & sleep 30",
			Timeout: 300 * time.Millisecond,
			Grace:   time.Second,
		})
		require.True(t, res.TimedOut)
		require.False(t, res.Cancelled)
		require.NotEqual(t, 0, res.ExitCode)
		require.Less(t, res.Duration, 15*time.Second)
		requireNoProcess(t, marker)
	})

	t.Run("TermEndsCommand", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{
			Dir:   workDir(t),
			Shell: "trap 'echo bye; exit 3' TERM; echo ready; sleep 30 & wait",
			// Long enough for the trap to be set on a loaded machine.
			Timeout: 2 * time.Second,
			Grace:   20 * time.Second,
		})
		require.True(t, res.TimedOut)
		require.Equal(t, 3, res.ExitCode, "%s", res.Output)
		require.Equal(t, "ready\nbye\n", string(res.Output))
		require.Less(t, res.Duration, 15*time.Second, "SIGTERM was not delivered; the grace period ran out")
	})

	t.Run("KillAfterGrace", func(t *testing.T) {
		t.Parallel()
		marker := sleepMarker()
		res := run(t, d, sandbox.Spec{
			Dir:   workDir(t),
			Shell: "trap 'echo ignoring TERM' TERM; sleep " + marker + " & while :; do sleep 0.05; done",
			// Long enough for the trap to be set on a loaded machine.
			Timeout: 2 * time.Second,
			Grace:   700 * time.Millisecond,
		})
		require.True(t, res.TimedOut)
		require.Contains(t, string(res.Output), "ignoring TERM")
		require.Equal(t, 128+int(syscall.SIGKILL), res.ExitCode)
		require.GreaterOrEqual(t, res.Duration, 2700*time.Millisecond, "killed only after the grace period")
		require.Less(t, res.Duration, 15*time.Second)
		requireNoProcess(t, marker)
	})

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		marker := sleepMarker()
		res, err := d.Run(ctx, sandbox.Spec{
			Dir:     workDir(t),
			Shell:   "sleep " + marker + " & sleep 30",
			Timeout: time.Minute,
			Grace:   time.Second,
		})
		require.NoError(t, err)
		require.True(t, res.Cancelled)
		require.False(t, res.TimedOut)
		require.Less(t, res.Duration, 5*time.Second)
		requireNoProcess(t, marker)
	})

	t.Run("OutputCap", func(t *testing.T) {
		t.Parallel()
		var live bytes.Buffer
		res := run(t, d, sandbox.Spec{
			Dir:    workDir(t),
			Shell:  "head -c 100000 /dev/zero | tr '\\0' a; echo; echo done",
			Stdout: &live,
			Limits: sandbox.Limits{Output: 1000},
		})
		// The command is not stopped by the cap: it runs to its end.
		require.Equal(t, 0, res.ExitCode)
		require.True(t, res.Truncated)
		// The head shows how it started, the tail how it ended: an agent's
		// usage and final message come last.
		require.Equal(t, strings.Repeat("a", 500)+"\n[… 99006 bytes of output elided: the first and last 500 bytes are kept …]\n"+
			strings.Repeat("a", 494)+"\ndone\n", string(res.Output))
		require.Equal(t, 100000+len("\ndone\n"), live.Len(), "the live stream is not capped")
	})

	t.Run("NotTruncated", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "printf 12345", Limits: sandbox.Limits{Output: 5}})
		require.False(t, res.Truncated)
		require.Equal(t, "12345", string(res.Output))
	})

	t.Run("NoProcessLeftBehind", func(t *testing.T) {
		t.Parallel()
		marker := sleepMarker()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "sleep " + marker + " & echo started"})
		require.Equal(t, 0, res.ExitCode)
		require.Equal(t, "started\n", string(res.Output))
		requireNoProcess(t, marker)
	})

	t.Run("BadSpec", func(t *testing.T) {
		t.Parallel()
		dir := workDir(t)
		for name, s := range map[string]sandbox.Spec{
			"no command":  {Dir: dir},
			"both":        {Dir: dir, Shell: "true", Argv: []string{"true"}},
			"no dir":      {Shell: "true"},
			"missing dir": {Dir: filepath.Join(dir, "missing"), Shell: "true"},
			"bad env":     {Dir: dir, Shell: "true", Env: map[string]string{"A=B": "c"}},
		} {
			_, err := d.Run(context.Background(), s)
			require.Error(t, err, name)
		}
	})
}

// run runs s under d and fails the test if it could not be run.
func run(t *testing.T, d sandbox.Driver, s sandbox.Spec) sandbox.Result {
	t.Helper()
	if s.Timeout == 0 {
		s.Timeout = time.Minute // a broken driver fails the test, not CI
	}
	res, err := d.Run(context.Background(), s)
	require.NoError(t, err, "%s", res.Output)
	return res
}

// workDir returns a fresh working copy. Its parent is made searchable, as a
// worker's working copies must be when bwrap runs as SandboxUID.
func workDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o711))
	return dir
}

// sleepMarker returns a sleep(1) duration unique to one test, so that the
// test can look for its own process in /proc.
func sleepMarker() string {
	return fmt.Sprintf("1000.%09d", rand.IntN(1e9))
}

// requireNoProcess fails if any process on the host runs "sleep marker".
func requireNoProcess(t *testing.T, marker string) {
	t.Helper()
	want := []byte("sleep\x00" + marker + "\x00")
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, want) {
			t.Fatalf("process %s (sleep %s) outlived Run", e.Name(), marker)
		}
	}
}
