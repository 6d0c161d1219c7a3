package workspace

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of Deadlines.
const (
	DefaultFetchTimeout  = 10 * time.Minute
	DefaultPushTimeout   = 5 * time.Minute
	DefaultLowSpeedLimit = 1000 // bytes per second
	DefaultLowSpeedTime  = 30 * time.Second
)

// Deadlines bound every git command that talks to a remote, so a remote
// that stops answering ends the call instead of the cycle waiting for good
// (its heartbeats would keep the lease alive, so nobody would take over).
// Zero fields take the defaults.
type Deadlines struct {
	// Fetch and Push bound a whole fetch or push.
	Fetch, Push time.Duration
	// A transfer slower than LowSpeedLimit bytes a second for LowSpeedTime
	// is abandoned (git's http.lowSpeedLimit and http.lowSpeedTime): a
	// remote that went silent fails in LowSpeedTime, well before Fetch or
	// Push.
	LowSpeedLimit int
	LowSpeedTime  time.Duration
}

func (d Deadlines) withDefaults() Deadlines {
	if d.Fetch <= 0 {
		d.Fetch = DefaultFetchTimeout
	}
	if d.Push <= 0 {
		d.Push = DefaultPushTimeout
	}
	if d.LowSpeedLimit <= 0 {
		d.LowSpeedLimit = DefaultLowSpeedLimit
	}
	if d.LowSpeedTime <= 0 {
		d.LowSpeedTime = DefaultLowSpeedTime
	}
	return d
}

// StallError is a fetch or push that a remote left hanging: it ran past
// its timeout or made no progress for the low-speed time. errors.Is
// matches it with context.DeadlineExceeded.
type StallError struct {
	// Op names the call, as "git push to specloop/issue-3" or
	// "git fetch of https://github.com/acme/widgets.git".
	Op string
	// NoProgress is set when the low-speed limit ended the call, else the
	// timeout did; For is how long it was given.
	NoProgress bool
	For        time.Duration
	err        error // git's own error
}

func (e *StallError) Error() string {
	what := fmt.Sprintf("did not finish within %s", e.For)
	if e.NoProgress {
		what = fmt.Sprintf("made no progress for %s", e.For)
	}
	return fmt.Sprintf("%s %s: the remote stopped answering; check that it is reachable, then try again (%v)", e.Op, what, e.err)
}

func (e *StallError) Unwrap() error { return e.err }

func (e *StallError) Is(target error) bool { return target == context.DeadlineExceeded }

// remote runs a git command that talks to a remote, under timeout and the
// low-speed limit; op names it in a StallError.
func (d Deadlines) remote(ctx context.Context, g gitCmd, op string, timeout time.Duration, args ...string) ([]byte, error) {
	d = d.withDefaults()
	g.config = append(g.config,
		[2]string{"http.lowSpeedLimit", strconv.Itoa(d.LowSpeedLimit)},
		[2]string{"http.lowSpeedTime", strconv.Itoa(max(1, int(d.LowSpeedTime/time.Second)))},
	)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := g.run(tctx, args...)
	if err == nil || ctx.Err() != nil {
		// The caller's own cancellation is not a stall.
		return out, err
	}
	if errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return out, &StallError{Op: op, For: timeout, err: err}
	}
	var ge *GitError
	if errors.As(err, &ge) && lowSpeedAbort(ge.Stderr) {
		return out, &StallError{Op: op, NoProgress: true, For: d.LowSpeedTime.Truncate(time.Second), err: err}
	}
	return out, err
}

// lowSpeedAbort reports whether git's stderr says curl gave up on a slow
// transfer (CURLE_OPERATION_TIMEDOUT, which http.lowSpeedTime triggers).
func lowSpeedAbort(stderr string) bool {
	return strings.Contains(stderr, "Operation too slow") || strings.Contains(stderr, "curl 28 ")
}

// fetch runs a git fetch from remoteURL under the Cache's deadlines.
func (c *Cache) fetch(ctx context.Context, g gitCmd, remoteURL string, args []string) ([]byte, error) {
	d := c.Deadlines
	return d.remote(ctx, g, "git fetch of "+redactURL(remoteURL), d.withDefaults().Fetch, args...)
}
