package cycle

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

// The sample repository every cycle of TestRun works on.
const (
	specPath  = "specs/greet.md"
	greetSpec = `# Greeting

The app greets its users.

## Hello

- [ ] [greet-1] Write a greeting to impl/a.txt
- [ ] [greet-2] Say goodbye (after: greet-1)
`
	// checkSh is the sample's test suite, in go test's words: it fails
	// while a file under impl/ says "broken".
	checkSh = `echo '=== RUN   TestGreeting'
if grep -qs broken impl/*.txt; then
  echo '    greet_test.go:12: greeting is broken'
  echo '--- FAIL: TestGreeting (0.00s)'
  echo 'FAIL'
  printf 'FAIL\texample.com/greet\t0.01s\n'
  exit 1
fi
echo '--- PASS: TestGreeting (0.00s)'
echo 'PASS'
printf 'ok  \texample.com/greet\t0.01s\n'
`
	// defaultConfig is the repo config of a case that sets none; {{agent}}
	// is the case's agent command.
	defaultConfig = "agent: {command: {{agent}}}\nverify: {command: sh check.sh}\n"
)

// Agent actions, as shell.
const (
	writeGreeting = "mkdir -p impl && echo hello > impl/a.txt"
	writeBroken   = "mkdir -p impl && echo broken > impl/a.txt"
	writeFixed    = "echo fixed > impl/a.txt"
	tickOwnBox    = "sed -i 's/- \\[ \\] \\[greet-1\\]/- [x] [greet-1]/' " + specPath
)

// verdict is auditor shell that writes json as its verdict.
func verdict(json string) string {
	return "mkdir -p .specloop && cat > " + agent.DefaultAuditFile + " <<'EOF'\n" + json + "\nEOF"
}

var passVerdict = verdict(`{"verdict": "pass", "summary": "The greeting is there and tested."}`)

func sampleRepo() map[string]string {
	return map[string]string{
		specPath:    greetSpec,
		"check.sh":  checkSh,
		"README.md": "# greeter\n",
	}
}

// tickedSpec is greetSpec with greet-1 checked off.
var tickedSpec = strings.Replace(greetSpec, "- [ ] [greet-1]", "- [x] [greet-1]", 1)

// runCase is one cycle on the sample repository, driven by an agent whose
// roles are the shell given, and what it must end in.
type runCase struct {
	name string

	files     map[string]string // added to the sample repo; "" removes a file
	issue     string            // the spec is this issue's body instead of specs/greet.md
	spec      string            // the spec is this file of files instead of specs/greet.md
	config    string            // .github/specloop.yml; {{agent}} is the agent command
	setup     func(*repoconfig.Config)
	implement string // the implementer's shell
	fix       string // the fixer's; "" does nothing
	audit     string // the auditor's; "" writes a pass verdict
	pin       string
	previous  map[string]string
	workerEnv map[string]string
	secrets   []string // the worker's redactor knows these
	noSandbox error
	stopAt    string // the cycle is stopped as this step starts, or at {{stop}} in the agent's shell

	want    state.Conclusion
	summary string // exact
	events  []string
	ran     []string // roles the agent ran as, in order
	steps   []stepWant
	changes []string
	publish bool
	draft   bool
	ticked  bool     // Ticked is the sample spec with greet-1 checked off
	tickAs  string   // Ticked is this
	patch   []string // each is in the patch
	noPatch []string // none is
	prompts []string
	tree    map[string]string // files of the working copy afterwards; "" = absent
	clean   bool              // the working copy is as checked out
	check   func(t *testing.T, res *Result, wd *workspace.Workdir)
}

// Expected evidence shared by many cases.
var (
	implOK = stepWant{step: StepImplement, conclusion: state.Success, title: "The agent finished",
		summary: []string{"**Obligation** `greet-1`: Write a greeting to impl/a.txt", "| exit code | 0 |",
			"| tokens | not reported by the agent |", "| `impl/a.txt` | A | 1 | 0 |"}}
	verifyOK = stepWant{step: StepVerify, conclusion: state.Success, title: "`sh check.sh` exited 0",
		summary: []string{"| command | `sh check.sh` |", "| exit code | 0 |", "| fix attempts | 0 |", "| passed | 1 |", "| failed | 0 |"},
		text:    []string{"--- PASS: TestGreeting"}}
	auditOK = stepWant{step: StepAudit, conclusion: state.Success, title: "Auditor verdict: pass",
		summary: []string{"**Tamper check:** passed", "**Verdict:** pass", "The greeting is there and tested."}}
	successSummary = "Obligation `greet-1` done: Write a greeting to impl/a.txt"
	draftVerify    = "Verify still fails after the fix attempts; pushed as a draft so the evidence can be read."
	draftAudit     = "The auditor failed the change; pushed as a draft with its findings."
)

// noChangeCase completes c as a case whose agent changes nothing on obligation
// id: the cycle ends neutral after a successful implement step and pushes
// nothing. c.steps, when set, says more about that step.
func noChangeCase(id string, c runCase) runCase {
	c.want, c.summary = state.Neutral, "The agent made no change; nothing was pushed."
	c.events = events(id, "implement=success")
	c.ran, c.prompts = []string{"implementer"}, []string{"implementer"}
	if c.steps == nil {
		c.steps = []stepWant{{step: StepImplement, conclusion: state.Success, summary: []string{"**Files changed:** none."}}}
	}
	return c
}

