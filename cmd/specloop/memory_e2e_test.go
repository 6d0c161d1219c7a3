package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/vm"
)

// TestCycleOutOfMemory: on a host that delegates a cgroup v2 to the worker,
// a cycle whose agent needs more memory than SANDBOX_MEMORY fails
// implement with "killed: out of memory at …" and what to raise, and
// pushes nothing. This host's memory controller is cgroup v1, so the test
// runs in a machine whose hierarchy is pure cgroup v2, with the CLI built
// here.
func TestCycleOutOfMemory(t *testing.T) {
	if !vm.Inside() {
		bin := buildCLI(t)
		vm.RunTestWith(t, "^TestCycleOutOfMemory$", 10*time.Minute,
			[]string{"SPECLOOP_TEST_CLI=/tmp/vm/specloop"}, map[string]string{"/tmp/vm/specloop": bin})
		return
	}
	bin := os.Getenv("SPECLOOP_TEST_CLI")
	// tail holds the last 500 MB it reads: far more than 64 MiB.
	config := "agent: {command: \"head -c 600000000 /dev/zero | tail -c 500000000 | wc -c\"}\nverify: {command: \"true\"}\n"
	repo := gitRepo(t, map[string]string{"specs/a.md": "# A\n\n- [ ] [a-1] Do it\n", ".github/specloop.yml": config})
	// The worker alone in a cgroup of its own, as systemd starts a unit
	// with Delegate=yes.
	unit := "/sys/fs/cgroup/specloop.service"
	require.NoError(t, os.Mkdir(unit, 0o755))
	f, err := os.Open(unit)
	require.NoError(t, err)
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "cycle", "--repo", repo)
	cmd.Env = append(cleanEnv("SANDBOX", "DATABASE_URL"), "SANDBOX_MEMORY=64MiB")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	require.Equal(t, 1, ee.ExitCode(), "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	out := stdout.String()
	require.Contains(t, out, "implement: failure")
	require.Contains(t, out, "killed: out of memory at 64 MiB")
	require.Contains(t, out, "raise SANDBOX_MEMORY on the worker")
	require.NotContains(t, out, "500000000")
	require.Empty(t, git(t, repo, "branch", "--list", "specloop/*"), "nothing published")
}
