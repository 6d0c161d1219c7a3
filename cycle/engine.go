package cycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/verify"
	"github.com/specloop/specloop/workspace"
)

// Engine runs the steps of a cycle on a working copy: select, implement,
// verify, fix, audit. It knows nothing of GitHub or the database, so the
// same engine serves the workers and `specloop cycle` on a local checkout.
type Engine struct {
	Runner   agent.Runner // the sandbox
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
	// Baselines caches verify runs on start commits (nil: every cycle
	// runs its baseline).
	Baselines BaselineCache
	// Proxy is the model proxy for agents with network: model, and Bridge
	// the path of a specloop binary the sandbox user can run, which
	// carries the proxy's socket to a loopback port inside (see
	// agentrun.go). Without them such agents fail to start.
	Proxy  ModelProxy
	Bridge string
	// LookPath finds a preset's CLI on the worker (exec.LookPath), for the
	// sandbox's PATH; nil leaves PATH to the system's directories.
	LookPath func(string) (string, error)
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
	Conclusion state.Conclusion
	Title      string
	Summary    string // Markdown
	Text       string // details: log tail
	Log        []byte // the full (capped, redacted) log, stored as an artifact
	Findings   []agent.Finding
	Duration   time.Duration
	// Counts are verify's test counts (nil for other steps); Tokens the
	// agent's reported use (nil when it reported none).
	Counts *verify.Counts
	Tokens *agent.Usage
}

// Input is what a cycle works on.
type Input struct {
	Config *repoconfig.Config
	Spec   *spec.Spec
	// PinnedID, when set, is the obligation to work on (a retry); otherwise
	// the spec's next open obligation.
	PinnedID string
	// PreviousFailures maps an obligation id to how its last cycle failed,
	// for the next attempt's prompt; obligations that did not fail are
	// absent.
	PreviousFailures map[string]string
	// Fix, when set, makes this a fix cycle (loop.go): the agent works on
	// the request with PinnedID's obligation as context, and nothing is
	// ticked.
	Fix *agent.Fix
	// Answers maps an obligation id to the questions its cycles asked and
	// their answers, for every later cycle of that obligation.
	Answers map[string][]agent.Answer
	// Memory is what earlier cycles of the run did and noted.
	Memory agent.Memory
	// Plan makes this a planning cycle (plan.go): the agent writes the
	// spec's task list, which waits for a maintainer's approval.
	Plan bool
	// Repo names the repository for the baseline cache ("owner/name");
	// empty is fine for a single local checkout.
	Repo string
	// Spent is what the run and the repo's day spent at the model proxy
	// before this cycle, for the limits.
	Spent Spent
}

// Spent is model use already counted against a repo's limits.
type Spent struct {
	RunTokens int64
	RunUSD    float64
	DayUSD    float64
}

