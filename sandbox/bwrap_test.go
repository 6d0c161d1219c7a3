package sandbox_test

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/vm"
	"github.com/specloop/specloop/sandbox"
)

// bwrapDriver returns the bwrap driver. A host without a working bubblewrap
// fails the test rather than skip it: CI installs it, and a silently skipped
// sandbox test is a sandbox nobody tested.
func bwrapDriver(t testing.TB) sandbox.Driver {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Fatalf("bwrap is not installed: install bubblewrap (apt-get install bubblewrap) to run the sandbox tests: %v", err)
	}
	if err := sandbox.Check(context.Background()); err != nil {
		t.Fatalf("bwrap does not work on this host: %v", err)
	}
	d, err := sandbox.New("bwrap", nil)
	require.NoError(t, err)
	if vm.Inside() {
		// The machine delegates a cgroup v2: the driver must take it.
		ok, how := sandbox.MemoryBound(d)
		require.True(t, ok, "in the cgroup v2 machine: %s", how)
	}
	return d
}

func TestBwrap(t *testing.T) {
	// Not parallel: runSuite uses t.Setenv.
	d := bwrapDriver(t)
	require.Equal(t, "bwrap", d.Name())
	runSuite(t, d)
}

func TestNewDefaultsToBwrap(t *testing.T) {
	t.Parallel()
	bwrapDriver(t)
	d, err := sandbox.New("", nil)
	require.NoError(t, err)
	require.Equal(t, "bwrap", d.Name())
}

// TestBwrapWorkerEnvInvisible checks that the worker's environment is not in
// the command's env nor anywhere in the sandbox's /proc: bwrap's own init
// runs inside, and its /proc/1/environ is readable there.
func TestBwrapWorkerEnvInvisible(t *testing.T) {
	// Not parallel: t.Setenv.
	d := bwrapDriver(t)
	t.Setenv("SPECLOOP_WORKER_SECRET", "s3cret-db-url")
	res := run(t, d, sandbox.Spec{
		Dir:   workDir(t),
		Shell: "env; for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\\0' '\\n' < $f; done",
	})
	require.Equal(t, 0, res.ExitCode, "%s", res.Output)
	require.Contains(t, string(res.Output), "PATH=")
	require.NotContains(t, string(res.Output), "s3cret-db-url")
	require.NotContains(t, string(res.Output), "SPECLOOP_WORKER_SECRET")
}

