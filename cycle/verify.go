package cycle

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/verify"
)

// verifyCommand picks the verify command: the spec's, the repo config's, or
// one detected from the project's files.
func verifyCommand(in Input, dir string) string {
	if in.Spec.Verify != "" {
		return in.Spec.Verify
	}
	if in.Config.Verify.Command != "" {
		return in.Config.Verify.Command
	}
	return verify.Detect(dir)
}

// verify runs the verify command and, while it fails, gives the agent the
// failure to fix, up to fix_attempts; it concludes the cycle only when it
// was stopped or a fix touched protected files.
func (p *pass) verify(ctx context.Context) *Evidence {
	in, cfg, wd, rep, res := p.in, p.cfg, p.wd, p.rep, p.res
	rep.StepStarted(ctx, StepVerify)
	command := verifyCommand(in, wd.Path)
	ev := &Evidence{Step: StepVerify}
	res.Steps = append(res.Steps, ev)
	if command == "" {
		ev.Conclusion, ev.Title = state.Neutral, "No verify command"
		ev.Summary = "No `verify:` in the spec or `.github/specloop.yml`, and no go.mod, Cargo.toml, package.json or pyproject.toml to detect one from."
		rep.StepFinished(ctx, StepVerify, ev)
		return ev
	}
	rec := res.Verify
	if rec == nil || rec.Command != command { // no baseline ran (the command came from the agent's files)
		rec = &VerifyRecord{Command: command, Require: p.requirement()}
		res.Verify = rec
	}
	var log bytes.Buffer
	attempts := 0
	start := time.Now()
	for {
		run, output, r := p.runVerify(ctx, command, p.liveCommand(StepVerify, fmt.Sprintf("$ %s   # attempt %d\n", command, attempts+1)))
		if run.Error != "" {
			rec.judge(run)
			ev.Conclusion, ev.Title = state.Failure, "The verify command could not be run"
			ev.Summary = fmt.Sprintf("Command `%s`: %v", command, run.Error)
			break
		}
		fmt.Fprintf(&log, "$ %s   # attempt %d, exit %d\n%s\n", command, attempts+1, r.ExitCode, output)
		counts := verify.ParseCounts(output)
		if !counts.Known && run.Tests.Available() {
			counts = run.Tests.CountsOf()
		}
		ev.Counts = &counts
		ev.Conclusion = state.Success
		switch {
		case r.Cancelled || ctx.Err() != nil:
			ev.Conclusion = state.Cancelled
		case r.TimedOut:
			ev.Conclusion = state.TimedOut
		case r.ExitCode != 0:
			ev.Conclusion = state.Failure
		}
		ev.Title = fmt.Sprintf("`%s` exited %d", command, r.ExitCode)
		if r.TimedOut {
			ev.Title = fmt.Sprintf("`%s` timed out after %s", command, time.Duration(cfg.Verify.Timeout))
		}
		short, why := rec.judge(run)
		if why != "" && ev.Conclusion == state.Success {
			ev.Conclusion = state.Failure
			ev.Title = fmt.Sprintf("`%s` exited 0, but %s", command, short)
		}
		ev.Summary = verifySummary(command, r.ExitCode, counts, attempts)
		if why != "" {
			ev.Summary += "\n:x: Verify fails: " + why + ".\n"
			output = append(output, []byte("\nspecloop: verify fails: "+why+".\n")...)
		}
		ev.Summary += rec.redGreenSummary(wd.Base)
		ev.Text = "```\n" + markdown.Tail(string(output), 20000) + "\n```"
		ev.Findings = nil
		for _, f := range counts.Failing {
			if f.File != "" && f.Line > 0 {
				ev.Findings = append(ev.Findings, agent.Finding{File: f.File, Line: f.Line, Message: f.Name + ": " + f.Message, Severity: "failure"})
			}
		}
		if ev.Conclusion != state.Failure || attempts >= *cfg.FixAttempts {
			break
		}
		// Fix: give the agent the failure and verify again.
		attempts++
		fpin := p.pin
		fpin.VerifyFailure = string(output)
		prompt := agent.Prompt(agent.Fixer, fpin)
		res.Prompts[fmt.Sprintf("fixer-%d", attempts)] = prompt
		p.fixStarted(ctx, attempts, *cfg.FixAttempts)
		out, err := p.runAgent(ctx, agent.Fixer, prompt, p.live(StepFix))
		p.fixFinished(ctx, attempts, *cfg.FixAttempts, out, err)
		if err == nil {
			fmt.Fprintf(&log, "--- fixer attempt %d (exit %d) ---\n%s\n", attempts, out.ExitCode, out.Log)
		}
		if ctx.Err() != nil {
			ev.Conclusion = state.Cancelled
			break
		}
		if out != nil && out.BudgetHit != "" {
			ev.Duration, ev.Log = time.Since(start), log.Bytes()
			p.budgetSpent(ev, out.BudgetHit)
			rep.StepFinished(ctx, StepVerify, ev)
			return ev
		}
		changes, cerr := wd.Changes(ctx)
		if cerr == nil {
			if bad := tampered(cfg, in.Spec, withoutScratch(changes), p.plainSpec); len(bad) > 0 {
				ev.Log = log.Bytes()
				rep.StepFinished(ctx, StepVerify, ev)
				p.refuseTamper(ctx, bad)
				return ev
			}
		}
	}
	ev.Duration = time.Since(start)
	ev.Log = log.Bytes()
	rep.StepFinished(ctx, StepVerify, ev)
	if ev.Conclusion == state.Cancelled {
		p.conclude(state.Cancelled, "The cycle was stopped during verify; nothing was pushed.")
	}
	return ev
}

func verifySummary(command string, exit int, c verify.Counts, fixes int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| | |\n| --- | --- |\n| command | `%s` |\n| exit code | %d |\n| fix attempts | %d |\n", command, exit, fixes)
	if c.Known {
		fmt.Fprintf(&b, "| passed | %d |\n| failed | %d |\n| skipped | %d |\n", c.Passed, c.Failed, c.Skipped)
	} else {
		b.WriteString("| counts | not recognised in the output |\n")
	}
	if len(c.Failing) > 0 {
		b.WriteString("\n**Failing tests**\n\n")
		for _, f := range c.Failing {
			loc := ""
			if f.File != "" {
				loc = fmt.Sprintf(" (`%s:%d`)", f.File, f.Line)
			}
			fmt.Fprintf(&b, "- `%s`%s\n", f.Name, loc)
		}
	}
	return b.String()
}
