// The agent's and verify's output as it is written: redacted chunks
// appended as "log" events, a few a second, for the run page's live view.

package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// Defaults of the live views.
const (
	// DefaultLiveEvery is the shortest time between two live log chunks of
	// a step: a few a second reads as live and keeps the events table small.
	DefaultLiveEvery = 300 * time.Millisecond
	// DefaultProgressEvery is the shortest time between two edits of the
	// progress comment, well within GitHub's content-creation limits.
	DefaultProgressEvery = 3 * time.Second
	// liveCap bounds the live log of one step; the stored log is whole.
	liveCap = 512 << 10
	// livePartial is how long an unfinished line may grow before it is
	// sent anyway.
	livePartial = 8 << 10
)

// liveLog buffers a step's output and appends it as events, redacted,
// at most one chunk per interval. Chunks end at line ends, so a secret on
// one line is redacted whole; a private key is held back until its END line.
type liveLog struct {
	every time.Duration
	red   *agent.Redactor
	emit  func(ctx context.Context, text string)
	ctx   context.Context

	mu      sync.Mutex
	buf     []byte
	timer   *time.Timer
	sent    int
	capped  bool
	closed  bool
	flushMu sync.Mutex // one flush at a time, so chunks keep their order
}

func (l *liveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.capped {
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	if l.timer == nil {
		l.timer = time.AfterFunc(l.every, func() { l.flush(false) })
	}
	return len(p), nil
}

// take removes the part of the buffer that is ready to send: whole lines,
// outside an unterminated private key (all of it when final).
func (l *liveLog) take(final bool) []byte {
	b := l.buf
	n := len(b)
	if !final {
		n = bytes.LastIndexByte(b, '\n') + 1
		if n == 0 && len(b) > livePartial {
			n = len(b)
		}
		if i := bytes.LastIndex(b[:n], []byte("-----BEGIN ")); i >= 0 && !bytes.Contains(b[i:n], []byte("-----END ")) {
			n = i // hold the key back until its end arrives
			if len(b)-i > liveCap {
				n = len(b) // never ends: the redactor masks it to the end
			}
		}
	}
	out := append([]byte(nil), b[:n]...)
	l.buf = append(l.buf[:0], b[n:]...)
	return out
}

func (l *liveLog) flush(final bool) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	l.timer = nil
	if l.closed && !final {
		l.mu.Unlock()
		return // dropped, or closed by Close's own final flush
	}
	chunk := l.take(final)
	if !final && len(l.buf) > 0 && !l.closed {
		l.timer = time.AfterFunc(l.every, func() { l.flush(false) })
	}
	over := false
	if len(chunk) > 0 && l.sent+len(chunk) > liveCap {
		chunk, over = chunk[:max(liveCap-l.sent, 0)], true
		l.capped = true
	}
	l.sent += len(chunk)
	l.mu.Unlock()
	if len(chunk) > 0 {
		l.emit(l.ctx, string(l.red.Redact(chunk)))
	}
	if over {
		l.emit(l.ctx, "\n[live log capped here; the whole log is stored with the step]\n")
	}
}

// Close sends what is left; later writes are dropped.
func (l *liveLog) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.flush(true)
	return nil
}

// drop ends the live log without sending what is left: the cycle was
// taken over, and its new worker writes the events now.
func (l *liveLog) drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed, l.buf = true, nil
	if l.timer != nil {
		l.timer.Stop()
	}
}

// dropAll stops every live log and the progress comment's pending edit of
// a cycle that lost its lease: it writes nothing more.
func (c *cycleRun) dropAll() {
	c.liveMu.Lock()
	for _, l := range c.live {
		l.drop()
	}
	c.live = nil
	c.liveMu.Unlock()
	c.progress.stop()
}

