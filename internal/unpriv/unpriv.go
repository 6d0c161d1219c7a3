// Package unpriv runs a test of the calling test binary again as the user
// nobody, for sandbox tests that must hold both ways bwrap is started: as
// root and as an unprivileged user. Tests only.
package unpriv

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Env marks the copy of a test binary that runs as the unprivileged user.
const Env = "SPECLOOP_TEST_UNPRIVILEGED"

// Wanted says whether a test should also run itself as nobody: it runs as
// root and is not that copy already.
func Wanted() bool { return os.Geteuid() == 0 && os.Getenv(Env) == "" }

// Option changes how Run starts the copy.
type Option func(t *testing.T, cmd *exec.Cmd)

// InCgroup starts the copy in a new cgroup v2 under parent that is
// delegated to nobody, as systemd's Delegate=yes delegates a service's
// cgroup to its User=: the memory and pids controllers parent gives are
// nobody's to hand out.
func InCgroup(parent string) Option {
	return func(t *testing.T, cmd *exec.Cmd) {
		dir := filepath.Join(parent, "nobody.service")
		require.NoError(t, os.Mkdir(dir, 0o755))
		t.Cleanup(func() { removeCgroup(dir) })
		for _, p := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
			require.NoError(t, os.Chown(filepath.Join(dir, p), 65534, 65534))
		}
		f, err := os.Open(dir)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(f.Fd())
	}
}

// removeCgroup removes dir and the cgroups below it, deepest first.
func removeCgroup(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroup(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir)
}

// Run runs test from a copy of this test binary, in a directory the user
// nobody can reach, as nobody, and fails unless it passes without
// skipping.
func Run(t *testing.T, test string, opts ...Option) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o711))
	require.NoError(t, os.Chmod(dir, 0o755))
	exe, err := os.Executable()
	require.NoError(t, err)
	cp := filepath.Join(dir, filepath.Base(exe))
	src, err := os.Open(exe)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(cp, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	cmd := exec.Command(cp, "-test.run", "^"+test+"$", "-test.v")
	cmd.Dir = "/"
	cmd.Env = []string{Env + "=1", "PATH=" + os.Getenv("PATH"), "TMPDIR=/tmp", "HOME=/tmp"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	for _, o := range opts {
		o(t, cmd)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "as nobody:\n%s", out)
	require.Contains(t, string(out), "--- PASS: "+test)
	require.False(t, strings.Contains(string(out), "--- SKIP"), "%s", out)
}
