package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/workspace"
)

// Engine runs the steps of a cycle on a working copy: select, implement,
// verify, fix, audit. It knows nothing of GitHub or the database, so the
// same engine serves the workers and `specloop cycle` on a local checkout.
type Engine struct {
	Runner   agent.Runner     // the sandbox
	Mirrors  *workspace.Cache // per-repo mirrors and working copies
	Redactor *agent.Redactor
	Logger   *slog.Logger
	// Getenv reads the worker's environment for the names a repo config
	// passes to the agent (agent.env); nothing else enters the sandbox.
	Getenv func(string) string
	// LogCap bounds each stored log.
	LogCap int
	// SandboxErr, when set, is why this worker cannot run cycles (bwrap
	// without user namespaces): cycles fail with it instead of running
	// unsandboxed.
	SandboxErr error
}

// Step names, as check runs and events show them.
const (
	StepPrepare   = "prepare"
	StepSelect    = "select"
	StepImplement = "implement"
	StepVerify    = "verify"
	StepAudit     = "audit"
	StepPublish   = "publish"
)

// Reporter receives a cycle's progress: the workers turn it into check runs
// and events, `specloop cycle` prints it.
type Reporter interface {
	// Selected says which obligation the cycle works on (nil: none left).
	Selected(ctx context.Context, ob *spec.Obligation)
	StepStarted(ctx context.Context, step string)
	StepFinished(ctx context.Context, step string, ev *Evidence)
}

// Evidence is what a step leaves for a reviewer.
type Evidence struct {
	Step       string
	Conclusion string // success | failure | neutral | cancelled | timed_out | action_required | skipped
	Title      string
	Summary    string // Markdown
	Text       string // details: log tail
	Log        []byte // the full (capped, redacted) log, stored as an artifact
	Findings   []agent.Finding
	Duration   time.Duration
}

// CycleInput is what a cycle works on.
type CycleInput struct {
	Config *RepoConfig
	Spec   *spec.Spec
	// PinnedID, when set, is the obligation to work on (a retry); otherwise
	// the spec's next open obligation.
	PinnedID string
	// PreviousFailure returns how the last cycle of an obligation failed,
	// for the next attempt's prompt ("" if it did not).
	PreviousFailure func(obligationID string) string
}

// Result is a cycle's outcome.
type Result struct {
	Conclusion string
	Summary    string
	Obligation *spec.Obligation
	Steps      []*Evidence
	Changes    []workspace.Change
	Patch      []byte
	Prompts    map[string]string // role → prompt, stored as artifacts
	// Publish says whether to commit and push; Draft marks a failing
	// verify or audit, pushed so the human sees the evidence.
	Publish bool
	Draft   bool
	// Ticked is the spec file with the obligation checked off, when the
	// cycle succeeded and the spec is a file.
	Ticked []byte
}

func (r *Result) step(name string) *Evidence {
	for _, e := range r.Steps {
		if e.Step == name {
			return e
		}
	}
	return nil
}

// Step returns the evidence of a step, or nil if it did not run.
func (r *Result) Step(name string) *Evidence { return r.step(name) }

