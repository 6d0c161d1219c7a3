package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults applied when the corresponding Spec field is zero.
const (
	// DefaultGrace is how long a command has between SIGTERM and SIGKILL.
	DefaultGrace = 5 * time.Second
	// DefaultOutput is how many bytes of output a Result keeps.
	DefaultOutput = 1 << 20
)

// DefaultPath is the PATH a command gets unless its Spec.Env sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// AgentMemory is the address space (Limits.AddressSpace) an agent's
// processes get where no cgroup bounds their memory: JavaScript engines
// reserve far more than they use (V8 reserves 10 GiB for each WebAssembly
// memory, and Codex's tools run in V8), so 8 GiB fails every tool call;
// 64 GiB still stops a runaway from taking the host's address space.
const AgentMemory int64 = 64 << 30

// Spec describes one command to run in a sandbox.
type Spec struct {
	// Dir is the working copy. It is mounted read-write at the same path and
	// is the command's working directory.
	Dir string

	// Argv is the command and its arguments. Set exactly one of Argv and
	// Shell.
	Argv []string
	// Shell is a command line run with /bin/sh -c.
	Shell string

	// Stdin is the command's standard input; nil means empty.
	Stdin io.Reader
	// Stdout, when set, receives the combined stdout and stderr as they are
	// produced, in full: the cap in Limits.Output applies to Result.Output
	// only. A slow writer slows the command down.
	Stdout io.Writer

	// Env is the only environment the command sees, on top of PATH,
	// HOME=/tmp and LANG=C.UTF-8, which it may override.
	Env map[string]string

	// Network lets the command use the host's network. Without it the
	// command has a loopback interface of its own and nothing else.
	// The none driver cannot take the network away and ignores it.
	Network bool

	// Timeout bounds the wall-clock time of the command; zero means none.
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL once the command is
	// being stopped; zero means DefaultGrace.
	Grace time.Duration

	// Limits caps the resources the command may use.
	Limits Limits

	// ExtraRO lists host paths (tool directories, caches) mounted read-only
	// at the same path. Ignored by the none driver, which sees everything.
	ExtraRO []string

	// Binds mount more host paths, each at a path of its own: a working
	// copy's private git directory, the objects it borrows. The none
	// driver cannot mount and ignores them, which is right for paths whose
	// Dst is their own Src.
	Binds []Bind

	// Home, when set, is a host directory that becomes the command's home:
	// mounted read-write at HomeDir (bwrap) or used in place (none), with
	// HOME naming it. Agents keep their configuration and sessions there;
	// it outlives one Run so that the runs of a cycle share it.
	Home string
}

// HomeDir is where a Spec's Home appears inside the bwrap sandbox.
const HomeDir = "/home/agent"

// Bind is one host path mounted into the sandbox.
type Bind struct {
	// Src is the host path; Dst where the command sees it (Src when empty).
	Src, Dst string
	// Writable mounts it read-write; when the worker is root it is lent to
	// the sandbox user for the run, like the working copy.
	Writable bool
}

func (b Bind) dst() string {
	if b.Dst == "" {
		return b.Src
	}
	return b.Dst
}

// Limits caps the resources of a command. A zero field means no limit, except
// Output, which defaults to DefaultOutput.
type Limits struct {
	// CPU is the CPU time the command may use (RLIMIT_CPU), rounded up to
	// whole seconds, counted per process: SIGXCPU when it is used up,
	// SIGKILL a second later.
	CPU time.Duration
	// Memory caps, in bytes, the memory the command's processes use
	// together: a cgroup v2 memory.max where the driver has one (bwrap
	// under a delegated cgroup; the kubernetes driver's pod limit is a
	// setting of its own). Where none can be had, each process's address
	// space is bounded instead, by AddressSpace, or by Memory when
	// AddressSpace is zero.
	Memory int64
	// AddressSpace is what each process may map (RLIMIT_AS) where no
	// cgroup bounds Memory. Runtimes that reserve address space up front
	// (Go, the JVM, V8) need far more of it than they use.
	AddressSpace int64
	// Processes caps how many processes and threads the command may have
	// at once (RLIMIT_NPROC).
	Processes int
	// Output is how many bytes of combined output Result.Output keeps.
	Output int
}