// tamperCase completes c as a case whose implementer changed the protected
// files: the tamper check refuses the change, nothing is pushed and the
// working copy is as checked out. c.steps, when set, says more than that
// the implement step succeeded.
func tamperCase(c runCase, files ...string) runCase {
	c.want = state.ActionRequired
	c.summary = "The agent changed protected files (" + strings.Join(files, ", ") + "); its changes were discarded. A human must look."
	c.events = events("greet-1", "implement=success", "audit=action_required")
	c.ran, c.prompts, c.clean = []string{"implementer"}, []string{"implementer"}, true
	if c.steps == nil {
		c.steps = []stepWant{implOK, tamperStep(files...)}
	}
	return c
}

// containsAll requires each of subs in s.
func containsAll(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		require.Contains(t, s, sub)
	}
}

func tamperStep(files ...string) stepWant {
	w := stepWant{step: StepAudit, conclusion: state.ActionRequired,
		title:   "Tamper check failed: the agent changed " + strconv.Itoa(len(files)) + " protected file(s)",
		summary: []string{"**Tamper check:** failed", "The cycle's changes were discarded and nothing was pushed."}}
	for _, f := range files {
		w.summary = append(w.summary, "| `"+f+"` |")
	}
	return w
}

func TestRun(t *testing.T) {
	t.Parallel()
	const noList = "# Greeting\n\nWrite a greeting to impl/a.txt.\n"
	noListID := mustSpec(t, specPath, noList).Obligations[0].ID
	tests := []runCase{
		// Select.
		{
			name:      "every obligation done",
			files:     map[string]string{specPath: "# Greeting\n\n- [x] [greet-1] Write a greeting\n- [x] [greet-2] Say goodbye\n"},
			implement: writeGreeting,
			want:      state.Neutral, summary: "Nothing to do: every obligation of the spec is done (or waits on one that is not).",
			events: events("none"), clean: true,
		},
		{
			name:      "pinned obligation already done",
			files:     map[string]string{specPath: "# Greeting\n\n- [x] [greet-0] Say hi\n- [ ] [greet-1] Write a greeting\n"},
			pin:       "greet-0",
			implement: writeGreeting,
			want:      state.Neutral, summary: "Nothing to do: obligation `greet-0` is done or no longer in the spec.",
			events: events("none"), clean: true,
		},
		{
			name:      "pinned obligation no longer in the spec",
			pin:       "greet-9",
			implement: writeGreeting,
			want:      state.Neutral, summary: "Nothing to do: obligation `greet-9` is done or no longer in the spec.",
			events: events("none"), clean: true,
		},
		{
			name:      "pinned obligation is worked on though not next",
			files:     map[string]string{specPath: "# Greeting\n\n- [ ] [greet-1] Write a greeting\n- [ ] [greet-3] Write a farewell to impl/a.txt\n"},
			pin:       "greet-3",
			implement: writeGreeting,
			want:      state.Success, summary: "Obligation `greet-3` done: Write a farewell to impl/a.txt",
			events: events("greet-3", "implement=success", "verify=success", "audit=success"),
			ran:    []string{"implementer", "auditor"},
			steps: []stepWant{{step: StepImplement, conclusion: state.Success, summary: []string{"**Obligation** `greet-3`"}},
				verifyOK, auditOK},
			changes: []string{"A impl/a.txt"}, publish: true, prompts: []string{"auditor", "implementer"},
			tickAs: "# Greeting\n\n- [ ] [greet-1] Write a greeting\n- [x] [greet-3] Write a farewell to impl/a.txt\n",
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Contains(t, res.Prompts["implementer"], "Obligation-ID: greet-3\n")
			},
		},
		{
			name:      "worker cannot sandbox",
			noSandbox: errors.New("bwrap cannot create its sandbox"),
			implement: writeGreeting,
			want:      state.Failure, summary: "this worker cannot sandbox cycles: bwrap cannot create its sandbox",
			clean: true,
		},

		// Implement.
		{
			name:      "success",
			implement: writeGreeting + " && mkdir -p .specloop && echo 'draft notes' > .specloop/notes.txt",
			want:      state.Success, summary: successSummary,
			events:  events("greet-1", "implement=success", "verify=success", "audit=success"),
			ran:     []string{"implementer", "auditor"},
			steps:   []stepWant{implOK, verifyOK, auditOK},
			changes: []string{"A impl/a.txt"}, publish: true, ticked: true,
			patch: []string{"+++ b/impl/a.txt", "+hello"}, noPatch: []string{".specloop"},
			prompts: []string{"auditor", "implementer"},
			tree:    map[string]string{"impl/a.txt": "hello\n", specPath: greetSpec},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Equal(t, "greet-1", res.Obligation.ID)
				require.Contains(t, res.Prompts["auditor"], "+hello", "the auditor reads the diff")
				require.NotContains(t, res.Prompts["auditor"], ".specloop/notes.txt", "scratch files are no part of the diff under audit")
			},
		},
		{
			name:      "agent exits non-zero",
			implement: "mkdir -p impl && echo half > impl/a.txt; echo 'cannot do this: no compiler' >&2; exit 3",
			want:      state.Failure, summary: "The agent failed; nothing was pushed. The agent exited with 3: cannot do this: no compiler",
			events: events("greet-1", "implement=failure"),
			ran:    []string{"implementer"},
			steps: []stepWant{{step: StepImplement, conclusion: state.Failure, title: "The agent exited with 3",
				summary: []string{"| exit code | 3 |", "| `impl/a.txt` | A | 1 | 0 |"}, text: []string{"cannot do this: no compiler"}}},
			prompts: []string{"implementer"},
		},
		{
			name: "agent cannot be started",
			// A name the sandbox refuses, passed from the worker: the
			// sandbox never starts the agent.
			config:    "agent: {command: {{agent}}, env: [\"MODEL=large\"]}\nverify: {command: sh check.sh}\n",
			workerEnv: map[string]string{"MODEL=large": "yes"},
			implement: writeGreeting,
			want:      state.Failure, summary: "The agent failed; nothing was pushed. The agent could not be started",
			events: events("greet-1", "implement=failure"),
			steps: []stepWant{{step: StepImplement, conclusion: state.Failure, title: "The agent could not be started",
				summary: []string{"invalid environment variable name", "Check `agent.command` in `.github/specloop.yml`.", "**Files changed:** none."}}},
			prompts: []string{"implementer"}, clean: true,
		},
		{
			name:      "agent times out",
			config:    "agent: {command: {{agent}}, timeout: 500ms}\nverify: {command: sh check.sh}\n",
			implement: "echo thinking; exec sleep 30",
			want:      state.TimedOut, summary: "The agent ran past its 500ms timeout; nothing was pushed.",
			events: events("greet-1", "implement=timed_out"),
			ran:    []string{"implementer"},
			steps: []stepWant{{step: StepImplement, conclusion: state.TimedOut, title: "The agent timed out",
				text: []string{"thinking"}}},
			prompts: []string{"implementer"}, clean: true,
		},
		{
			name:      "stopped during implement",
			stopAt:    StepImplement,
			implement: "exec sleep 30",
			want:      state.Cancelled, summary: "The cycle was stopped during implement; nothing was pushed.",
			events:  events("greet-1", "implement=cancelled"),
			steps:   []stepWant{{step: StepImplement, conclusion: state.Cancelled, title: "Stopped", summary: []string{"**Files changed:** none."}}},
			prompts: []string{"implementer"}, clean: true,
		},
		noChangeCase("greet-1", runCase{
			name:      "agent makes no change",
			implement: "echo 'nothing to do here'",
			steps: []stepWant{{step: StepImplement, conclusion: state.Success, title: "The agent finished",
				summary: []string{"**Files changed:** none."}, text: []string{"nothing to do here"}}},
			clean: true,
		}),
		noChangeCase("greet-1", runCase{
			name:      "scratch files are no change",
			implement: "mkdir -p .specloop && echo plan > .specloop/plan.md",
			tree:      map[string]string{".specloop/plan.md": "plan\n"},
		}),

		// Tamper checks.
		tamperCase(runCase{
			name:      "agent ticks its own box",
			implement: writeGreeting + " && " + tickOwnBox,
			patch:     []string{"+- [x] [greet-1]"}, noPatch: []string{"+++ b/impl/a.txt"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Equal(t, []agent.Finding{{File: specPath, Line: 1, Message: "changed by the agent: protected file", Severity: "failure"}},
					res.Step(StepAudit).Findings)
			},
		}, "specs/greet.md"),
		tamperCase(runCase{
			name:      "agent edits the repo config",
			implement: writeGreeting + " && echo 'audit: false' >> .github/specloop.yml",
			patch:     []string{"+audit: false"},
		}, ".github/specloop.yml"),
		tamperCase(runCase{
			// Refused before verify: GitHub would refuse the push anyway.
			name:      "agent edits a CI workflow",
			implement: writeGreeting + " && mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml",
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				ev := res.Step(StepAudit)
				require.Contains(t, ev.Summary, "GitHub refuses them from an app without the `workflows` permission")
				require.Equal(t, "changed by the agent: a CI workflow, which GitHub refuses from this app", ev.Findings[0].Message)
				require.Nil(t, res.Step(StepVerify), "verify never ran")
			},
		}, ".github/workflows/ci.yml"),
		tamperCase(runCase{
			name:      "agent adds a spec",
			implement: writeGreeting + " && mkdir -p specs/more && echo '- [ ] [more-1] More' > specs/more/next.md",
		}, "specs/more/next.md"),
		tamperCase(runCase{
			name:      "agent writes outside the spec's paths",
			files:     map[string]string{specPath: "---\npaths: [\"impl/**\"]\n---\n" + greetSpec},
			implement: writeGreeting + " && echo 'see impl/' >> README.md && echo x > notes.txt",
			steps:     []stepWant{{step: StepImplement, conclusion: state.Success, summary: []string{"| `README.md` | M | 1 | 0 |"}}, tamperStep("README.md", "notes.txt")},
			patch:     []string{"+see impl/", "+++ b/notes.txt"}, noPatch: []string{"+++ b/impl/a.txt"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Contains(t, res.Prompts["implementer"], "Allowed-Paths: impl/**\n")
			},
		}, "README.md", "notes.txt"),
		{
			name:      "fixer tampers",
			implement: writeBroken,
			fix:       writeFixed + " && " + tickOwnBox,
			want:      state.ActionRequired, summary: "The agent changed protected files (specs/greet.md); its changes were discarded. A human must look.",
			events: events("greet-1", "implement=success", "verify=failure", "audit=action_required"),
			ran:    []string{"implementer", "fixer"},
			steps: []stepWant{{step: StepImplement, conclusion: state.Success},
				{step: StepVerify, conclusion: state.Failure, title: "`sh check.sh` exited 1"}, tamperStep(specPath)},
			patch:   []string{"+- [x] [greet-1]"},
			prompts: []string{"fixer-1", "implementer"}, clean: true,
		},

		// Verify and fix.
		{
			name:      "verify fails, the fixer fixes it",
			implement: writeBroken,
			fix:       writeFixed,
			want:      state.Success, summary: successSummary,
			events: events("greet-1", "implement=success", "verify=success", "audit=success"),
			ran:    []string{"implementer", "fixer", "auditor"},
			steps: []stepWant{{step: StepImplement, conclusion: state.Success},
				{step: StepVerify, conclusion: state.Success, title: "`sh check.sh` exited 0", summary: []string{"| fix attempts | 1 |", "| passed | 1 |"}},
				auditOK},
			changes: []string{"A impl/a.txt"}, publish: true, ticked: true,
			patch: []string{"+fixed"}, noPatch: []string{"broken"},
			prompts: []string{"auditor", "fixer-1", "implementer"},
			tree:    map[string]string{"impl/a.txt": "fixed\n"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				log := string(res.Step(StepVerify).Log)
				require.Contains(t, log, "$ sh check.sh   # attempt 1, exit 1\n")
				require.Contains(t, log, "--- fixer attempt 1 (exit 0) ---")
				require.Contains(t, log, "$ sh check.sh   # attempt 2, exit 0\n")
				require.Contains(t, res.Prompts["fixer-1"], "Specloop-Role: fixer\n")
				require.Contains(t, res.Prompts["fixer-1"], "greet_test.go:12: greeting is broken", "the fixer reads the failure")
			},
		},
		{
			name:      "verify keeps failing",
			implement: writeBroken,
			fix:       "echo 'still looking' >> impl/a.txt",
			want:      state.Failure, summary: draftVerify,
			events: events("greet-1", "implement=success", "verify=failure", "audit=success"),
			ran:    []string{"implementer", "fixer", "fixer", "auditor"},
			steps: []stepWant{{step: StepImplement, conclusion: state.Success},
				{step: StepVerify, conclusion: state.Failure, title: "`sh check.sh` exited 1",
					summary: []string{"| exit code | 1 |", "| fix attempts | 2 |", "| failed | 1 |", "**Failing tests**", "- `TestGreeting` (`greet_test.go:12`)"},
					text:    []string{"greeting is broken"}},
				auditOK},
			changes: []string{"A impl/a.txt"}, publish: true, draft: true,
			prompts: []string{"auditor", "fixer-1", "fixer-2", "implementer"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Equal(t, []agent.Finding{{File: "greet_test.go", Line: 12, Message: "TestGreeting: greeting is broken", Severity: "failure"}},
					res.Step(StepVerify).Findings)
			},
		},
		{
			name:      "verify fails with no fix attempts",
			config:    defaultConfig + "fix_attempts: 0\n",
			implement: writeBroken,
			fix:       writeFixed,
			want:      state.Failure, summary: draftVerify,
			events: events("greet-1", "implement=success", "verify=failure", "audit=success"),
			ran:    []string{"implementer", "auditor"},
			steps: []stepWant{{step: StepImplement, conclusion: state.Success},
				{step: StepVerify, conclusion: state.Failure, summary: []string{"| fix attempts | 0 |"}}, auditOK},
			changes: []string{"A impl/a.txt"}, publish: true, draft: true,
			prompts: []string{"auditor", "implementer"},
			tree:    map[string]string{"impl/a.txt": "broken\n"},
		},
		{
			name:      "verify times out",
			config:    "agent: {command: {{agent}}}\nverify: {command: \"echo compiling; exec sleep 30\", timeout: 500ms}\n",
			implement: writeGreeting,
			fix:       writeFixed,
			want:      state.Failure, summary: draftVerify,
			events: events("greet-1", "implement=success", "verify=timed_out", "audit=success"),
			ran:    []string{"implementer", "auditor"},
			steps: []stepWant{implOK,
				{step: StepVerify, conclusion: state.TimedOut, title: "`echo compiling; exec sleep 30` timed out after 500ms",
					summary: []string{"| counts | not recognised in the output |"}, text: []string{"compiling"}},
				auditOK},
			changes: []string{"A impl/a.txt"}, publish: true, draft: true,
			prompts: []string{"auditor", "implementer"},
		},
		{
			name:      "no verify command",
			config:    "agent: {command: {{agent}}}\n",
			implement: writeGreeting,
			want:      state.Success, summary: successSummary,
			events: events("greet-1", "implement=success", "verify=neutral", "audit=success"),
			ran:    []string{"implementer", "auditor"},
			steps: []stepWant{implOK,
				{step: StepVerify, conclusion: state.Neutral, title: "No verify command", summary: []string{"No `verify:` in the spec or `.github/specloop.yml`"}},
				auditOK},
			changes: []string{"A impl/a.txt"}, publish: true, ticked: true,
			prompts: []string{"auditor", "implementer"},
		},
		{
			name:      "the spec's verify command wins over the repo's",
			files:     map[string]string{specPath: "---\nverify: sh check.sh\n---\n" + greetSpec},
			config:    "agent: {command: {{agent}}}\nverify: {command: \"false\"}\n",
			implement: writeGreeting,
			want:      state.Success, summary: successSummary,
			events:  events("greet-1", "implement=success", "verify=success", "audit=success"),
			ran:     []string{"implementer", "auditor"},
			steps:   []stepWant{implOK, verifyOK, auditOK},
			changes: []string{"A impl/a.txt"}, publish: true,
			tickAs:  "---\nverify: sh check.sh\n---\n" + tickedSpec,
			prompts: []string{"auditor", "implementer"},
		},
		{
			name:      "stopped during verify",
			stopAt:    StepVerify,
			implement: writeGreeting,
			want:      state.Cancelled, summary: "The cycle was stopped during verify; nothing was pushed.",
			events:  events("greet-1", "implement=success", "verify=cancelled"),
			ran:     []string{"implementer"},
			steps:   []stepWant{implOK, {step: StepVerify, conclusion: state.Cancelled}},
			prompts: []string{"implementer"},
		},

		{
			name:      "stopped during a fix",
			stopAt:    "{{stop}}",
			implement: writeBroken,
			fix:       "{{stop}}; exec sleep 30",
			want:      state.Cancelled, summary: "The cycle was stopped during verify; nothing was pushed.",
			events:  events("greet-1", "implement=success", "verify=cancelled"),
			ran:     []string{"implementer", "fixer"},
			steps:   []stepWant{{step: StepImplement, conclusion: state.Success}, {step: StepVerify, conclusion: state.Cancelled}},
			prompts: []string{"fixer-1", "implementer"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				log := string(res.Step(StepVerify).Log)
				require.Contains(t, log, "# attempt 1, exit 1")
				require.NotContains(t, log, "# attempt 2", "no verify after the stop")
			},
		},

		// Audit.
		{
			name:      "auditor fails the change",
			implement: writeGreeting,
			audit: verdict(`{"verdict": "fail", "summary": "The greeting has no test.",
  "findings": [{"file": "./impl/a.txt", "line": 1, "message": "no test covers | this"}]}`),
			want: state.Failure, summary: draftAudit,
			events: events("greet-1", "implement=success", "verify=success", "audit=failure"),
			ran:    []string{"implementer", "auditor"},
			steps: []stepWant{implOK, verifyOK, {step: StepAudit, conclusion: state.Failure, title: "Auditor verdict: fail",
				summary: []string{"**Verdict:** fail", "The greeting has no test.", "| `impl/a.txt` | 1 | no test covers \\| this |"}}},
			changes: []string{"A impl/a.txt"}, publish: true, draft: true,
			prompts: []string{"auditor", "implementer"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Equal(t, []agent.Finding{{File: "impl/a.txt", Line: 1, Message: "no test covers | this", Severity: "failure"}},
					res.Step(StepAudit).Findings)
			},
		},
		{
			name:      "auditor writes no verdict",
			implement: writeGreeting,
			audit:     "echo 'looks fine to me'",
			want:      state.Failure, summary: draftAudit,
			events: events("greet-1", "implement=success", "verify=success", "audit=failure"),
			ran:    []string{"implementer", "auditor"},
			steps: []stepWant{implOK, verifyOK, {step: StepAudit, conclusion: state.Failure, title: "No valid verdict",
				summary: []string{"The audit fails because auditor gave no verdict: not in the CLI's structured output, not as a fenced JSON block in its final message, not in .specloop/audit.json."}}},
			changes: []string{"A impl/a.txt"}, publish: true, draft: true,
			prompts: []string{"auditor", "implementer"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Contains(t, string(res.Step(StepAudit).Log), "looks fine to me")
			},
		},
		{
			name:      "auditor writes an invalid verdict",
			implement: writeGreeting,
			audit:     verdict(`the change looks fine {`),
			want:      state.Failure, summary: draftAudit,
			events: events("greet-1", "implement=success", "verify=success", "audit=failure"),
			ran:    []string{"implementer", "auditor"},
			steps: []stepWant{implOK, verifyOK, {step: StepAudit, conclusion: state.Failure, title: "No valid verdict",
				summary: []string{"is not valid JSON"}}},
			changes: []string{"A impl/a.txt"}, publish: true, draft: true,
			prompts: []string{"auditor", "implementer"},
		},
		{
			name:      "auditor times out",
			config:    "agent: {command: {{agent}}, timeout: 500ms}\nverify: {command: sh check.sh}\n",
			implement: writeGreeting,
			audit:     "exec sleep 30",
			want:      state.Failure, summary: draftAudit,
			events: events("greet-1", "implement=success", "verify=success", "audit=failure"),
			ran:    []string{"implementer", "auditor"},
			steps: []stepWant{implOK, verifyOK, {step: StepAudit, conclusion: state.Failure, title: "The auditor timed out",
				summary: []string{"No verdict: the auditor ran past its timeout."}}},
			changes: []string{"A impl/a.txt"}, publish: true, draft: true,
			prompts: []string{"auditor", "implementer"},
		},
		{
			name:      "stopped during audit",
			stopAt:    StepAudit,
			implement: writeGreeting,
			audit:     "exec sleep 30",
			want:      state.Cancelled, summary: "The cycle was stopped during audit; nothing was pushed.",
			events:  events("greet-1", "implement=success", "verify=success", "audit=cancelled"),
			ran:     []string{"implementer"},
			steps:   []stepWant{implOK, verifyOK, {step: StepAudit, conclusion: state.Cancelled, title: "Stopped"}},
			changes: []string{"A impl/a.txt"},
			prompts: []string{"auditor", "implementer"},
		},
		{
			name:      "audit off",
			config:    defaultConfig + "audit: false\n",
			implement: writeGreeting,
			audit:     "echo audited > impl/audited.txt; " + passVerdict,
			want:      state.Success, summary: successSummary,
			events: events("greet-1", "implement=success", "verify=success", "audit=skipped"),
			ran:    []string{"implementer"},
			steps: []stepWant{implOK, verifyOK, {step: StepAudit, conclusion: state.Skipped, title: "Audit is off in .github/specloop.yml",
				summary: []string{"**Tamper check:** passed", "(`audit: false`)"}}},
			changes: []string{"A impl/a.txt"}, publish: true, ticked: true,
			prompts: []string{"implementer"},
			tree:    map[string]string{"impl/audited.txt": ""},
		},
		{
			name:      "auditor's own edits are discarded",
			implement: writeGreeting + " && rm README.md",
			audit:     "echo hacked > impl/a.txt; echo back > README.md; echo extra > impl/extra.txt; " + passVerdict,
			want:      state.Success, summary: successSummary,
			events:  events("greet-1", "implement=success", "verify=success", "audit=success"),
			ran:     []string{"implementer", "auditor"},
			steps:   []stepWant{implOK, verifyOK, auditOK},
			changes: []string{"D README.md", "A impl/a.txt"}, publish: true, ticked: true,
			prompts: []string{"auditor", "implementer"},
			tree:    map[string]string{"impl/a.txt": "hello\n", "README.md": "", "impl/extra.txt": "", agent.DefaultAuditFile: ""},
		},
		{
			name:      "a separate auditor command",
			config:    defaultConfig + "auditor:\n  command: |\n    " + strings.ReplaceAll(verdict(`{"verdict": "pass", "summary": "Checked by the second model."}`), "\n", "\n    ") + "\n",
			implement: writeGreeting,
			audit:     "exit 1",
			want:      state.Success, summary: successSummary,
			events: events("greet-1", "implement=success", "verify=success", "audit=success"),
			ran:    []string{"implementer"},
			steps: []stepWant{implOK, verifyOK, {step: StepAudit, conclusion: state.Success,
				summary: []string{"Checked by the second model."}}},
			changes: []string{"A impl/a.txt"}, publish: true, ticked: true,
			prompts: []string{"auditor", "implementer"},
		},

		// Spec kinds.
		{
			name:      "spec without a task list",
			files:     map[string]string{specPath: noList},
			implement: writeGreeting,
			want:      state.Success,
			events:    events(noListID, "implement=success", "verify=success", "audit=success"),
			ran:       []string{"implementer", "auditor"},
			steps:     []stepWant{{step: StepImplement, conclusion: state.Success}, verifyOK, auditOK},
			changes:   []string{"A impl/a.txt"}, publish: true,
			prompts: []string{"auditor", "implementer"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Nil(t, res.Ticked, "no checkbox to tick")
			},
		},
		{
			name:      "issue spec",
			issue:     "- [ ] [greet-1] Write a greeting to impl/a.txt\n",
			implement: writeGreeting,
			want:      state.Success, summary: successSummary,
			events:  events("greet-1", "implement=success", "verify=success", "audit=success"),
			ran:     []string{"implementer", "auditor"},
			steps:   []stepWant{implOK, verifyOK, auditOK},
			changes: []string{"A impl/a.txt"}, publish: true,
			prompts: []string{"auditor", "implementer"},
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				require.Nil(t, res.Ticked, "an issue is ticked on GitHub")
				require.NotContains(t, res.Prompts["implementer"], agent.HeaderSpecPath+":")
			},
		},

		// What the agent is given.
		noChangeCase("2.2", runCase{
			name: "a Kiro task: its bullets, its criteria's text, the documents beside it",
			spec: ".kiro/specs/users/tasks.md",
			files: map[string]string{
				".kiro/specs/users/tasks.md":        "# Implementation Plan\n\n- [x] 1. Set up\n\n- [ ] 2. Models\n- [ ]* 2.1 Optional tests first\n- [ ] 2.2 Write the User model\n  - Validate the e-mail\n  - _Requirements: 1.2_\n\n- [ ] 3. Storage\n",
				".kiro/specs/users/requirements.md": "# Requirements\n\n### Requirement 1\n\n#### Acceptance Criteria\n\n1. WHEN a user signs up THEN create.\n2. IF the e-mail is taken THEN the system SHALL refuse.\n",
				".kiro/specs/users/design.md":       "# Design\n",
			},
			implement: "mkdir -p .specloop && cat > .specloop/prompt.txt",
			check: func(t *testing.T, res *Result, _ *workspace.Workdir) {
				prompt := res.Prompts["implementer"]
				containsAll(t, prompt,
					"Obligation-ID: 2.2\n", "- Format: kiro\n", "> Write the User model\n",
					"- Validate the e-mail\n", "- `1.2`: IF the e-mail is taken THEN the system SHALL refuse.\n",
					"- `.kiro/specs/users/requirements.md`\n- `.kiro/specs/users/design.md`\n",
				)
				require.NotContains(t, prompt, "3. Storage", "the section is the task's own, not the whole plan")
			},
		}),
		{
			name: "a Spec Kit task may edit the documents beside its task file",
			spec: "specs/001-x/tasks.md",
			files: map[string]string{
				"specs/001-x/tasks.md":      "# Tasks\n\n- [X] T001 Setup\n- [ ] T002 Update quickstart.md\n",
				"specs/001-x/quickstart.md": "# Quickstart\n",
				"specs/notes.md":            "# Notes\n\nprose, not a spec\n",
			},
			implement: writeGreeting + " && echo step >> specs/001-x/quickstart.md && echo more >> specs/notes.md",
			want:      state.Success, summary: "Obligation `T002` done: Update quickstart.md",
			events:  events("T002", "implement=success", "verify=success", "audit=success"),
			ran:     []string{"implementer", "auditor"},
			steps:   []stepWant{{step: StepImplement, conclusion: state.Success}, {step: StepVerify, conclusion: state.Success}, {step: StepAudit, conclusion: state.Success}},
			changes: []string{"A impl/a.txt", "M specs/001-x/quickstart.md", "M specs/notes.md"}, publish: true,
			tickAs:  "# Tasks\n\n- [X] T001 Setup\n- [X] T002 Update quickstart.md\n",
			prompts: []string{"auditor", "implementer"},
		},
		tamperCase(runCase{
			name:      "stripping a plain spec's tasks is still tampering",
			files:     map[string]string{"specs/other.md": "- [ ] [o-1] other work\n"},
			implement: writeGreeting + " && echo prose > specs/other.md",
		}, "specs/other.md"),
		noChangeCase("2.1", runCase{
			name:   "include_optional: true works on Kiro's optional tasks",
			spec:   ".kiro/specs/users/tasks.md",
			config: defaultConfig + "include_optional: true\n",
			files: map[string]string{
				".kiro/specs/users/tasks.md": "- [ ] 2. Models\n- [ ]* 2.1 Optional tests first\n- [ ] 2.2 Write the User model\n",
			},
			implement: "true",
		}),
		noChangeCase("greet-1", runCase{
			name:  "the prompt carries AGENTS.md and the previous failure",
			files: map[string]string{"AGENTS.md": "Indent with tabs. Run sh check.sh before you finish.\n"},
			previous: map[string]string{
				"greet-1": "verify failed: TestGreeting: greeting is broken",
				"greet-2": "the goodbye was rude",
			},
			implement: "mkdir -p .specloop && cat > .specloop/prompt.txt",
			check: func(t *testing.T, res *Result, wd *workspace.Workdir) {
				stdin, err := wd.ReadFile(".specloop/prompt.txt")
				require.NoError(t, err)
				prompt := res.Prompts["implementer"]
				require.Equal(t, prompt, string(stdin), "the agent reads the prompt on stdin")
				containsAll(t, prompt,
					"Specloop-Role: implementer\n", "Obligation-ID: greet-1\n", "Spec-Path: specs/greet.md\n",
					"- Section: Greeting > Hello\n",
					"## Repository instructions (AGENTS.md)", "Indent with tabs. Run sh check.sh before you finish.",
					"## The previous attempt failed", "verify failed: TestGreeting: greeting is broken",
					"Do not edit the spec file `specs/greet.md`, any other spec file, or `.github/specloop.yml`.",
				)
				require.NotContains(t, prompt, "the goodbye was rude", "another obligation's failure")
			},
		}),
		{
			name:   "the agent's environment",
			config: "agent: {command: {{agent}}, env: [MODEL_TOKEN, MODEL_REGION, NOT_SET]}\nverify: {command: sh check.sh}\n",
			// A config naming the server's secrets does not parse; the
			// engine refuses them all the same.
			setup: func(c *repoconfig.Config) {
				c.Agent.Env = append(c.Agent.Env, "DATABASE_URL", "GITHUB_TOKEN", "WEBHOOK_SECRET")
			},
			workerEnv: map[string]string{"MODEL_TOKEN": "mt-5ecret-value", "MODEL_REGION": "eu", "UNLISTED": "worker-only", "DATABASE_URL": "postgres://db-password@db", "GITHUB_TOKEN": "gh-token-value", "WEBHOOK_SECRET": "hook-secret-value"},
			secrets:   []string{"mt-5ecret-value"},
			implement: writeGreeting + " && env | sort > impl/env.txt",
			want:      state.Success, summary: successSummary,
			events:  events("greet-1", "implement=success", "verify=success", "audit=success"),
			ran:     []string{"implementer", "auditor"},
			steps:   []stepWant{{step: StepImplement, conclusion: state.Success}, verifyOK, auditOK},
			changes: []string{"A impl/a.txt", "A impl/env.txt"}, publish: true, ticked: true,
			patch: []string{"+MODEL_TOKEN=" + agent.Redacted}, noPatch: []string{"mt-5ecret-value"},
			prompts: []string{"auditor", "implementer"},
			check: func(t *testing.T, _ *Result, wd *workspace.Workdir) {
				b, err := wd.ReadFile("impl/env.txt")
				require.NoError(t, err)
				env := string(b)
				require.Contains(t, env, "MODEL_TOKEN=mt-5ecret-value\n")
				require.Contains(t, env, "MODEL_REGION=eu\n")
				require.Contains(t, env, "SPECLOOP_ROLE=implementer\n")
				for _, s := range []string{"NOT_SET", "UNLISTED", "worker-only", "DATABASE_URL", "db-password", "GITHUB_TOKEN", "gh-token-value", "WEBHOOK_SECRET", "hook-secret-value"} {
					require.NotContains(t, env, s)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, wd, rec, ran := runCycle(t, tc)

			require.Equal(t, tc.want, res.Conclusion, "%s", res.Summary)
			if tc.summary != "" {
				require.Equal(t, tc.summary, res.Summary)
			}
			require.Equal(t, tc.events, rec.events, "what the reporter saw")
			for name, ev := range rec.finished {
				require.Same(t, res.Step(name), ev, "the reporter saw the result's %s evidence", name)
			}
			if tc.stopAt == StepImplement || tc.stopAt == StepAudit {
				// The stopped agent may or may not have got as far as
				// saying it ran.
				require.LessOrEqual(t, len(ran)-len(tc.ran), 1, "roles the agent ran as: %v", ran)
				ran = ran[:min(len(ran), len(tc.ran))]
			}
			require.Equal(t, strings.Join(tc.ran, " "), strings.Join(ran, " "), "roles the agent ran as")
			requireSteps(t, tc.steps, res.Steps)
			for _, name := range []string{StepImplement, StepVerify, StepAudit} {
				if !slices.ContainsFunc(tc.steps, func(w stepWant) bool { return w.step == name }) {
					require.Nil(t, res.Step(name), "%s did not run", name)
				}
			}
			require.Equal(t, tc.changes, changeList(res.Changes), "changes")
			require.Equal(t, tc.publish, res.Publish, "publish")
			require.Equal(t, tc.draft, res.Draft, "draft")
			if tc.ticked {
				require.Equal(t, tickedSpec, string(res.Ticked))
			} else if tc.tickAs != "" {
				require.Equal(t, tc.tickAs, string(res.Ticked))
			} else {
				require.Nil(t, res.Ticked)
			}
			for _, s := range tc.patch {
				require.Contains(t, string(res.Patch), s)
			}
			for _, s := range tc.noPatch {
				require.NotContains(t, string(res.Patch), s)
			}
			require.Equal(t, tc.prompts, slices.Sorted(maps.Keys(res.Prompts)), "prompts")
			for p, want := range tc.tree {
				got, err := wd.ReadFile(p)
				if want == "" {
					require.ErrorIs(t, err, os.ErrNotExist, "%s is in the working copy", p)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, want, string(got), p)
			}
			now, err := wd.Changes(t.Context())
			require.NoError(t, err)
			if tc.clean {
				require.Empty(t, now, "the working copy is as checked out")
			}
			if res.Publish {
				require.Equal(t, changeList(res.Changes), changeList(withoutScratch(now)), "what is pushed is what was verified and audited")
			}
			if tc.check != nil {
				tc.check(t, res, wd)
			}
		})
	}
}

