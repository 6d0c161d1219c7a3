package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// noneDriver runs commands as plain subprocesses of the worker. It isolates
// nothing; it exists so that specloop runs where bubblewrap cannot.
type noneDriver struct {
	logger *slog.Logger
}

func (d *noneDriver) Name() string { return "none" }

func (d *noneDriver) Run(ctx context.Context, s Spec) (Result, error) {
	dir, argv, err := s.command()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox none: %w", err)
	}
	if argv, err = withLimits(s.Limits, argv); err != nil {
		return Result{}, fmt.Errorf("sandbox none: %w", err)
	}

	out := newOutputBuffer(s.Limits.Output, s.Stdout)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = s.env(s.Home)
	cmd.Stdin = s.Stdin
	cmd.Stdout, cmd.Stderr = out, out
	// A process group of its own lets us signal everything the command
	// started, background jobs included, in one kill(2).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = waitDelay

	d.logger.Debug("sandbox run", "driver", "none", "dir", dir, "argv", argv, "timeout", s.Timeout)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("sandbox none: starting %s: %w", argv[0], err)
	}
	pgid := cmd.Process.Pid
	o := supervise(ctx, cmd, start, s, processGroup(pgid))
	// The leader is not reaped yet, so pgid still names this group: kill
	// whatever the command left running in the background.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	code, err := exitCode(cmd, cmd.Wait())
	waitGroupGone(pgid, time.Second)
	if err != nil {
		return Result{}, fmt.Errorf("sandbox none: waiting for %s: %w", argv[0], err)
	}

	res := Result{ExitCode: code, TimedOut: o.timedOut, Cancelled: o.cancelled, Duration: o.duration}
	res.Output, res.Truncated = out.result()
	d.logger.Debug("sandbox done", "driver", "none", "exit_code", res.ExitCode,
		"timed_out", res.TimedOut, "cancelled", res.Cancelled, "duration", res.Duration)
	return res, nil
}

// processGroup stops the processes of one process group.
type processGroup int

func (g processGroup) terminate() { _ = syscall.Kill(-int(g), syscall.SIGTERM) }
func (g processGroup) kill()      { _ = syscall.Kill(-int(g), syscall.SIGKILL) }

// waitGroupGone waits, at most for timeout, until process group pgid is
// empty, so that a caller who looks right after Run finds nothing running:
// SIGKILL is delivered at once but takes effect when the process is next
// scheduled. The leader must be reaped already. Signal 0 cannot harm a
// group that reuses the id.
func waitGroupGone(pgid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}

// withLimits prefixes argv with the prlimit(1) call that applies l, if any.
func withLimits(l Limits, argv []string) ([]string, error) {
	if l.CPU <= 0 && l.addressSpace() <= 0 && l.Processes <= 0 {
		return argv, nil
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		return nil, fmt.Errorf("applying limits: prlimit not found (install util-linux): %w", err)
	}
	return append(l.prlimitArgs(prlimit), argv...), nil
}