// Result is what a finished command left behind.
type Result struct {
	// ExitCode is the command's exit status, or 128 plus the signal number
	// when a signal ended it.
	ExitCode int
	// Output is the combined stdout and stderr, at most Limits.Output bytes
	// plus a note when Truncated.
	Output []byte
	// Truncated reports that output was dropped to respect Limits.Output.
	Truncated bool
	// TimedOut reports that Spec.Timeout expired and the command was
	// stopped.
	TimedOut bool
	// Cancelled reports that ctx was done and the command was stopped.
	Cancelled bool
	// OOMKilled reports that the kernel killed the command for exceeding
	// its memory cgroup (Output says at how much).
	OOMKilled bool
	// Duration is the wall-clock time from start to exit.
	Duration time.Duration
}

// Driver runs commands in one kind of sandbox. Drivers are safe for
// concurrent use.
type Driver interface {
	// Name is the driver's name as given to New.
	Name() string
	// Run runs the command described by s and waits for it to finish. The
	// error is for commands that could not be run; a failing command is
	// reported in the Result.
	Run(ctx context.Context, s Spec) (Result, error)
}

// New returns the driver called name: "bwrap" (also for ""), "kubernetes"
// or "none", configured from the process's environment. It does not check
// that the host can run the driver; see Check.
func New(name string, logger *slog.Logger) (Driver, error) {
	return NewFromEnv(name, os.Getenv, logger)
}

// NewFromEnv is New with the settings (SANDBOX_CGROUP, KUBE_NAMESPACE, …)
// read through getenv.
func NewFromEnv(name string, getenv func(string) string, logger *slog.Logger) (Driver, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch name {
	case "", "bwrap":
		return newBwrap(logger, getenv)
	case "none":
		logger.Warn("sandbox none: no isolation, for development only")
		return &noneDriver{logger: logger}, nil
	case "kubernetes":
		return newKubeFromEnv(getenv, logger)
	case "docker":
		return nil, errors.New("sandbox: docker driver not available in this build")
	default:
		return nil, fmt.Errorf("sandbox: unknown driver %q (want bwrap, kubernetes or none)", name)
	}
}

// MemoryBound says how d bounds the memory of a run: by a memory cgroup
// (Limits.Memory for all its processes together) or, where none can be
// had, only by an address-space limit per process; and how, in words, for
// `specloop doctor` and the worker's log.
func MemoryBound(d Driver) (cgroup bool, how string) {
	switch d := d.(type) {
	case *bwrapDriver:
		if d.cgroup != nil {
			return true, "a cgroup v2 memory limit per run, in " + d.cgroup.dir
		}
		return false, "an address-space limit per process, not a cgroup: " + d.cgroupWhy
	case *kubeDriver:
		return true, "the pod's memory limit, " + humanBytes(d.cfg.Memory)
	}
	return false, "an address-space limit per process"
}

// command checks s and returns its working copy as an absolute path and the
// argv it describes.
func (s Spec) command() (dir string, argv []string, err error) {
	switch {
	case s.Dir == "":
		return "", nil, errors.New("spec has no Dir")
	case len(s.Argv) > 0 && s.Shell != "":
		return "", nil, errors.New("spec sets both Argv and Shell")
	case len(s.Argv) == 0 && s.Shell == "":
		return "", nil, errors.New("spec sets neither Argv nor Shell")
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return "", nil, fmt.Errorf("spec has an invalid environment variable name %q", k)
		}
	}
	if dir, err = filepath.Abs(s.Dir); err != nil {
		return "", nil, fmt.Errorf("resolving working copy: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", nil, fmt.Errorf("checking working copy: %w", err)
	}
	if !fi.IsDir() {
		return "", nil, fmt.Errorf("working copy %s is not a directory", dir)
	}
	if s.Shell != "" {
		return dir, []string{"/bin/sh", "-c", s.Shell}, nil
	}
	return dir, s.Argv, nil
}

