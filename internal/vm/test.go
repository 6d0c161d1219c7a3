package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// InsideEnv is set in a test binary RunTest started in a machine.
const InsideEnv = "SPECLOOP_IN_VM"

// Inside reports whether this process is a test RunTest started.
func Inside() bool { return os.Getenv(InsideEnv) != "" }

// Need returns the machine, or skips the test when this host has none and
// fails it under CI, whose .ci/run provides one (scripts/vm/kernel.sh,
// qemu-system-x86).
func Need(t testing.TB) Machine {
	t.Helper()
	m, err := Find(os.Getenv)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must provide the test machine: %v", err)
		}
		t.Skipf("%v", err)
	}
	return m
}

// RunTest runs the tests of the calling test binary that pattern (a
// -test.run pattern) matches in a machine, in the package's directory, as
// root in the cgroup "worker.service", which has the memory and pids
// controllers to give, and fails unless they pass without skipping. Their
// output is logged.
func RunTest(t *testing.T, pattern string, timeout time.Duration) {
	t.Helper()
	RunTestWith(t, pattern, timeout, nil, nil)
}

// RunTestWith is RunTest with more environment (KEY=value) and more host
// files copied in (guest path under /tmp -> host path), such as a binary
// the test built on the host, where the machine's empty build cache would
// make building it slow.
func RunTestWith(t *testing.T, pattern string, timeout time.Duration, env []string, files map[string]string) {
	t.Helper()
	m := Need(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	bin := "/tmp/vm/" + filepath.Base(exe)
	env = append([]string{InsideEnv + "=1", "HOME=/tmp", "TMPDIR=/tmp", "PATH=" + os.Getenv("PATH")}, env...)
	for _, k := range []string{"CI", "SPECLOOP_AGENT_CLIS"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	all := map[string]string{bin: exe}
	for dst, src := range files {
		all[dst] = src
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := Run(ctx, m, Command{
		Argv:   []string{bin, "-test.run", pattern, "-test.v", "-test.count=1"},
		Env:    env,
		Dir:    wd,
		Files:  all,
		Cgroup: "worker.service",
	})
	if err != nil {
		t.Fatalf("running %s in a machine: %v", pattern, err)
	}
	t.Logf("in the machine:\n%s", r.Output)
	out := string(r.Output)
	if r.ExitCode != 0 || !strings.Contains(out, "--- PASS: ") || strings.Contains(out, "--- FAIL") || strings.Contains(out, "--- SKIP") {
		t.Fatalf("%s in the machine: exit %d, not a pass without skips", pattern, r.ExitCode)
	}
}
