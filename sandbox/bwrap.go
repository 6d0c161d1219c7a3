package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SandboxUID is the host user (and group) that bwrap runs as when the worker
// is root. It owns no files on the host and needs no /etc/passwd entry.
const SandboxUID = 990099

// insideUID is who the command believes it is: not root, because agents such
// as Claude Code refuse to run unattended as root.
const insideUID = "1000"

// etcFiles are the parts of the host's /etc a command may need: name
// resolution, TLS roots, users and groups, the dynamic linker's cache, and
// Debian's alternatives links. The rest of /etc stays out, because
// deployments put credentials there.
var etcFiles = []string{
	"/etc/alternatives",
	"/etc/ca-certificates",
	"/etc/ca-certificates.conf",
	"/etc/gai.conf",
	"/etc/gitconfig",
	"/etc/group",
	"/etc/host.conf",
	"/etc/hosts",
	"/etc/ld.so.cache",
	"/etc/ld.so.conf",
	"/etc/ld.so.conf.d",
	"/etc/localtime",
	"/etc/mime.types",
	"/etc/nsswitch.conf",
	"/etc/os-release",
	"/etc/passwd",
	"/etc/pki",
	"/etc/protocols",
	"/etc/resolv.conf",
	"/etc/services",
	"/etc/ssl",
	"/etc/timezone",
}

// bwrapDriver runs commands under bubblewrap.
type bwrapDriver struct {
	logger *slog.Logger
	bwrap  string // path of the bwrap binary
	// cred is who bwrap runs as; nil means the worker's own user.
	cred *syscall.Credential
	// system is the part of the argv that is the same for every command:
	// namespaces and the read-only system mounts.
	system []string
	// cgroup, when set, is where each run gets a cgroup of its own with
	// Limits.Memory as its memory.max; cgroupWhy says why there is none.
	cgroup    *cgroupTree
	cgroupWhy string
}

// newBwrap returns the bwrap driver; getenv gives SANDBOX_CGROUP.
func newBwrap(logger *slog.Logger, getenv func(string) string) (*bwrapDriver, error) {
	path, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, fmt.Errorf("sandbox bwrap: bwrap not found in PATH: install bubblewrap (apt-get install bubblewrap): %w", err)
	}
	d := &bwrapDriver{logger: logger, bwrap: path, system: systemArgs()}
	// Without a cgroup the driver says nothing here: MemoryBound tells,
	// and the worker logs it once at start.
	if d.cgroup, d.cgroupWhy, err = findCgroup(getenv("SANDBOX_CGROUP")); err != nil {
		return nil, fmt.Errorf("sandbox bwrap: %w", err)
	}
	if os.Geteuid() == 0 {
		// Root is exempt from RLIMIT_NPROC, even inside a user namespace,
		// so a fork bomb could only be bounded by running as someone else.
		d.cred = &syscall.Credential{Uid: SandboxUID, Gid: SandboxUID, Groups: []uint32{}}
	}
	return d, nil
}

// systemArgs returns the bwrap arguments shared by every command.
func systemArgs() []string {
	args := []string{
		"--die-with-parent", // the worker dying takes the sandbox with it
		"--new-session",     // no TIOCSTI into the worker's terminal
		"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--disable-userns", // no nested namespaces to dodge the limits from
		"--uid", insideUID, "--gid", insideUID,
		"--hostname", "sandbox",
		"--cap-drop", "ALL",
		"--ro-bind", "/usr", "/usr",
	}
	// On merged-/usr systems these are symlinks into /usr; elsewhere they
	// are directories of their own.
	for _, p := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			if target, err := os.Readlink(p); err == nil {
				args = append(args, "--symlink", target, p)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", p, p)
		}
	}
	for _, p := range etcFiles {
		args = append(args, "--ro-bind-try", p, p)
	}
	return append(args, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")
}

func (d *bwrapDriver) Name() string { return "bwrap" }