// env returns the command's environment as sorted KEY=value pairs, so that
// the same Spec always yields the same argv.
func (s Spec) env(home string) []string {
	m := map[string]string{
		"PATH": DefaultPath,
		"HOME": "/tmp",
		"LANG": "C.UTF-8",
	}
	if s.Home != "" {
		m["HOME"] = home
	}
	for k, v := range s.Env {
		m[k] = v
	}
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

func (s Spec) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return DefaultGrace
}

// addressSpace is the RLIMIT_AS that stands in for a memory cgroup.
func (l Limits) addressSpace() int64 {
	if l.AddressSpace > 0 {
		return l.AddressSpace
	}
	return l.Memory
}

// prlimitArgs returns the prlimit(1) invocation that applies l before
// executing the command, or nil when l sets no rlimit.
func (l Limits) prlimitArgs(prlimit string) []string {
	var args []string
	if l.CPU > 0 {
		secs := int64((l.CPU + time.Second - 1) / time.Second)
		// SIGXCPU at the limit, which a command may catch to stop cleanly;
		// SIGKILL a second later.
		args = append(args, "--cpu="+strconv.FormatInt(secs, 10)+":"+strconv.FormatInt(secs+1, 10))
	}
	if as := l.addressSpace(); as > 0 {
		args = append(args, "--as="+strconv.FormatInt(as, 10))
	}
	if l.Processes > 0 {
		args = append(args, "--nproc="+strconv.Itoa(l.Processes))
	}
	if args == nil {
		return nil
	}
	return append(append([]string{prlimit}, args...), "--")
}

// outputBuffer keeps the head and the tail of what is written to it, max
// bytes in all, and forwards everything to tee: how a command started and
// how it ended, where agents print their usage and final message and tools
// their failures. It never fails a write because of the cap: the command
// keeps running and the middle of its output is read and dropped.
type outputBuffer struct {
	max       int
	head      bytes.Buffer
	tail      []byte // a ring of the last max-max/2 bytes once head is full
	tailStart int    // where the oldest byte of tail is, once it wrapped
	tailFull  bool
	dropped   int64
	truncated bool
	tee       io.Writer
}

func newOutputBuffer(max int, tee io.Writer) *outputBuffer {
	if max <= 0 {
		max = DefaultOutput
	}
	return &outputBuffer{max: max, tee: tee}
}

func (w *outputBuffer) Write(p []byte) (int, error) {
	if w.tee != nil {
		// A failing live log must not kill the command or lose Output.
		_, _ = w.tee.Write(p)
	}
	n := len(p)
	if room := w.max/2 - w.head.Len(); room > 0 {
		k := min(room, len(p))
		w.head.Write(p[:k])
		p = p[k:]
	}
	tailMax := w.max - w.max/2
	for len(p) > 0 {
		if !w.tailFull {
			k := min(tailMax-len(w.tail), len(p))
			w.tail = append(w.tail, p[:k]...)
			p = p[k:]
			if len(w.tail) == tailMax {
				w.tailFull = true
			}
			continue
		}
		// Overwrite the oldest bytes.
		k := min(tailMax-w.tailStart, len(p))
		copy(w.tail[w.tailStart:], p[:k])
		w.dropped += int64(k)
		w.truncated = true
		w.tailStart = (w.tailStart + k) % tailMax
		p = p[k:]
	}
	return n, nil
}

func (w *outputBuffer) result() ([]byte, bool) {
	out := append([]byte(nil), w.head.Bytes()...)
	if w.truncated {
		out = fmt.Appendf(out, "\n[… %d bytes of output elided: the first and last %d bytes are kept …]\n", w.dropped, w.max/2)
	}
	out = append(out, w.tail[w.tailStart:]...)
	return append(out, w.tail[:w.tailStart]...), w.truncated
}