// Run runs select → implement → verify (→ fix) → audit on wd. It always
// returns a Result with a conclusion; ctx cancellation concludes
// `cancelled`.
func (e *Engine) Run(ctx context.Context, wd *workspace.Workdir, in CycleInput, rep Reporter) *Result {
	res := &Result{Prompts: map[string]string{}}
	if e.SandboxErr != nil {
		res.Conclusion, res.Summary = "failure", "this worker cannot sandbox cycles: "+e.SandboxErr.Error()
		return res
	}
	// Select.
	ob, ok := e.selectObligation(in)
	if !ok {
		rep.Selected(ctx, nil)
		res.Conclusion = "neutral"
		res.Summary = "Nothing to do: every obligation of the spec is done (or waits on one that is not)."
		if in.PinnedID != "" {
			res.Summary = fmt.Sprintf("Nothing to do: obligation `%s` is done or no longer in the spec.", in.PinnedID)
		}
		return res
	}
	res.Obligation = ob
	rep.Selected(ctx, ob)
	cfg := in.Config
	instructions, _ := wd.ReadFile("AGENTS.md")
	pin := agent.PromptInput{
		Obligation:       agent.Obligation{ID: ob.ID, Text: ob.Text, Headings: ob.Headings, Section: ob.Section},
		SpecPath:         specPathForPrompt(in.Spec),
		RepoInstructions: string(instructions),
		PreviousFailure:  previousFailure(in, ob.ID),
		Paths:            in.Spec.Paths,
	}
	env := e.agentEnv(cfg)

	// Implement.
	rep.StepStarted(ctx, StepImplement)
	prompt := agent.Prompt(agent.Implementer, pin)
	res.Prompts["implementer"] = prompt
	out, err := e.runAgent(ctx, cfg.Agent.Command, agent.Implementer, prompt, wd.Path, env, cfg)
	impl := implementEvidence(ob, out, err)
	changes, cerr := wd.Changes(ctx)
	if cerr != nil {
		impl.Conclusion, impl.Summary = "failure", impl.Summary+"\n\nCould not read the changes: "+cerr.Error()
	}
	changes = withoutScratch(changes)
	impl.Summary += changesTable(changes)
	res.Steps = append(res.Steps, impl)
	rep.StepFinished(ctx, StepImplement, impl)
	switch {
	case ctx.Err() != nil || (out != nil && out.Cancelled):
		res.Conclusion, res.Summary = "cancelled", "The cycle was stopped during implement; nothing was pushed."
		return res
	case out != nil && out.TimedOut:
		res.Conclusion, res.Summary = "timed_out", fmt.Sprintf("The agent ran past its %s timeout; nothing was pushed.", time.Duration(cfg.Agent.Timeout))
		return res
	case impl.Conclusion != "success":
		res.Conclusion, res.Summary = "failure", "The agent failed; nothing was pushed. "+impl.Title
		return res
	}
	if bad := e.tampered(cfg, in.Spec, changes); len(bad) > 0 {
		return e.refuseTamper(ctx, wd, res, bad, rep)
	}
	if len(changes) == 0 {
		res.Conclusion, res.Summary = "neutral", "The agent made no change; nothing was pushed."
		return res
	}

	// Verify, and fix while it fails.
	verify := e.verify(ctx, wd, in, rep, pin, env, res)
	if res.Conclusion != "" { // stopped or tampered during a fix
		return res
	}
	if changes, cerr = wd.Changes(ctx); cerr != nil {
		res.Conclusion, res.Summary = "failure", "Could not read the changes: "+cerr.Error()
		return res
	}
	res.Changes = withoutScratch(changes)
	if res.Patch, err = wd.Diff(ctx); err != nil {
		res.Conclusion, res.Summary = "failure", "Could not diff the changes: "+err.Error()
		return res
	}
	res.Patch = e.Redactor.Redact(res.Patch)

	// Audit.
	audit := e.audit(ctx, wd, in, rep, pin, env, res)
	if res.Conclusion != "" {
		return res
	}

	res.Publish = true
	switch {
	case verify.Conclusion == "failure" || verify.Conclusion == "timed_out":
		res.Conclusion, res.Draft = "failure", true
		res.Summary = "Verify still fails after the fix attempts; pushed as a draft so the evidence can be read."
	case audit.Conclusion == "failure":
		res.Conclusion, res.Draft = "failure", true
		res.Summary = "The auditor failed the change; pushed as a draft with its findings."
	default:
		res.Conclusion = "success"
		res.Summary = fmt.Sprintf("Obligation `%s` done: %s", ob.ID, ob.Text)
		if in.Spec.Path != "" && !isIssueSpec(in.Spec) {
			src, err := wd.ReadFile(in.Spec.Path)
			if err == nil {
				if res.Ticked, err = spec.Tick(in.Spec.Path, src, ob.ID); err != nil && !errors.Is(err, spec.ErrNoCheckbox) {
					e.Logger.Warn("tick obligation", "id", ob.ID, "err", err)
				}
			}
		}
	}
	return res
}