// runCycle runs tc's cycle and returns its result, the working copy, what
// the reporter saw and the roles the agent ran as.
func runCycle(t *testing.T, tc runCase) (*Result, *workspace.Workdir, *recorder, []string) {
	t.Helper()
	parent := t.TempDir()

	// The agent: one script, its roles by SPECLOOP_ROLE; each run is
	// logged outside the working copy.
	tools := filepath.Join(parent, "tools")
	require.NoError(t, os.MkdirAll(tools, 0o755))
	ranLog := filepath.Join(tools, "ran.log")
	fix, audit := tc.fix, tc.audit
	if fix == "" {
		fix = "true"
	}
	if audit == "" {
		audit = passVerdict
	}
	script := "echo \"$SPECLOOP_ROLE\" >> " + ranLog + "\ncase \"$SPECLOOP_ROLE\" in\n" +
		"implementer)\n" + tc.implement + "\n;;\nfixer)\n" + fix + "\n;;\nauditor)\n" + audit + "\n;;\nesac\n"
	// {{stop}}: the agent says it is running through a FIFO, and the
	// cycle is stopped then.
	stopFIFO := filepath.Join(tools, "stop.fifo")
	script = strings.ReplaceAll(script, "{{stop}}", "echo stop > "+stopFIFO)
	agentScript := filepath.Join(tools, "agent.sh")
	require.NoError(t, os.WriteFile(agentScript, []byte(script), 0o644))

	cfgSrc := tc.config
	if cfgSrc == "" {
		cfgSrc = defaultConfig
	}
	cfgSrc = strings.ReplaceAll(cfgSrc, "{{agent}}", strconv.Quote("exec sh "+agentScript))
	cfg, err := repoconfig.Parse([]byte(cfgSrc))
	require.NoError(t, err)
	if tc.setup != nil {
		tc.setup(cfg)
	}

	files := sampleRepo()
	files[repoconfig.Path] = cfgSrc
	for p, content := range tc.files {
		if content == "" {
			delete(files, p)
			continue
		}
		files[p] = content
	}
	wd := newWorkdir(t, parent, files, nil)

	var sp *spec.Spec
	if tc.issue != "" {
		sp, err = spec.ParseIssue(7, "Greeting", tc.issue)
	} else if tc.spec != "" {
		sp, err = spec.Parse(tc.spec, []byte(files[tc.spec]))
	} else {
		sp, err = spec.Parse(specPath, []byte(files[specPath]))
	}
	require.NoError(t, err)

	e := newEngine(t, tc.workerEnv, tc.secrets...)
	e.SandboxErr = tc.noSandbox
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := &recorder{onStart: func(step string) {
		if step == tc.stopAt {
			cancel()
		}
	}}
	if tc.stopAt == "{{stop}}" {
		require.NoError(t, syscall.Mkfifo(stopFIFO, 0o600))
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			f, err := os.Open(stopFIFO) // until the agent opens it to write
			if err != nil {
				return
			}
			_, _ = io.ReadAll(f)
			f.Close()
			cancel()
		}()
		defer func() {
			// An agent that never got there: let the reader go.
			if w, err := os.OpenFile(stopFIFO, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			<-stopped
		}()
	}
	res := e.Run(ctx, wd, Input{Config: cfg, Spec: sp, PinnedID: tc.pin, PreviousFailures: tc.previous}, rec)

	var ran []string
	if b, err := os.ReadFile(ranLog); err == nil {
		ran = strings.Fields(string(b))
	}
	return res, wd, rec, ran
}