// Output is the engine's live writer for a step (cycle.LiveOutput). The
// fixer's attempts have their own (cycle.StepFix).
func (c *cycleRun) Output(step string) io.Writer {
	c.liveMu.Lock()
	defer c.liveMu.Unlock()
	if l, ok := c.live[step]; ok {
		return l
	}
	if c.live == nil {
		c.live = map[string]*liveLog{}
	}
	red := agent.NewRedactor()
	if c.d.Engine != nil && c.d.Engine.Redactor != nil {
		red = c.d.Engine.Redactor
	}
	every := c.d.LiveEvery
	if every <= 0 {
		every = DefaultLiveEvery
	}
	l := &liveLog{every: every, red: red, ctx: context.WithoutCancel(c.ctx),
		emit: func(ctx context.Context, text string) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			c.d.event(ctx, c.run.ID, c.cycle.ID, "log", step, "", text)
		}}
	c.live[step] = l
	return l
}

// closeLive sends the rest of a step's live log before the step's end is
// recorded, so the page shows the output before the outcome.
func (c *cycleRun) closeLive(step string) {
	c.liveMu.Lock()
	l := c.live[step]
	delete(c.live, step)
	c.liveMu.Unlock()
	if l != nil {
		l.Close()
	}
}

// closeAllLive ends every live log still open (a cycle that stopped midway).
func (c *cycleRun) closeAllLive() {
	c.liveMu.Lock()
	steps := make([]string, 0, len(c.live))
	for s := range c.live {
		steps = append(steps, s)
	}
	c.liveMu.Unlock()
	for _, s := range steps {
		c.closeLive(s)
	}
}

// FixStarted and FixFinished record each fix attempt (cycle.FixReporter).
func (c *cycleRun) FixStarted(ctx context.Context, attempt, of int) {
	c.closeLive(cycle.StepVerify) // the failing run's output comes first
	c.d.eventData(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepFix, "started", fixLabel(attempt, of)+" started", nil)
	c.progress.fix(fixLabel(attempt, of))
}

func (c *cycleRun) FixFinished(ctx context.Context, attempt, of int, exitCode int, err error) {
	c.closeLive(cycle.StepFix)
	outcome, msg := state.Success, fixLabel(attempt, of)+": the fixer finished"
	switch {
	case err != nil:
		outcome, msg = state.Failure, fixLabel(attempt, of)+": "+err.Error()
	case exitCode != 0:
		outcome, msg = state.Failure, fixLabel(attempt, of)+": the fixer exited "+itoa(exitCode)
	}
	c.d.eventData(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepFix, string(outcome), msg, nil)
}

func fixLabel(attempt, of int) string { return "fix " + itoa(attempt) + "/" + itoa(of) }

// eventData appends an event with its JSON data.
func (d *deps) eventData(ctx context.Context, runID, cycleID int64, kind, step, outcome, msg string, data []byte) {
	err := store.AppendEvent(ctx, d.Pool, &store.Event{RunID: runID, CycleID: cycleID, Kind: kind, Step: step, Outcome: outcome, Message: msg, Data: data})
	if err != nil {
		d.Logger.Error("append event", "run", runID, "err", err)
	}
}

// stepData is what the run page shows of a finished step.
func stepData(ev *cycle.Evidence) *store.StepData {
	d := &store.StepData{Title: ev.Title, Summary: ev.Summary, DurationMS: ev.Duration.Milliseconds()}
	for _, f := range ev.Findings {
		d.Findings = append(d.Findings, store.StepFinding{File: f.File, Line: f.Line, Message: f.Message, Severity: f.Severity})
	}
	if c := ev.Counts; c != nil {
		d.Counts = &store.StepCounts{Known: c.Known, Passed: c.Passed, Failed: c.Failed, Skipped: c.Skipped}
		for _, f := range c.Failing {
			d.Counts.Failing = append(d.Counts.Failing, store.StepFinding{File: f.File, Line: f.Line, Message: f.Name})
		}
	}
	if t := ev.Tokens; t != nil {
		d.Tokens = &store.StepTokens{Input: t.Input, Cached: t.Cached, Output: t.Output, Total: t.Total}
	}
	return d
}

func marshalStepData(d *store.StepData) []byte {
	b, err := json.Marshal(d)
	if err != nil { // strings and numbers only
		return nil
	}
	return b
}