// Result is a cycle's outcome.
type Result struct {
	Conclusion state.Conclusion
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
	// Question is what the agent asked (agent.QuestionFile) when the
	// cycle ended action_required for a human's answer.
	Question string
	// Notes are the decisions the agent wrote (agent.NotesFile).
	Notes []byte
	// Fix marks a fix cycle: nothing is ticked, on GitHub either.
	Fix bool
	// Plan is the task list a planning cycle wrote (agent.PlanFile).
	Plan string
	// Verify is the verify command's runs on the start commit and after
	// the change, test by test (nil: no verify command).
	Verify *VerifyRecord
	// Weakening is the deterministic test-weakening findings.
	Weakening []agent.Finding
	// Tokens is the token use the agent passes reported, summed (nil:
	// none reported any).
	Tokens *agent.Usage
	// SpecPath is the spec file and SpecSHA256 and SpecGitBlob its hashes
	// at the start commit; empty for an issue's spec.
	SpecPath, SpecSHA256, SpecGitBlob string
	// ModelCalls are the requests the agents made through the model
	// proxy, in order.
	ModelCalls []agent.ModelCall
	// BudgetHit names the limit that stopped the cycle
	// ("limits.usd_per_run (10 USD)"), when one did.
	BudgetHit string
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
func (e *Engine) Run(ctx context.Context, wd *workspace.Workdir, in Input, rep Reporter) *Result {
	p := &pass{e: e, wd: wd, in: in, cfg: in.Config, rep: rep, res: &Result{Prompts: map[string]string{}}}
	defer p.cleanup()
	p.run(ctx)
	// The fixer may have added to the implementer's notes; the audit's
	// restore may have dropped them, so the implementer's stay if so.
	if n := p.readNotes(); n != nil {
		p.res.Notes = n
	}
	p.res.ModelCalls = p.calls
	return p.res
}

// pass is one cycle on one working copy: what every step reads and the
// result they fill in.
type pass struct {
	e   *Engine
	wd  *workspace.Workdir
	in  Input
	cfg *repoconfig.Config
	rep Reporter
	pin agent.PromptInput // the obligation's prompt input, shared by every role
	env map[string]string // what enters the sandbox besides the working copy
	// plainSpec tells the tamper check which plain files under specs/ are
	// specs (see plainSpecs).
	plainSpec func(path string) bool
	res       *Result
	homeDir   string            // the agents' home, made on first use
	calls     []agent.ModelCall // requests through the model proxy so far
}

// conclude sets the cycle's conclusion once; later steps see it set and
// stop.
func (p *pass) conclude(c state.Conclusion, summary string) {
	p.res.Conclusion, p.res.Summary = c, summary
}

func (p *pass) done() bool { return p.res.Conclusion != "" }

func (p *pass) run(ctx context.Context) {
	e, in, res := p.e, p.in, p.res
	if e.SandboxErr != nil {
		p.conclude(state.Failure, "this worker cannot sandbox cycles: "+e.SandboxErr.Error())
		return
	}
	// Select.
	in.Spec.IncludeOptional = p.cfg.IncludeOptional
	ob, ok := selectObligation(in)
	if in.Plan {
		ob, ok = planObligation(in.Spec), true
	}
	if in.Fix != nil {
		ob, ok = fixObligation(in), true
		res.Fix = true
	}
	if !ok {
		p.rep.Selected(ctx, nil)
		summary := "Nothing to do: every obligation of the spec is done (or waits on one that is not)."
		if in.PinnedID != "" {
			summary = fmt.Sprintf("Nothing to do: obligation `%s` is done or no longer in the spec.", in.PinnedID)
		}
		p.conclude(state.Neutral, summary)
		return
	}
	res.Obligation = ob
	p.recordSpec()
	p.rep.Selected(ctx, ob)
	instructions, _ := p.wd.ReadFile("AGENTS.md")
	p.pin = agent.PromptInput{
		Obligation: agent.Obligation{ID: ob.ID, Text: ob.Text, Headings: ob.Headings, Section: ob.Section,
			Tags: ob.Tags, Details: ob.Details, Requirements: p.requirements(ob)},
		SpecPath:         specPathForPrompt(in.Spec),
		Format:           string(in.Spec.Format),
		ContextDocs:      p.contextDocs(),
		ConfigPath:       repoconfig.Path,
		RepoInstructions: string(instructions),
		PreviousFailure:  in.PreviousFailures[ob.ID],
		Paths:            in.Spec.Paths,
		Fix:              in.Fix,
		Answers:          in.Answers[ob.ID],
		Memory:           in.Memory,
		Plan:             in.Plan,
	}
	p.env = e.agentEnv(p.cfg)
	p.plainSpec = p.plainSpecs()
	if in.Plan {
		p.plan(ctx)
		return
	}

	p.baseline(ctx)
	changes := p.implement(ctx)
	if p.done() {
		return
	}
	if bad := tampered(p.cfg, in.Spec, changes, p.plainSpec); len(bad) > 0 {
		p.refuseTamper(ctx, bad)
		return
	}
	if len(changes) == 0 {
		p.conclude(state.Neutral, noChange(in.Fix))
		return
	}

	// Verify, and fix while it fails.
	verify := p.verify(ctx)
	if p.done() { // stopped or tampered during a fix
		return
	}
	changes, err := p.wd.Changes(ctx)
	if err != nil {
		p.conclude(state.Failure, "Could not read the changes: "+err.Error())
		return
	}
	res.Changes = withoutScratch(changes)
	patch, err := p.wd.Diff(ctx)
	if err != nil {
		p.conclude(state.Failure, "Could not diff the changes: "+err.Error())
		return
	}
	// The patch is the change as published, which never holds scratch
	// files: the auditor reads it and it is stored as the cycle's artifact.
	res.Patch = e.Redactor.Redact(keepFiles(patch, func(path string) bool { return !strings.HasPrefix(path, ScratchDir) }))

	audit := p.audit(ctx)
	if p.done() {
		return
	}

	res.Publish = true
	switch {
	case verify.Conclusion == state.Failure || verify.Conclusion == state.TimedOut:
		res.Draft = true
		p.conclude(state.Failure, "Verify still fails after the fix attempts; pushed as a draft so the evidence can be read.")
	case audit.Conclusion == state.Failure:
		res.Draft = true
		summary := "The auditor failed the change; pushed as a draft with its findings."
		if Failing(res.Weakening) > 0 {
			summary = fmt.Sprintf("The test-weakening check failed (%d finding(s)); pushed as a draft with its findings.", Failing(res.Weakening))
		}
		p.conclude(state.Failure, summary)
	case in.Fix != nil:
		p.conclude(state.Success, fixDone(in.Fix))
	default:
		p.conclude(state.Success, fmt.Sprintf("Obligation `%s` done: %s", ob.ID, ob.Text))
		p.tick()
	}
}

// implement runs the agent on the obligation and returns what it changed
// (scratch files left out); it concludes the cycle when the agent failed.
func (p *pass) implement(ctx context.Context) []workspace.Change {
	p.rep.StepStarted(ctx, StepImplement)
	prompt := agent.Prompt(agent.Implementer, p.pin)
	p.res.Prompts["implementer"] = prompt
	out, err := p.runAgent(ctx, agent.Implementer, prompt, p.live(StepImplement))
	impl := implementEvidence(p.res.Obligation, out, err)
	// Read what the agent left even when the cycle was stopped: the
	// evidence says so, and a stop is not a failure to read the changes.
	changes, cerr := p.wd.Changes(context.WithoutCancel(ctx))
	if cerr != nil {
		impl.Conclusion, impl.Summary = state.Failure, impl.Summary+"\n\nCould not read the changes: "+cerr.Error()
	}
	changes = withoutScratch(changes)
	if out != nil && out.BudgetHit != "" {
		markBudget(impl, out.BudgetHit)
	}
	impl.Summary += changesTable(changes)
	question := p.askedQuestion(impl, out, err)
	p.res.Notes = p.readNotes()
	p.res.Steps = append(p.res.Steps, impl)
	p.rep.StepFinished(ctx, StepImplement, impl)
	switch {
	case ctx.Err() != nil || (out != nil && out.Cancelled):
		p.conclude(state.Cancelled, "The cycle was stopped during implement; nothing was pushed.")
	case out != nil && out.BudgetHit != "":
		p.res.BudgetHit = out.BudgetHit
		p.conclude(state.ActionRequired, BudgetMessage(out.BudgetHit))
	case out != nil && out.TimedOut:
		p.conclude(state.TimedOut, fmt.Sprintf("The agent ran past its %s timeout; nothing was pushed.", time.Duration(p.cfg.Agent.Timeout)))
	case question != "":
		p.concludeQuestion(question)
	case impl.Conclusion != state.Success && out != nil && out.Failure != nil:
		msg := "The agent failed; nothing was pushed. " + impl.Title + ": " + out.Failure.Line
		if out.Failure.Fix != "" {
			msg += " — " + out.Failure.Fix
		}
		p.conclude(state.Failure, msg)
	case impl.Conclusion != state.Success:
		p.conclude(state.Failure, "The agent failed; nothing was pushed. "+impl.Title)
	}
	return changes
}

// tick checks the obligation off in the spec file, for the publishing
// commit; an issue's spec is ticked on GitHub instead.
func (p *pass) tick() {
	sp, ob := p.in.Spec, p.res.Obligation
	if sp.Path == "" || IsIssueSpec(sp) {
		return
	}
	src, err := p.wd.ReadFile(sp.Path)
	if err != nil {
		p.e.Logger.Warn("read spec to tick", "spec", sp.Path, "err", err)
		return
	}
	if p.res.Ticked, err = spec.Tick(sp.Path, src, ob.ID); err != nil && !errors.Is(err, spec.ErrNoCheckbox) {
		p.e.Logger.Warn("tick obligation", "id", ob.ID, "err", err)
	}
}

// contextDocs are the documents beside a task file the prompt points the
// agent at (paths only; the agent reads what it needs).
func (p *pass) contextDocs() []string {
	if IsIssueSpec(p.in.Spec) || p.in.Spec.Path == "" {
		return nil
	}
	return spec.ContextDocs(p.in.Spec.Path, func(rel string) bool {
		_, err := os.Stat(filepath.Join(p.wd.Path, filepath.FromSlash(rel)))
		return err == nil
	})
}

// requirements looks up the text of the criteria an obligation names in
// its format's requirements document (Kiro's requirements.md, Spec Kit's
// spec.md), so the agent gets the criterion and not only its number.
func (p *pass) requirements(ob *spec.Obligation) []agent.Requirement {
	if len(ob.Requirements) == 0 {
		return nil
	}
	var found []spec.Requirement
	for _, doc := range spec.RequirementDocs(p.in.Spec.Path) {
		if src, err := p.wd.ReadFile(doc); err == nil {
			found = spec.Requirements(src, ob.Requirements)
			break
		}
	}
	out := make([]agent.Requirement, len(ob.Requirements))
	for i, ref := range ob.Requirements {
		out[i].Ref = ref
		if found != nil {
			out[i].Text = found[i].Text
		}
	}
	return out
}

func selectObligation(in Input) (*spec.Obligation, bool) {
	if in.PinnedID != "" {
		ob := in.Spec.Obligation(in.PinnedID)
		if ob == nil || ob.Done {
			return nil, false
		}
		return ob, true
	}
	return in.Spec.Next()
}

// IsIssueSpec reports whether s is the body of an issue (spec.IssuePath)
// rather than a file of the repository.
func IsIssueSpec(s *spec.Spec) bool {
	return strings.HasPrefix(s.Path, "issue-") && !strings.Contains(s.Path, "/")
}

func specPathForPrompt(s *spec.Spec) string {
	if IsIssueSpec(s) {
		return ""
	}
	return s.Path
}

// agentEnv is the environment the repo config passes into the sandbox: the
// named variables from the worker's environment, never the server's secrets.
func (e *Engine) agentEnv(cfg *repoconfig.Config) map[string]string {
	env := map[string]string{}
	for _, name := range cfg.Agent.Env {
		if repoconfig.ForbiddenEnv(name) || e.Getenv == nil {
			continue
		}
		if v := e.Getenv(name); v != "" {
			env[name] = v
		}
	}
	return env
}

func implementEvidence(ob *spec.Obligation, out *agent.Outcome, err error) *Evidence {
	ev := &Evidence{Step: StepImplement}
	head := fmt.Sprintf("**Obligation** `%s`: %s\n\n", ob.ID, ob.Text)
	if err != nil {
		ev.Conclusion, ev.Title = state.Failure, "The agent could not be started"
		ev.Summary = head + "Error: `" + err.Error() + "`\n\nCheck `agent.command` in `.github/specloop.yml`."
		return ev
	}
	ev.Duration, ev.Log, ev.Tokens = out.Duration, out.Log, out.Tokens
	ev.Text = "```\n" + markdown.Tail(string(out.Log), 6000) + "\n```"
	tokens := tokensCell(out)
	switch {
	case out.Cancelled:
		ev.Conclusion, ev.Title = state.Cancelled, "Stopped"
	case out.TimedOut:
		ev.Conclusion, ev.Title = state.TimedOut, "The agent timed out"
	case out.ExitCode != 0:
		ev.Conclusion, ev.Title = state.Failure, fmt.Sprintf("The agent exited with %d", out.ExitCode)
	case out.Failure != nil:
		// Exit 0, but its own stream says the session failed (Claude
		// not logged in): that is not "no change".
		ev.Conclusion, ev.Title = state.Failure, "The agent's session failed"
	default:
		ev.Conclusion, ev.Title = state.Success, "The agent finished"
	}
	ev.Summary = head
	if f := out.Failure; f != nil && ev.Conclusion == state.Failure {
		ev.Summary += "**Error:** `" + markdown.Cell(f.Line) + "`\n\n"
		if f.Fix != "" {
			ev.Summary += "**Fix:** " + f.Fix + "\n\n"
		}
	}
	ev.Summary += fmt.Sprintf("| | |\n| --- | --- |\n| exit code | %d |\n| duration | %s |\n| tokens | %s |\n",
		out.ExitCode, out.Duration.Round(time.Millisecond), tokens)
	if c := costCell(out); c != "" {
		ev.Summary += "| cost | " + c + " |\n"
	}
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

// ScratchDir holds files the bot and the auditor write in a working copy;
// it is never part of a commit.
const ScratchDir = ".specloop/"

func withoutScratch(changes []workspace.Change) []workspace.Change {
	out := changes[:0:0]
	for _, c := range changes {
		if !strings.HasPrefix(c.Path, ScratchDir) {
			out = append(out, c)
		}
	}
	return out
}
