package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
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

// Step returns the evidence of a step, or nil if it did not run.
func (r *Result) Step(name string) *Evidence {
	for _, e := range r.Steps {
		if e.Step == name {
			return e
		}
	}
	return nil
}

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
