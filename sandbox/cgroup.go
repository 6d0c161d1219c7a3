package sandbox

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupWorkerLeaf is the child a worker moves itself into when it was
// started in the cgroup it is delegated: cgroup v2 lets a cgroup that holds
// processes give its children no controllers.
const cgroupWorkerLeaf = "specloop-worker"

// cgroupRunPrefix names the cgroups made for runs; anything so named and
// empty when a driver starts was left by a worker that died.
const cgroupRunPrefix = "specloop-run-"

// cgroupTree is a delegated cgroup v2 directory with the memory controller
// enabled for its children: the bwrap driver makes one child per run in it.
type cgroupTree struct {
	dir  string
	pids bool // the pids controller is enabled too
}

// findCgroup resolves SANDBOX_CGROUP: "off" uses none; a path must be a
// delegated cgroup v2 directory (an error otherwise, since the operator
// asked for it); empty tries the worker's own cgroup and, when that cannot
// serve, returns nil and why, so that the driver falls back to an
// address-space limit and says so.
func findCgroup(setting string) (tree *cgroupTree, why string, err error) {
	switch setting {
	case "off":
		return nil, "SANDBOX_CGROUP=off", nil
	case "":
		dir, err := ownCgroup()
		if err != nil {
			return nil, err.Error(), nil
		}
		// A process that made a driver before is in its leaf already.
		if filepath.Base(dir) == cgroupWorkerLeaf {
			dir = filepath.Dir(dir)
		}
		tree, err := prepareCgroup(dir)
		if err != nil {
			return nil, err.Error(), nil
		}
		return tree, "", nil
	}
	if !filepath.IsAbs(setting) {
		return nil, "", fmt.Errorf("SANDBOX_CGROUP=%s: want the absolute path of a cgroup v2 directory delegated to the worker, or off", setting)
	}
	tree, err = prepareCgroup(filepath.Clean(setting))
	if err != nil {
		return nil, "", fmt.Errorf("SANDBOX_CGROUP: %w", err)
	}
	return tree, "", nil
}

// ownCgroup returns the directory of the cgroup v2 this process is in, if
// /sys/fs/cgroup is a pure cgroup v2 hierarchy.
func ownCgroup() (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return "", errors.New("/sys/fs/cgroup is not a cgroup v2 hierarchy (this host uses cgroup v1 for memory)")
	}
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join("/sys/fs/cgroup", rest), nil
		}
	}
	return "", errors.New("this process is in no cgroup v2")
}

// prepareCgroup checks that dir can hold the runs' cgroups and enables the
// memory (and pids) controller for its children. If the worker itself is
// the only process in dir, it first moves into a leaf of its own, as
// container runtimes do with the cgroup they are started in.
func prepareCgroup(dir string) (*cgroupTree, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("%s is not in a cgroup v2 hierarchy", dir)
	}
	controllers, err := readWords(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	if !controllers["memory"] {
		return nil, fmt.Errorf("cgroup %s has no memory controller: the host must delegate it (systemd: Delegate=yes on the worker's unit)", dir)
	}
	if unix.Access(filepath.Join(dir, "cgroup.subtree_control"), unix.W_OK) != nil {
		return nil, fmt.Errorf("cgroup %s is not delegated to this user (cgroup.subtree_control is not writable)", dir)
	}
	enabled, err := readWords(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return nil, err
	}
	want := []string{"memory"}
	if controllers["pids"] {
		want = append(want, "pids")
	}
	var missing []string
	for _, c := range want {
		if !enabled[c] {
			missing = append(missing, "+"+c)
		}
	}
	if len(missing) > 0 {
		if err := leaveCgroup(dir); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(missing, " ")), 0); err != nil {
			return nil, fmt.Errorf("enabling %s in cgroup %s: %w", strings.Join(missing, " "), dir, err)
		}
	}
	t := &cgroupTree{dir: dir, pids: controllers["pids"]}
	t.sweep()
	return t, nil
}

