package cycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

// audit has an independent agent pass read the obligation and the diff
// and write a verdict; whatever else it writes is discarded.
func (p *pass) audit(ctx context.Context) *Evidence {
	e, in, wd, rep, res := p.e, p.in, p.wd, p.rep, p.res
	ev := &Evidence{Step: StepAudit}
	if !*in.Config.Audit {
		ev.Conclusion, ev.Title = state.Skipped, "Audit is off in .github/specloop.yml"
		ev.Summary = "**Tamper check:** passed (no spec or config file changed)\n\nThe auditor pass is disabled (`audit: false`)."
		res.Steps = append(res.Steps, ev)
		rep.StepStarted(ctx, StepAudit)
		rep.StepFinished(ctx, StepAudit, ev)
		return ev
	}
	rep.StepStarted(ctx, StepAudit)
	res.Steps = append(res.Steps, ev)
	// Keep the implementation aside: whatever the auditor writes besides its
	// verdict is discarded.
	saved, err := snapshot(wd, res.Changes)
	if err != nil {
		ev.Conclusion, ev.Title, ev.Summary = state.Failure, "Could not snapshot the change", err.Error()
		rep.StepFinished(ctx, StepAudit, ev)
		return ev
	}
	apin := p.pin
	apin.Diff = string(res.Patch)
	apin.AuditFile = agent.DefaultAuditFile
	prompt := agent.Prompt(agent.Auditor, apin)
	res.Prompts["auditor"] = prompt
	start := time.Now()
	out, runErr := p.runAgent(ctx, agent.Auditor, prompt)
	ev.Duration = time.Since(start)
	// The verdict channels in order: the CLI's structured output, a JSON
	// block in its final message, the audit file.
	var log []byte
	if out != nil {
		log = out.Log
	}
	verdict, channel, verr := agent.VerdictFrom(log, wd.Path, agent.DefaultAuditFile)
	if out != nil {
		ev.Log = out.Log
	}
	// Restore even when stopped: the auditor's edits never outlive its pass.
	if err := restore(context.WithoutCancel(ctx), wd, saved); err != nil {
		e.Logger.Error("restore after audit", "err", err)
	}
	tamper := "**Tamper check:** passed (no spec or config file changed)\n\n"
	switch {
	case ctx.Err() != nil || (out != nil && out.Cancelled):
		ev.Conclusion, ev.Title = state.Cancelled, "Stopped"
		p.conclude(state.Cancelled, "The cycle was stopped during audit; nothing was pushed.")
	case out != nil && out.BudgetHit != "":
		p.budgetSpent(ev, out.BudgetHit)
	case runErr != nil:
		ev.Conclusion, ev.Title, ev.Summary = state.Failure, "The auditor could not be started", tamper+runErr.Error()
	case out.TimedOut:
		ev.Conclusion, ev.Title, ev.Summary = state.Failure, "The auditor timed out", tamper+"No verdict: the auditor ran past its timeout."
	case verr != nil:
		ev.Conclusion, ev.Title = state.Failure, "No valid verdict"
		ev.Summary = tamper + "The audit fails because " + verr.Error() + "."
	default:
		ev.Findings = verdict.Findings
		ev.Conclusion, ev.Title = state.Success, "Auditor verdict: pass"
		if !verdict.Passed() {
			ev.Conclusion, ev.Title = state.Failure, "Auditor verdict: fail"
		}
		var b strings.Builder
		b.WriteString(tamper)
		fmt.Fprintf(&b, "**Verdict:** %s (from the %s)\n\n%s\n", verdict.Verdict, channel, verdict.Summary)
		if len(verdict.Findings) > 0 {
			b.WriteString("\n| file | line | finding |\n| --- | --- | --- |\n")
			for _, f := range verdict.Findings {
				fmt.Fprintf(&b, "| `%s` | %d | %s |\n", f.File, f.Line, markdown.Cell(f.Message))
			}
		}
		ev.Summary = b.String()
	}
	rep.StepFinished(ctx, StepAudit, ev)
	return ev
}

// saved is the implementation's changed files, to put back after the audit.
type saved struct {
	files   map[string][]byte
	deleted []string
}

func snapshot(wd *workspace.Workdir, changes []workspace.Change) (*saved, error) {
	s := &saved{files: map[string][]byte{}}
	for _, c := range changes {
		if c.Status == 'D' {
			s.deleted = append(s.deleted, c.Path)
			continue
		}
		b, err := wd.ReadFile(c.Path)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", c.Path, err)
		}
		s.files[c.Path] = b
	}
	return s, nil
}

func restore(ctx context.Context, wd *workspace.Workdir, s *saved) error {
	if err := wd.Reset(ctx); err != nil {
		return err
	}
	for p, b := range s.files {
		if err := wd.WriteFile(p, b); err != nil {
			return err
		}
	}
	for _, p := range s.deleted {
		if err := os.Remove(filepath.Join(wd.Path, filepath.FromSlash(path.Clean(p)))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
