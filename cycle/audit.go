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
	res.Weakening = p.weakening()
	if !*in.Config.Audit {
		ev.Conclusion, ev.Title = state.Skipped, "Audit is off in .github/specloop.yml"
		ev.Summary = "**Tamper check:** passed (no spec or config file changed)\n\nThe auditor pass is disabled (`audit: false`)."
		applyWeakening(ev, res.Weakening)
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
	apin.Checks = append([]agent.Finding{}, res.Weakening...)
	prompt := agent.Prompt(agent.Auditor, apin)
	res.Prompts["auditor"] = prompt
	start := time.Now()
	out, runErr := p.runAgent(ctx, agent.Auditor, prompt, p.live(StepAudit))
	ev.Duration = time.Since(start)
	// The verdict channels in order: the CLI's structured output, a JSON
	// block in its final message, the audit file.
	var log []byte
	if out != nil {
		log = out.Log
	}
	verdict, channel, verr := agent.VerdictFrom(log, wd.Path, agent.DefaultAuditFile)
	// Read before the restore, which drops what the auditor wrote.
	asked := ctx.Err() == nil && runErr == nil && out != nil && !out.Cancelled && !out.TimedOut && p.auditQuestion(ev)
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
	case asked:
		// auditQuestion filled in the evidence and the conclusion.
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
	if ev.Conclusion != state.Cancelled {
		applyWeakening(ev, res.Weakening)
	}
	rep.StepFinished(ctx, StepAudit, ev)
	return ev
}

// weakening runs the deterministic test-weakening checks on the change.
func (p *pass) weakening() []agent.Finding {
	ob := p.res.Obligation
	text := ob.Text + "\n" + strings.Join(ob.Details, "\n")
	return Weakening(WeakenInput{Patch: p.res.Patch, VerifyCommand: verifyCommand(p.in, p.wd.Path), Obligation: text})
}

// applyWeakening adds the test-weakening findings to the audit's evidence:
// a failing one fails the audit whatever the auditor said.
func applyWeakening(ev *Evidence, findings []agent.Finding) {
	var b strings.Builder
	failing := Failing(findings)
	switch {
	case len(findings) == 0:
		b.WriteString("**Test-weakening check:** passed (no test deleted or skipped, no assertion removed, no expected value edited, verify config and CI untouched)\n\n")
	default:
		fmt.Fprintf(&b, "**Test-weakening check:** %s (%d failing, %d warning; deterministic, whatever the auditor says)\n\n| file | line | severity | finding |\n| --- | --- | --- | --- |\n",
			map[bool]string{true: "failed", false: "passed with warnings"}[failing > 0], failing, len(findings)-failing)
		for _, f := range findings {
			fmt.Fprintf(&b, "| `%s` | %d | %s | %s |\n", f.File, f.Line, f.Severity, markdown.Cell(f.Message))
		}
		b.WriteString("\n")
	}
	ev.Summary = b.String() + ev.Summary
	ev.Findings = append(append([]agent.Finding{}, findings...), ev.Findings...)
	if failing > 0 {
		verdict := ev.Title
		ev.Conclusion = state.Failure
		ev.Title = fmt.Sprintf("Test-weakening check failed: %d finding(s) (%s)", failing, verdict)
	}
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
