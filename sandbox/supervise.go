package sandbox

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
	"unsafe"
)

// waitDelay bounds how long Run waits for the command's output and input
// pipes to close once every process it knows of is gone.
const waitDelay = 2 * time.Second

// stopper stops every process a running command started.
type stopper interface {
	terminate() // SIGTERM: ask them to stop
	kill()      // SIGKILL: make them stop
}

// outcome is how the wait for a command ended.
type outcome struct {
	timedOut  bool
	cancelled bool
	duration  time.Duration
}

// supervise waits until the started cmd exits, stopping it through st when
// s.Timeout expires or ctx is done. It leaves cmd unreaped, so that its pid,
// and under the none driver its process group id, cannot be reused until the
// caller has cleaned up and called cmd.Wait.
func supervise(ctx context.Context, cmd *exec.Cmd, start time.Time, s Spec, st stopper) outcome {
	exited := make(chan struct{})
	go func() {
		waitExited(cmd.Process.Pid)
		close(exited)
	}()

	var timeout <-chan time.Time
	if s.Timeout > 0 {
		t := time.NewTimer(s.Timeout - time.Since(start))
		defer t.Stop()
		timeout = t.C
	}

	var o outcome
	select {
	case <-exited:
		o.duration = time.Since(start)
		return o
	case <-timeout:
		o.timedOut = true
	case <-ctx.Done():
		o.cancelled = true
	}

	st.terminate()
	grace := time.NewTimer(s.grace())
	defer grace.Stop()
	select {
	case <-exited:
	case <-grace.C:
		st.kill()
		<-exited
	}
	o.duration = time.Since(start)
	return o
}

// waitExited blocks until the process pid has exited, without reaping it
// (waitid with WNOWAIT).
func waitExited(pid int) {
	const pPID = 1     // P_PID in <sys/wait.h>
	var info [128]byte // siginfo_t, unused
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			// Any other error (ECHILD) means there is nothing left to
			// wait for; cmd.Wait reports the details.
			return
		}
	}
}

// exitCode returns the exit status of a reaped cmd in the shell's
// convention: 128 plus the signal number when a signal ended it.
func exitCode(cmd *exec.Cmd, waitErr error) (int, error) {
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return 0, waitErr
	}
	if cmd.ProcessState == nil {
		return 0, waitErr
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return cmd.ProcessState.ExitCode(), nil
}