func (e *Engine) selectObligation(in CycleInput) (*spec.Obligation, bool) {
	if in.PinnedID != "" {
		ob := in.Spec.Obligation(in.PinnedID)
		if ob == nil || ob.Done {
			return nil, false
		}
		return ob, true
	}
	return in.Spec.Next()
}

func previousFailure(in CycleInput, id string) string {
	if in.PreviousFailure == nil {
		return ""
	}
	return in.PreviousFailure(id)
}

func isIssueSpec(s *spec.Spec) bool {
	return strings.HasPrefix(s.Path, "issue-") && !strings.Contains(s.Path, "/")
}

func specPathForPrompt(s *spec.Spec) string {
	if isIssueSpec(s) {
		return ""
	}
	return s.Path
}

// agentEnv is the environment the repo config passes into the sandbox: the
// named variables from the worker's environment, never the server's secrets.
func (e *Engine) agentEnv(cfg *RepoConfig) map[string]string {
	env := map[string]string{}
	for _, name := range cfg.Agent.Env {
		if forbiddenEnv(name) || e.Getenv == nil {
			continue
		}
		if v := e.Getenv(name); v != "" {
			env[name] = v
		}
	}
	return env
}

func (e *Engine) runAgent(ctx context.Context, command string, role agent.Role, prompt, dir string, env map[string]string, cfg *RepoConfig) (*agent.Outcome, error) {
	network := true // hosted agents need their API; a repo can turn it off
	if cfg.Agent.Network != nil {
		network = *cfg.Agent.Network
	}
	if role == agent.Auditor && cfg.Auditor != nil && cfg.Auditor.Command != "" {
		command = cfg.Auditor.Command
	}
	return agent.Run(ctx, e.Runner, command, role, prompt, agent.RunOptions{
		Dir: dir, Env: env, Network: network, Timeout: time.Duration(cfg.Agent.Timeout), LogCap: e.LogCap, Redactor: e.Redactor,
	})
}

func implementEvidence(ob *spec.Obligation, out *agent.Outcome, err error) *Evidence {
	ev := &Evidence{Step: StepImplement}
	head := fmt.Sprintf("**Obligation** `%s`: %s\n\n", ob.ID, ob.Text)
	if err != nil {
		ev.Conclusion, ev.Title = "failure", "The agent could not be started"
		ev.Summary = head + "Error: `" + err.Error() + "`\n\nCheck `agent.command` in `.github/specloop.yml`."
		return ev
	}
	ev.Duration, ev.Log = out.Duration, out.Log
	ev.Text = "```\n" + tail(string(out.Log), 6000) + "\n```"
	tokens := "not reported by the agent"
	if out.Tokens != nil {
		tokens = fmt.Sprintf("%d in, %d out, %d total", out.Tokens.Input, out.Tokens.Output, out.Tokens.Total)
	}
	switch {
	case out.Cancelled:
		ev.Conclusion, ev.Title = "cancelled", "Stopped"
	case out.TimedOut:
		ev.Conclusion, ev.Title = "timed_out", "The agent timed out"
	case out.ExitCode != 0:
		ev.Conclusion, ev.Title = "failure", fmt.Sprintf("The agent exited with %d", out.ExitCode)
	default:
		ev.Conclusion, ev.Title = "success", "The agent finished"
	}
	ev.Summary = head + fmt.Sprintf("| | |\n| --- | --- |\n| exit code | %d |\n| duration | %s |\n| tokens | %s |\n",
		out.ExitCode, out.Duration.Round(time.Millisecond), tokens)
	return ev
}