// leaveCgroup moves this process out of dir into its own leaf when it is
// the only one there; other processes in dir make it unusable.
func leaveCgroup(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("reading %s/cgroup.procs: %w", dir, err)
	}
	procs := strings.Fields(string(raw))
	if len(procs) == 0 {
		return nil
	}
	self := strconv.Itoa(os.Getpid())
	if len(procs) > 1 || procs[0] != self {
		return fmt.Errorf("cgroup %s holds other processes (%s), so it cannot give runs a memory controller: "+
			"set SANDBOX_CGROUP to a cgroup delegated to the worker alone", dir, strings.Join(procs, " "))
	}
	leaf := filepath.Join(dir, cgroupWorkerLeaf)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("making %s: %w", leaf, err)
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(self), 0); err != nil {
		return fmt.Errorf("moving the worker into %s: %w", leaf, err)
	}
	return nil
}

// sweep removes the empty run cgroups a dead worker left behind. A run's
// cgroup is named for its worker's pid, and another live worker's may be
// empty only because its sandbox is not cloned into it yet.
func (t *cgroupTree) sweep() {
	entries, _ := os.ReadDir(t.dir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), cgroupRunPrefix)
		if !e.IsDir() || !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if n, err := strconv.Atoi(pid); err == nil && (n == os.Getpid() || unix.Kill(n, 0) == nil) {
			continue
		}
		_ = os.Remove(filepath.Join(t.dir, e.Name()))
	}
}

func readWords(path string) (map[string]bool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	words := map[string]bool{}
	for _, w := range strings.Fields(string(raw)) {
		words[w] = true
	}
	return words, nil
}

// runCgroup is one run's cgroup: its limits are set before the sandbox is
// cloned into it, so not one page escapes them.
type runCgroup struct {
	dir    string
	fd     *os.File // the directory, for clone3's CLONE_INTO_CGROUP
	memory int64
}

// start makes a run's cgroup with memory.max at memory bytes (swap off, so
// the limit is real), the whole group OOM-killed together as the kubelet
// does, and pids.max at processes when set.
func (t *cgroupTree) start(memory int64, processes int) (*runCgroup, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	dir := filepath.Join(t.dir, cgroupRunPrefix+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(b[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making cgroup %s: %w", dir, err)
	}
	c := &runCgroup{dir: dir, memory: memory}
	set := func(file, value string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
			return fmt.Errorf("setting %s of cgroup %s to %s: %w", file, dir, value, err)
		}
		return nil
	}
	err := set("memory.max", strconv.FormatInt(memory, 10))
	// memory.swap.max exists only where the kernel accounts swap.
	if _, serr := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil && serr == nil {
		err = set("memory.swap.max", "0")
	}
	if err == nil {
		err = set("memory.oom.group", "1")
	}
	if err == nil && t.pids && processes > 0 {
		err = set("pids.max", strconv.Itoa(processes))
	}
	if err == nil {
		c.fd, err = os.Open(dir)
	}
	if err != nil {
		_ = os.Remove(dir)
		return nil, err
	}
	return c, nil
}

// attr places the process SysProcAttr starts into the run's cgroup.
func (c *runCgroup) attr(a *syscall.SysProcAttr) {
	a.UseCgroupFD = true
	a.CgroupFD = int(c.fd.Fd())
}

// oomKilled reports whether the kernel's OOM killer acted in the run.
func (c *runCgroup) oomKilled() bool {
	raw, _ := os.ReadFile(filepath.Join(c.dir, "memory.events"))
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("oom_kill ")); ok {
			n, _ := strconv.Atoi(string(v))
			return n > 0
		}
	}
	return false
}

// end kills whatever is left in the run's cgroup and removes it.
func (c *runCgroup) end() error {
	defer c.fd.Close()
	// cgroup.kill (Linux 5.14) ends every process in one write, even one
	// that left the sandbox's PID namespace behind.
	_ = os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0)
	var err error
	for i := 0; i < 200; i++ {
		if err = os.Remove(c.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(10 * time.Millisecond) // the killed are still exiting
	}
	return fmt.Errorf("removing cgroup %s: %w", c.dir, err)
}

// formatBytes writes n the way limits are written: "2 GiB", "512 MiB".
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
