package cycle

import (
	"context"
	"io"

	"github.com/specloop/specloop/agent"
)

// StepFix names the fix attempts inside verify, as the run page shows them
// ("fix 1/2").
const StepFix = "fix"

// LiveOutput is implemented by a Reporter that shows a step's output while
// it is written (the run page streams it). The writer gets the raw output;
// it redacts before showing anything. Output may return nil.
type LiveOutput interface {
	Output(step string) io.Writer
}

// FixReporter is implemented by a Reporter that shows each fix attempt of
// verify as it starts and ends.
type FixReporter interface {
	FixStarted(ctx context.Context, attempt, of int)
	FixFinished(ctx context.Context, attempt, of int, exitCode int, err error)
}

// live is the reporter's live writer for step, or nil.
func (p *pass) live(step string) io.Writer {
	lo, ok := p.rep.(LiveOutput)
	if !ok {
		return nil
	}
	return lo.Output(step)
}

// liveCommand is live with a header line written first (the command being
// run), so the live log reads like the stored one.
func (p *pass) liveCommand(step, header string) io.Writer {
	w := p.live(step)
	if w != nil {
		_, _ = io.WriteString(w, header) // a live view that fails must not fail the step
	}
	return w
}

func (p *pass) fixStarted(ctx context.Context, attempt, of int) {
	if fr, ok := p.rep.(FixReporter); ok {
		fr.FixStarted(ctx, attempt, of)
	}
}

func (p *pass) fixFinished(ctx context.Context, attempt, of int, out *agent.Outcome, err error) {
	fr, ok := p.rep.(FixReporter)
	if !ok {
		return
	}
	code := -1
	if out != nil {
		code = out.ExitCode
	}
	fr.FixFinished(ctx, attempt, of, code, err)
}