func changesTable(changes []workspace.Change) string {
	if len(changes) == 0 {
		return "\n**Files changed:** none.\n"
	}
	var b strings.Builder
	b.WriteString("\n**Files changed**\n\n| file | | + | − |\n| --- | --- | --- | --- |\n")
	for _, c := range changes {
		fmt.Fprintf(&b, "| `%s` | %c | %d | %d |\n", c.Path, c.Status, c.Added, c.Deleted)
	}
	return b.String()
}

// scratchDir holds files the bot and the auditor write; it is never part of
// a commit.
const scratchDir = ".specloop/"

func withoutScratch(changes []workspace.Change) []workspace.Change {
	out := changes[:0:0]
	for _, c := range changes {
		if !strings.HasPrefix(c.Path, scratchDir) {
			out = append(out, c)
		}
	}
	return out
}

// tampered lists changed paths the agent may not touch: specs and the repo
// config always; outside the spec's `paths:` when it sets them.
func (e *Engine) tampered(cfg *RepoConfig, s *spec.Spec, changes []workspace.Change) []string {
	var bad []string
	for _, c := range changes {
		switch {
		case cfg.Protected(c.Path) || (!isIssueSpec(s) && c.Path == s.Path):
			bad = append(bad, c.Path)
		case len(s.Paths) > 0 && !spec.Match(s.Paths, c.Path):
			bad = append(bad, c.Path)
		}
	}
	return bad
}

// refuseTamper discards the agent's changes and concludes action_required
// with the offending diff as the audit evidence.
func (e *Engine) refuseTamper(ctx context.Context, wd *workspace.Workdir, res *Result, bad []string, rep Reporter) *Result {
	rep.StepStarted(ctx, StepAudit)
	diff, _ := wd.Diff(ctx)
	diff = e.Redactor.Redact(diff)
	offending := filterDiff(diff, bad)
	if err := wd.Reset(ctx); err != nil {
		e.Logger.Error("discard tampered changes", "err", err)
	}
	ev := &Evidence{
		Step: StepAudit, Conclusion: "action_required",
		Title: fmt.Sprintf("Tamper check failed: the agent changed %d protected file(s)", len(bad)),
		Summary: "The agent may not edit spec files, `.github/specloop.yml`, or files outside the spec's `paths:`; only specloop checks an obligation off. " +
			"The cycle's changes were discarded and nothing was pushed.\n\n**Tamper check:** failed\n\n" +
			"| protected file |\n| --- |\n| `" + strings.Join(bad, "` |\n| `") + "` |\n",
		Text: "```diff\n" + tail(string(offending), 60000) + "\n```",
		Log:  offending,
	}
	for _, p := range bad {
		ev.Findings = append(ev.Findings, agent.Finding{File: p, Line: 1, Message: "changed by the agent: protected file", Severity: "failure"})
	}
	res.Steps = append(res.Steps, ev)
	rep.StepFinished(ctx, StepAudit, ev)
	res.Conclusion = "action_required"
	res.Summary = "The agent changed protected files (" + strings.Join(bad, ", ") + "); its changes were discarded. A human must look."
	res.Patch = offending
	return res
}

// filterDiff keeps the parts of a unified diff that touch paths.
func filterDiff(diff []byte, paths []string) []byte {
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	var out bytes.Buffer
	keep := false
	for _, line := range bytes.SplitAfter(diff, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("diff --git ")) {
			fields := strings.Fields(string(line))
			keep = len(fields) >= 4 && want[strings.TrimPrefix(fields[3], "b/")]
		}
		if keep {
			out.Write(line)
		}
	}
	if out.Len() == 0 {
		return diff
	}
	return out.Bytes()
}

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