func TestBwrapIsolation(t *testing.T) {
	t.Parallel()
	d := bwrapDriver(t)

	t.Run("SecretsOutsideDirUnreadable", func(t *testing.T) {
		t.Parallel()
		// Where an app key might live: the worker's home, the host's /tmp.
		home, err := os.UserHomeDir()
		require.NoError(t, err)
		keyDir, err := os.MkdirTemp(home, "specloop-key-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(keyDir) })
		require.NoError(t, os.Chmod(keyDir, 0o755)) // readable, were it mounted
		keys := []string{filepath.Join(keyDir, "app.pem"), filepath.Join(t.TempDir(), "app.pem")}
		for _, k := range keys {
			require.NoError(t, os.WriteFile(k, []byte("-----BEGIN PRIVATE KEY-----"), 0o644))
		}
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "cat " + strings.Join(keys, " ") + "; ls /root /home /work"})
		require.NotEqual(t, 0, res.ExitCode)
		require.NotContains(t, string(res.Output), "PRIVATE KEY")
		require.Contains(t, string(res.Output), "No such file or directory")
	})

	t.Run("NoNetwork", func(t *testing.T) {
		t.Parallel()
		port, accepted := listen(t)
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Argv: tcpSend(port)})
		require.NotEqual(t, 0, res.ExitCode, "connected to the host without Network: %s", res.Output)
		// The sandbox has exited: a connection it made is already in the
		// listener's queue, ahead of one the host makes now. The first
		// connection accepted being the host's proves the sandbox made none.
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		require.NoError(t, err)
		_, err = io.WriteString(c, "probe from the host\n")
		require.NoError(t, err)
		require.NoError(t, c.Close())
		select {
		case got := <-accepted:
			require.Equal(t, "probe from the host\n", got, "the host listener accepted a connection from the sandbox first")
		case <-time.After(readWait):
			t.Fatal("the host listener got nothing, not even the host's probe")
		}
	})

	t.Run("Network", func(t *testing.T) {
		t.Parallel()
		port, accepted := listen(t)
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Argv: tcpSend(port), Network: true})
		require.Equal(t, 0, res.ExitCode, "%s", res.Output)
		select {
		case got := <-accepted:
			require.Equal(t, "hello from the sandbox\n", got)
		case <-time.After(readWait):
			t.Fatal("the host listener got nothing")
		}
	})

	t.Run("SystemReadOnly", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"/usr/specloop-probe", "/etc/specloop-probe", "/specloop-probe", "/usr/bin/sh"} {
			res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "echo x > " + p})
			require.NotEqual(t, 0, res.ExitCode, "wrote %s", p)
			require.Contains(t, string(res.Output), "Read-only file system", p)
		}
	})

	t.Run("PrivateTmp", func(t *testing.T) {
		t.Parallel()
		f, err := os.CreateTemp("", "specloop-host-tmp-")
		require.NoError(t, err)
		f.Close()
		t.Cleanup(func() { os.Remove(f.Name()) })
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "test ! -e " + f.Name() + " && echo x > /tmp/mine && cat /tmp/mine"})
		require.Equal(t, "x\n", string(res.Output))
		require.Equal(t, 0, res.ExitCode)
	})

	t.Run("NotRoot", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "id -u; grep CapEff /proc/self/status"})
		require.Equal(t, "1000\nCapEff:\t0000000000000000\n", string(res.Output))
	})

	t.Run("NoNestedUserNamespaces", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Argv: []string{"unshare", "--user", "true"}})
		require.NotEqual(t, 0, res.ExitCode, "%s", res.Output)
	})

	t.Run("OwnPIDNamespace", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: "ls /proc | grep -c '^[0-9]'"})
		n, err := strconv.Atoi(strings.TrimSpace(string(res.Output)))
		require.NoError(t, err, "%s", res.Output)
		require.Less(t, n, 10, "the sandbox sees the host's processes")
	})

	t.Run("MemoryLimit", func(t *testing.T) {
		t.Parallel()
		// tail buffers the last 512 MB it is given: far above the limit.
		res := run(t, d, sandbox.Spec{
			Dir:     workDir(t),
			Shell:   "head -c 600000000 /dev/zero | tail -c 500000000 | wc -c",
			Limits:  sandbox.Limits{AddressSpace: 64 << 20},
			Timeout: 30 * time.Second,
		})
		require.False(t, res.TimedOut)
		require.Contains(t, string(res.Output), "memory exhausted")
		require.NotContains(t, string(res.Output), "500000000")
	})

	t.Run("ProcessLimit", func(t *testing.T) {
		t.Parallel()
		marker := sleepMarker()
		res := run(t, d, sandbox.Spec{
			Dir:     workDir(t),
			Shell:   "i=0; while [ $i -lt 200 ]; do sleep " + marker + " & i=$((i+1)); done; echo spawned $i",
			Limits:  sandbox.Limits{Processes: 20},
			Timeout: 30 * time.Second,
		})
		require.False(t, res.TimedOut)
		require.NotEqual(t, 0, res.ExitCode, "%s", res.Output)
		require.Contains(t, string(res.Output), "fork")
		require.NotContains(t, string(res.Output), "spawned")
		require.Less(t, res.Duration, 10*time.Second)
		requireNoProcess(t, marker)
	})

	t.Run("CPULimit", func(t *testing.T) {
		t.Parallel()
		res := run(t, d, sandbox.Spec{
			Dir:     workDir(t),
			Shell:   "while :; do :; done",
			Limits:  sandbox.Limits{CPU: time.Second},
			Timeout: 30 * time.Second,
		})
		require.False(t, res.TimedOut)
		require.Equal(t, 128+int(syscall.SIGXCPU), res.ExitCode, "%s", res.Output)
	})

	t.Run("ExtraRO", func(t *testing.T) {
		t.Parallel()
		tools := workDir(t)
		require.NoError(t, os.WriteFile(filepath.Join(tools, "tool"), []byte("#!/bin/sh\necho tool ran\n"), 0o755))
		res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: tools + "/tool; touch " + tools + "/x", ExtraRO: []string{tools}})
		require.Contains(t, string(res.Output), "tool ran")
		require.Contains(t, string(res.Output), "Read-only file system")
	})

	t.Run("SetupFailureIsAnError", func(t *testing.T) {
		t.Parallel()
		_, err := d.Run(context.Background(), sandbox.Spec{
			Dir: workDir(t), Argv: []string{"true"}, ExtraRO: []string{"/nonexistent-specloop"},
		})
		require.ErrorContains(t, err, "nonexistent-specloop")
	})

	t.Run("RefusesForeignTree", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() != 0 {
			t.Skip("working copies are lent to the sandbox user only when the worker is root")
		}
		dir := workDir(t)
		other := filepath.Join(dir, "other")
		require.NoError(t, os.WriteFile(other, nil, 0o644))
		require.NoError(t, os.Chown(other, 4242, 4242))
		_, err := d.Run(context.Background(), sandbox.Spec{Dir: dir, Argv: []string{"true"}})
		require.ErrorContains(t, err, "refusing to lend")
		fi, err := os.Stat(other)
		require.NoError(t, err)
		require.Equal(t, uint32(4242), fi.Sys().(*syscall.Stat_t).Uid)
	})
}

// readWait bounds how long a test waits for something that must happen.
const readWait = 30 * time.Second

// listen starts a TCP listener on the host's loopback and returns its port
// and a channel that receives what the first connection sends.
func listen(t *testing.T) (int, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { ln.Close() }) })
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	return ln.Addr().(*net.TCPAddr).Port, got
}

// tcpSend is a command that sends a line to 127.0.0.1:port.
func tcpSend(port int) []string {
	return []string{"bash", "-c", "echo hello from the sandbox > /dev/tcp/127.0.0.1/" + strconv.Itoa(port)}
}