// args returns bwrap's argv (without argv[0]) for running argv in dir.
func (d *bwrapDriver) args(s Spec, dir string, argv []string) []string {
	args := append([]string(nil), d.system...)
	if !s.Network {
		args = append(args, "--unshare-net")
	}
	for _, p := range s.ExtraRO {
		args = append(args, "--ro-bind", p, p)
	}
	for _, b := range s.Binds {
		flag := "--ro-bind"
		if b.Writable {
			flag = "--bind"
		}
		args = append(args, flag, b.Src, b.dst())
	}
	if s.Home != "" {
		args = append(args, "--bind", s.Home, HomeDir)
	}
	args = append(args,
		"--bind", dir, dir,
		"--remount-ro", "/", // after the last mount point is made in it
		"--chdir", dir,
		"--json-status-fd", "3",
		"--clearenv",
	)
	for _, kv := range s.env(HomeDir) {
		k, v, _ := strings.Cut(kv, "=")
		args = append(args, "--setenv", k, v)
	}
	return append(append(args, "--"), argv...)
}

func (d *bwrapDriver) Run(ctx context.Context, s Spec) (Result, error) {
	dir, argv, err := s.command()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox bwrap: %w", err)
	}
	limits := s.Limits
	var cg *runCgroup
	if d.cgroup != nil && limits.Memory > 0 {
		if cg, err = d.cgroup.start(limits.Memory, limits.Processes); err != nil {
			return Result{}, fmt.Errorf("sandbox bwrap: %w", err)
		}
		defer func() {
			if err := cg.end(); err != nil {
				d.logger.Error("sandbox bwrap: removing the run's cgroup", "error", err)
			}
		}()
		// The cgroup bounds memory: no address-space limit to trip V8.
		limits.Memory, limits.AddressSpace = 0, 0
	}
	if argv, err = withLimits(limits, argv); err != nil {
		return Result{}, fmt.Errorf("sandbox bwrap: %w", err)
	}
	if d.cred != nil {
		giveBack, err := d.lendAll(s, dir)
		if err != nil {
			return Result{}, fmt.Errorf("sandbox bwrap: %w", err)
		}
		defer func() {
			if err := giveBack(); err != nil {
				d.logger.Error("sandbox bwrap: giving back the working copy", "dir", dir, "error", err)
			}
		}()
	}

	statusR, statusW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox bwrap: creating status pipe: %w", err)
	}
	defer statusR.Close()

	out := newOutputBuffer(s.Limits.Output, s.Stdout)
	cmd := exec.Command(d.bwrap, d.args(s, dir, argv)...)
	cmd.Dir = "/" // the worker's cwd may not be searchable by SandboxUID
	// bwrap's own environment stays readable inside, in /proc/1/environ of
	// the sandbox's init: give it nothing of the worker's.
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Stdin = s.Stdin
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{statusW} // fd 3; bwrap closes it in the sandbox
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: d.cred,
		// If the worker dies, bwrap dies, and --die-with-parent takes the
		// sandbox with it.
		Pdeathsig: syscall.SIGKILL,
	}
	if cg != nil {
		cg.attr(cmd.SysProcAttr)
	}
	cmd.WaitDelay = waitDelay

	d.logger.Debug("sandbox run", "driver", "bwrap", "dir", dir, "argv", argv,
		"network", s.Network, "timeout", s.Timeout)
	start := time.Now()
	err = cmd.Start()
	statusW.Close()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox bwrap: starting %s: %w", d.bwrap, err)
	}
	st := &bwrapStatus{outer: cmd.Process, known: make(chan struct{}), done: make(chan struct{})}
	go st.read(statusR)

	o := supervise(ctx, cmd, start, s, st)
	code, err := exitCode(cmd, cmd.Wait())
	<-st.done
	st.release()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox bwrap: waiting for bwrap: %w", err)
	}

	res := Result{ExitCode: code, TimedOut: o.timedOut, Cancelled: o.cancelled, Duration: o.duration}
	if cg != nil && cg.oomKilled() {
		// The whole group, bwrap with it, was killed: no exit status came.
		res.OOMKilled, res.ExitCode = true, 128+int(syscall.SIGKILL)
		fmt.Fprintf(out, "\nkilled: out of memory at %s\n", formatBytes(cg.memory))
	}
	res.Output, res.Truncated = out.result()
	if res.OOMKilled {
		return res, nil
	}
	if st.exitCode != nil {
		res.ExitCode = *st.exitCode
	} else if !o.timedOut && !o.cancelled {
		// The command never ran: bwrap failed to set the sandbox up and
		// said why on stderr.
		return res, fmt.Errorf("sandbox bwrap: setting up the sandbox failed (exit %d): %s", code, lastLine(res.Output))
	}
	d.logger.Debug("sandbox done", "driver", "bwrap", "exit_code", res.ExitCode,
		"timed_out", res.TimedOut, "cancelled", res.Cancelled, "duration", res.Duration)
	return res, nil
}

