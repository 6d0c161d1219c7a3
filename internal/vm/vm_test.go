package vm

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	m := Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hostFile := t.TempDir() + "/payload"
	require.NoError(t, os.WriteFile(hostFile, []byte("from the host\n"), 0o644))
	script := strings.Join([]string{
		"cat /proc/self/cgroup",
		"cat /sys/fs/cgroup/worker.service/cgroup.controllers",
		"cat /tmp/in/payload",
		"test -e " + hostFile + " && echo host-tmp-visible",
		"touch /usr/specloop-vm-probe 2>/dev/null && echo usr-writable",
		"echo \"dir=$(pwd) env=$GREETING\"",
		"exit 7",
	}, "; ")
	r, err := Run(ctx, m, Command{
		Argv:   []string{"/bin/sh", "-c", script},
		Env:    []string{"PATH=/usr/bin:/bin", "GREETING=hello"},
		Dir:    "/usr/share",
		Files:  map[string]string{"/tmp/in/payload": hostFile},
		Cgroup: "worker.service",
	})
	require.NoError(t, err, "console: %s", r.Console)
	require.Equal(t, 7, r.ExitCode, "output: %s", r.Output)
	require.Equal(t, "0::/worker.service\nmemory pids\nfrom the host\ndir=/usr/share env=hello\n", string(r.Output),
		"a pure cgroup v2 hierarchy with memory and pids, the copied file, the host read-only, a private /tmp")
}

func TestFindSaysWhatIsMissing(t *testing.T) {
	_, err := Find(func(k string) string {
		if k == "SPECLOOP_VM_DIR" {
			return t.TempDir()
		}
		return ""
	})
	require.ErrorContains(t, err, "vmlinuz (scripts/vm/kernel.sh)")
	require.ErrorContains(t, err, "modules/*.ko (scripts/vm/kernel.sh)")
}
