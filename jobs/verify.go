package jobs

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/workspace"
)

// verifyCommand picks the verify command: the spec's, the repo config's, or
// one detected from the project's files.
func verifyCommand(in CycleInput, dir string) string {
	if in.Spec.Verify != "" {
		return in.Spec.Verify
	}
	if in.Config.Verify.Command != "" {
		return in.Config.Verify.Command
	}
	return agent.DetectVerify(dir)
}

func (e *Engine) verify(ctx context.Context, wd *workspace.Workdir, in CycleInput, rep Reporter, pin agent.PromptInput, env map[string]string, res *Result) *Evidence {
	cfg := in.Config
	rep.StepStarted(ctx, StepVerify)
	command := verifyCommand(in, wd.Path)
	ev := &Evidence{Step: StepVerify}
	res.Steps = append(res.Steps, ev)
	if command == "" {
		ev.Conclusion, ev.Title = "neutral", "No verify command"
		ev.Summary = "No `verify:` in the spec or `.github/specloop.yml`, and no go.mod, Cargo.toml, package.json or pyproject.toml to detect one from."
		rep.StepFinished(ctx, StepVerify, ev)
		return ev
	}
	var log bytes.Buffer
	attempts := 0
	start := time.Now()
	for {
		r, err := e.Runner.Run(ctx, agent.Command{Dir: wd.Path, Shell: command, Network: cfg.Verify.Network, Timeout: time.Duration(cfg.Verify.Timeout)})
		if err != nil {
			ev.Conclusion, ev.Title = "failure", "The verify command could not be run"
			ev.Summary = fmt.Sprintf("Command `%s`: %v", command, err)
			break
		}
		output := e.Redactor.Redact(r.Output)
		fmt.Fprintf(&log, "$ %s   # attempt %d, exit %d\n%s\n", command, attempts+1, r.ExitCode, output)
		counts := agent.ParseTestCounts(output)
		ev.Conclusion = "success"
		switch {
		case r.Cancelled || ctx.Err() != nil:
			ev.Conclusion = "cancelled"
		case r.TimedOut:
			ev.Conclusion = "timed_out"
		case r.ExitCode != 0:
			ev.Conclusion = "failure"
		}
		ev.Title = fmt.Sprintf("`%s` exited %d", command, r.ExitCode)
		if r.TimedOut {
			ev.Title = fmt.Sprintf("`%s` timed out after %s", command, time.Duration(cfg.Verify.Timeout))
		}
		ev.Summary = verifySummary(command, r.ExitCode, counts, attempts)
		ev.Text = "```\n" + tail(string(output), 20000) + "\n```"
		ev.Findings = nil
		for _, f := range counts.Failing {
			if f.File != "" && f.Line > 0 {
				ev.Findings = append(ev.Findings, agent.Finding{File: f.File, Line: f.Line, Message: f.Name + ": " + f.Message, Severity: "failure"})
			}
		}
		if ev.Conclusion != "failure" || attempts >= *cfg.FixAttempts {
			break
		}
		// Fix: give the agent the failure and verify again.
		attempts++
		fpin := pin
		fpin.VerifyFailure = string(output)
		prompt := agent.Prompt(agent.Fixer, fpin)
		res.Prompts[fmt.Sprintf("fixer-%d", attempts)] = prompt
		out, err := e.runAgent(ctx, cfg.Agent.Command, agent.Fixer, prompt, wd.Path, env, cfg)
		if err == nil {
			fmt.Fprintf(&log, "--- fixer attempt %d (exit %d) ---\n%s\n", attempts, out.ExitCode, out.Log)
		}
		if ctx.Err() != nil {
			ev.Conclusion = "cancelled"
			break
		}
		changes, cerr := wd.Changes(ctx)
		if cerr == nil {
			if bad := e.tampered(cfg, in.Spec, withoutScratch(changes)); len(bad) > 0 {
				ev.Log = log.Bytes()
				rep.StepFinished(ctx, StepVerify, ev)
				e.refuseTamper(ctx, wd, res, bad, rep)
				return ev
			}
		}
	}
	ev.Duration = time.Since(start)
	ev.Log = log.Bytes()
	rep.StepFinished(ctx, StepVerify, ev)
	if ev.Conclusion == "cancelled" {
		res.Conclusion, res.Summary = "cancelled", "The cycle was stopped during verify; nothing was pushed."
	}
	return ev
}

func verifySummary(command string, exit int, c agent.Counts, fixes int) string {
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