func (e *Engine) audit(ctx context.Context, wd *workspace.Workdir, in CycleInput, rep Reporter, pin agent.PromptInput, env map[string]string, res *Result) *Evidence {
	ev := &Evidence{Step: StepAudit}
	if !*in.Config.Audit {
		ev.Conclusion, ev.Title = "skipped", "Audit is off in .github/specloop.yml"
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
		ev.Conclusion, ev.Title, ev.Summary = "failure", "Could not snapshot the change", err.Error()
		rep.StepFinished(ctx, StepAudit, ev)
		return ev
	}
	apin := pin
	apin.Diff = string(res.Patch)
	apin.AuditFile = agent.DefaultAuditFile
	prompt := agent.Prompt(agent.Auditor, apin)
	res.Prompts["auditor"] = prompt
	start := time.Now()
	out, runErr := e.runAgent(ctx, in.Config.Agent.Command, agent.Auditor, prompt, wd.Path, env, in.Config)
	ev.Duration = time.Since(start)
	verdict, verr := agent.ReadVerdict(wd.Path, agent.DefaultAuditFile)
	if out != nil {
		ev.Log = out.Log
	}
	if err := restore(ctx, wd, saved); err != nil {
		e.Logger.Error("restore after audit", "err", err)
	}
	tamper := "**Tamper check:** passed (no spec or config file changed)\n\n"
	switch {
	case ctx.Err() != nil || (out != nil && out.Cancelled):
		ev.Conclusion, ev.Title = "cancelled", "Stopped"
		res.Conclusion, res.Summary = "cancelled", "The cycle was stopped during audit; nothing was pushed."
	case runErr != nil:
		ev.Conclusion, ev.Title, ev.Summary = "failure", "The auditor could not be started", tamper+runErr.Error()
	case out.TimedOut:
		ev.Conclusion, ev.Title, ev.Summary = "failure", "The auditor timed out", tamper+"No verdict: the auditor ran past its timeout."
	case verr != nil:
		ev.Conclusion, ev.Title = "failure", "No valid verdict"
		ev.Summary = tamper + "The audit fails because " + verr.Error() + "."
	default:
		ev.Findings = verdict.Findings
		ev.Conclusion, ev.Title = "success", "Auditor verdict: pass"
		if !verdict.Passed() {
			ev.Conclusion, ev.Title = "failure", "Auditor verdict: fail"
		}
		var b strings.Builder
		b.WriteString(tamper)
		fmt.Fprintf(&b, "**Verdict:** %s\n\n%s\n", verdict.Verdict, verdict.Summary)
		if len(verdict.Findings) > 0 {
			b.WriteString("\n| file | line | finding |\n| --- | --- | --- |\n")
			for _, f := range verdict.Findings {
				fmt.Fprintf(&b, "| `%s` | %d | %s |\n", f.File, f.Line, escapeCell(f.Message))
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

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := len(s) - n
	for cut < len(s) && !utf8Start(s[cut]) {
		cut++
	}
	return "… (earlier output in the full log)\n" + s[cut:]
}

// SandboxRunner adapts a sandbox driver to the engine's agent.Runner, with
// the limits every sandboxed command gets.
type SandboxRunner struct {
	Driver  sandbox.Driver
	Limits  sandbox.Limits
	ExtraRO []string // read-only binds, such as the scripted agent's binary
}

func (s SandboxRunner) Run(ctx context.Context, c agent.Command) (agent.Result, error) {
	r, err := s.Driver.Run(ctx, sandbox.Spec{
		Dir: c.Dir, Shell: c.Shell, Stdin: bytes.NewReader(c.Stdin), Env: c.Env,
		Network: c.Network, Timeout: c.Timeout, Limits: s.Limits, ExtraRO: s.ExtraRO,
	})
	if err != nil {
		return agent.Result{}, err
	}
	return agent.Result{ExitCode: r.ExitCode, Output: r.Output, TimedOut: r.TimedOut, Cancelled: r.Cancelled,
		Truncated: r.Truncated, Duration: r.Duration}, nil
}