// lendAll lends the working copy, the home and every writable bind, and
// checks that the sandbox user can reach the read-only paths.
func (d *bwrapDriver) lendAll(s Spec, dir string) (giveBack func() error, err error) {
	ro := append([]string(nil), s.ExtraRO...)
	rw := []string{dir}
	if s.Home != "" {
		rw = append(rw, s.Home)
	}
	for _, b := range s.Binds {
		if b.Writable {
			rw = append(rw, b.Src)
		} else {
			ro = append(ro, b.Src)
		}
	}
	var backs []func() error
	back := func() error {
		var errs []error
		for _, f := range backs {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	for i, p := range rw {
		extra := ro
		if i > 0 {
			extra = nil
		}
		f, err := d.lend(p, extra)
		if err != nil {
			_ = back()
			return nil, err
		}
		backs = append(backs, f)
	}
	return back, nil
}

// lend hands the working copy to SandboxUID for one run, after checking
// that bwrap, running as SandboxUID, can reach it and the ExtraRO paths. The
// returned function gives every file back to the owner of dir, including
// files the command created.
func (d *bwrapDriver) lend(dir string, extraRO []string) (giveBack func() error, err error) {
	for _, p := range append([]string{dir}, extraRO...) {
		if err := checkSearchable(p); err != nil {
			return nil, err
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("checking working copy: %w", err)
	}
	owner := fi.Sys().(*syscall.Stat_t)
	// A tree prepared for the sandbox (workspace.Cache.TreeOwner) is already
	// its own: nothing to lend, nothing to give back.
	if owner.Uid == d.cred.Uid {
		return func() error { return nil }, nil
	}
	// A working copy belongs to one user. Anything else (a Dir of "/tmp" or
	// "/home" by mistake) must not be taken over and then given to a
	// single owner.
	if err := checkOwned(dir, owner.Uid, d.cred.Uid); err != nil {
		return nil, err
	}
	if err := chownTree(dir, int(d.cred.Uid), int(d.cred.Gid)); err != nil {
		_ = chownTree(dir, int(owner.Uid), int(owner.Gid))
		return nil, fmt.Errorf("lending working copy to uid %d: %w", d.cred.Uid, err)
	}
	return func() error { return chownTree(dir, int(owner.Uid), int(owner.Gid)) }, nil
}

// ErrNotSearchable means a directory on the way to the working copy (or an
// ExtraRO path) is closed to the sandbox user: a permissions problem on the
// host, not a missing kernel feature.
var ErrNotSearchable = errors.New("path not reachable by the sandbox user")

// checkSearchable reports an error naming the first parent directory of
// path that other users cannot search.
func checkSearchable(path string) error {
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("checking %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%w: %s is not searchable by the sandbox user (uid %d), so it cannot reach %s: chmod o+x %s",
				ErrNotSearchable, p, SandboxUID, path, p)
		}
		if p == "/" {
			return nil
		}
	}
}

// checkOwned reports an error if anything in dir is owned by a user other
// than uid or sandbox (left over from a run whose give-back failed).
func checkOwned(dir string, uid, sandbox uint32) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid && st.Uid != sandbox {
			return fmt.Errorf("working copy %s is not all owned by uid %d (%s is owned by %d): refusing to lend it to the sandbox", dir, uid, p, st.Uid)
		}
		return nil
	})
}

// chownTree changes the owner of dir and everything in it, without
// following symbolic links.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// bwrapStatus follows one bwrap process through its --json-status-fd and
// stops the sandbox it runs.
type bwrapStatus struct {
	outer *os.Process
	known chan struct{} // closed once init is known, or will never be
	done  chan struct{} // closed when the status pipe is drained

	mu       sync.Mutex
	init     *os.Process // the sandbox's PID 1, pinned by a pidfd
	pidNS    string      // its PID namespace, as /proc/PID/ns/pid reads
	exitCode *int        // the command's exit status, once it exited
}

// read consumes the JSON documents bwrap writes: first the child's pid and
// namespaces, and, if the command ran to its end, its exit code.
func (st *bwrapStatus) read(r io.Reader) {
	defer close(st.done)
	var knownOnce sync.Once
	defer knownOnce.Do(func() { close(st.known) })
	dec := json.NewDecoder(r)
	for {
		var rec struct {
			ChildPID     *int    `json:"child-pid"`
			PIDNamespace *uint64 `json:"pid-namespace"`
			ExitCode     *int    `json:"exit-code"`
		}
		if err := dec.Decode(&rec); err != nil {
			// Drain so that bwrap never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, r)
			return
		}
		st.mu.Lock()
		if rec.ChildPID != nil && rec.PIDNamespace != nil {
			ns := "pid:[" + strconv.FormatUint(*rec.PIDNamespace, 10) + "]"
			// Pin the process before checking it is still ours, so that a
			// recycled pid can never be signalled.
			if p, err := os.FindProcess(*rec.ChildPID); err == nil {
				if link, _ := os.Readlink("/proc/" + strconv.Itoa(*rec.ChildPID) + "/ns/pid"); link == ns {
					st.init, st.pidNS = p, ns
				} else {
					p.Release()
				}
			}
			knownOnce.Do(func() { close(st.known) })
		}
		if rec.ExitCode != nil {
			st.exitCode = rec.ExitCode
		}
		st.mu.Unlock()
	}
}

// terminate sends SIGTERM to every process in the sandbox but its init,
// which exits with the command and then makes the kernel kill the rest.
func (st *bwrapStatus) terminate() {
	// bwrap reports its init only once the namespaces exist, which on a
	// busy host can be after a short timeout has expired.
	select {
	case <-st.known:
	case <-time.After(time.Second):
	}
	st.mu.Lock()
	ns, init := st.pidNS, st.init
	st.mu.Unlock()
	if init == nil {
		// Still setting up: there is nothing to be graceful to.
		_ = st.outer.Signal(syscall.SIGTERM)
		return
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == init.Pid {
			continue
		}
		if link, _ := os.Readlink("/proc/" + e.Name() + "/ns/pid"); link == ns {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}

// kill ends the sandbox's init, so that the kernel kills everything in its
// PID namespace before bwrap can report it gone.
func (st *bwrapStatus) kill() {
	st.mu.Lock()
	init := st.init
	st.mu.Unlock()
	if init == nil || init.Signal(syscall.SIGKILL) != nil {
		_ = st.outer.Kill()
	}
}

func (st *bwrapStatus) release() {
	if st.init != nil {
		st.init.Release()
	}
}

// lastLine returns the last non-empty line of out, for error messages.
func lastLine(out []byte) string {
	out = bytes.TrimSpace(out)
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if len(out) == 0 {
		return "no output"
	}
	return string(out)
}

// Check verifies that the bwrap driver works on this host by running true(1)
// in a sandbox, with the process limit that needs a user namespace. A server
// configured for bwrap must not run cycles when it fails.
func Check(ctx context.Context) error {
	d, err := newBwrap(slog.New(slog.DiscardHandler), os.Getenv)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "specloop-sandbox-check-")
	if err != nil {
		return fmt.Errorf("sandbox bwrap check: creating a working copy: %w", err)
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := d.Run(ctx, Spec{Dir: dir, Argv: []string{"true"}, Limits: Limits{Processes: 64}, Grace: time.Second})
	switch {
	case err != nil:
	case res.ExitCode != 0 || res.TimedOut || res.Cancelled:
		err = fmt.Errorf("true exited %d: %s", res.ExitCode, lastLine(res.Output))
	default:
		return nil
	}
	if errors.Is(err, ErrNotSearchable) {
		return fmt.Errorf("sandbox bwrap: %w (TMPDIR=%s)", err, os.TempDir())
	}
	return fmt.Errorf("bwrap cannot create its sandbox (%v): in Docker run with "+
		"--security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined; "+
		"in Kubernetes set procMount: Unmasked with hostUsers: false (see docs/deploy.md); on a host set "+
		"kernel.unprivileged_userns_clone=1 (Debian) / kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu)",
		err)
}
