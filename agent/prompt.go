package agent

import (
	"fmt"
	"strings"
)

// Role is the part an agent plays in a cycle.
type Role string

// The roles of a cycle, in the order they act.
const (
	// Implementer makes the change an obligation asks for.
	Implementer Role = "implementer"
	// Fixer repairs the change after the verify command failed.
	Fixer Role = "fixer"
	// Auditor reads the obligation and the diff and writes a verdict.
	Auditor Role = "auditor"
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case Implementer, Fixer, Auditor:
		return true
	}
	return false
}

// Header keys of the machine-readable lines at the top of every prompt.
// Each appears at most once, at the start of a line, as "Key: value", before
// any prose, so that the first match in a prompt is always the header's.
const (
	HeaderRole           = "Specloop-Role"
	HeaderObligationID   = "Obligation-ID"
	HeaderObligationText = "Obligation-Text"
	HeaderSpecPath       = "Spec-Path"
	HeaderAuditFile      = "Audit-File"
	HeaderAllowedPaths   = "Allowed-Paths"
)

// DefaultAuditFile is where the auditor writes its verdict when
// PromptInput.AuditFile is empty.
const DefaultAuditFile = ".specloop/audit.json"

// Caps on the parts of a prompt that come from outside specloop. They keep
// a prompt well inside any model's context window however large a repo's
// AGENTS.md, a failing test log or a diff is.
const (
	maxRepoInstructions = 16 << 10
	maxSection          = 16 << 10
	maxPreviousFailure  = 8 << 10
	maxVerifyFailure    = 16 << 10
	maxDiff             = 96 << 10
)

// Obligation is the piece of a spec a prompt is about.
type Obligation struct {
	// ID is the obligation's stable id, e.g. "auth-1".
	ID string
	// Text is the task-list item's text, without the checkbox and id.
	Text string
	// Headings are the headings the item sits under, outermost first.
	Headings []string
	// Section is the Markdown of the spec section holding the item, for
	// context.
	Section string
	// Tags are the item's tags as the tool writes them ("P", "US1").
	Tags []string
	// Details are the item's own sub-bullets, as Markdown lines.
	Details []string
	// Requirements are the acceptance criteria the item names, with their
	// text from the tool's requirements document.
	Requirements []Requirement
}

// Requirement is one acceptance criterion an obligation names.
type Requirement struct {
	Ref  string // "1.2", "FR-001"
	Text string // empty when the requirements document does not hold it
}

// PromptInput is everything a prompt is written from.
type PromptInput struct {
	Obligation Obligation
	// SpecPath is the spec file, relative to the working copy; empty for a
	// spec that is an issue body.
	SpecPath string
	// ConfigPath is the repo config file (repoconfig.Path), which no agent
	// may edit.
	ConfigPath string
	// RepoInstructions is the content of the repo's AGENTS.md, if any.
	RepoInstructions string
	// PreviousFailure says how the last cycle of this obligation failed.
	PreviousFailure string
	// VerifyFailure is the failing verify output, for the fixer.
	VerifyFailure string
	// Diff is the change under audit, for the auditor.
	Diff string
	// Checks are specloop's deterministic findings on the diff (deleted or
	// skipped tests, removed assertions, verify config edits), for the
	// auditor; nil when none ran.
	Checks []Finding
	// AuditFile is where the auditor must write its verdict, relative to the
	// working copy; empty means DefaultAuditFile.
	AuditFile string
	// Paths are the globs the agent may write to, from the spec's paths:;
	// empty means anywhere except the protected files.
	Paths []string
	// Format names the tool that wrote the spec ("spec-kit", "kiro", …).
	Format string
	// ContextDocs are paths of documents beside the spec for the agent to
	// read (and edit when the task asks), not pasted: they can be long.
	ContextDocs []string
	// Fix, when set, makes this a fix cycle's prompt (see loop.go).
	Fix *Fix
	// Answers are the agent's questions on this obligation and their
	// answers, kept for every later cycle of the obligation.
	Answers []Answer
	// Memory is what earlier cycles of the run did and noted.
	Memory Memory
	// Plan makes this a planning cycle's prompt: the agent writes the
	// task list to PlanFile and changes nothing else.
	Plan bool
}

// auditFile returns the audit file the prompt names.
func (in PromptInput) auditFile() string {
	if in.AuditFile == "" {
		return DefaultAuditFile
	}
	return in.AuditFile
}

// Prompt writes the prompt for role. The same input always yields the same
// bytes, so prompts can be stored, compared and replayed.
//
// The prompt starts with a title and then machine-readable header lines,
// one per line, "Key: value", values on one line:
//
//	Specloop-Role: implementer|fixer|auditor
//	Obligation-ID: <id>
//	Obligation-Text: <text, newlines folded to spaces>
//	Spec-Path: <path>             (when the spec is a file)
//	Allowed-Paths: <glob>, <glob> (when the spec sets paths:)
//	Audit-File: <path>            (auditor only)
//
// The rest is Markdown prose for the agent.
func Prompt(role Role, in PromptInput) string {
	var b strings.Builder
	ob := in.Obligation

	switch role {
	case Fixer:
		fmt.Fprintf(&b, "# specloop: fix the change for obligation %s\n\n", ob.ID)
	case Auditor:
		fmt.Fprintf(&b, "# specloop: audit the change for obligation %s\n\n", ob.ID)
	default:
		if in.Plan {
			fmt.Fprintf(&b, "# specloop: plan the work of %s\n\n", ob.ID)
		} else if in.Fix != nil {
			fmt.Fprintf(&b, "# specloop: a requested fix, in the context of obligation %s\n\n", ob.ID)
		} else {
			fmt.Fprintf(&b, "# specloop: implement obligation %s\n\n", ob.ID)
		}
	}

	header(&b, HeaderRole, string(role))
	header(&b, HeaderObligationID, ob.ID)
	header(&b, HeaderObligationText, ob.Text)
	if in.SpecPath != "" {
		header(&b, HeaderSpecPath, in.SpecPath)
	}
	if len(in.Paths) > 0 {
		header(&b, HeaderAllowedPaths, strings.Join(in.Paths, ", "))
	}
	if role == Auditor {
		header(&b, HeaderAuditFile, in.auditFile())
	}
	loopHeaders(&b, in)
	b.WriteString("\n")

	switch role {
	case Fixer:
		b.WriteString("You are the fixer of specloop, a bot that turns Markdown specs into pull requests. " +
			"An earlier pass implemented the obligation below in this working copy, but the project's " +
			"verify command failed. Make verify pass while keeping the obligation implemented.\n\n")
	case Auditor:
		b.WriteString("You are the auditor of specloop, a bot that turns Markdown specs into pull requests. " +
			"Another agent changed this working copy to implement the obligation below. Judge independently " +
			"whether the diff implements the obligation fully and correctly, and whether it stays within the rules.\n\n")
	default:
		b.WriteString("You are the implementer of specloop, a bot that turns Markdown specs into pull requests. " +
			"Implement the obligation below in this working copy: the code and the tests that show it works.\n\n")
	}

	b.WriteString("## Obligation\n\n")
	fmt.Fprintf(&b, "- ID: `%s`\n", ob.ID)
	if in.SpecPath != "" {
		fmt.Fprintf(&b, "- Spec: `%s`\n", in.SpecPath)
	}
	if in.Format != "" {
		fmt.Fprintf(&b, "- Format: %s\n", in.Format)
	}
	if len(ob.Headings) > 0 {
		fmt.Fprintf(&b, "- Section: %s\n", strings.Join(ob.Headings, " > "))
	}
	if len(ob.Tags) > 0 {
		fmt.Fprintf(&b, "- Tags: %s\n", strings.Join(ob.Tags, ", "))
	}
	b.WriteString("\n")
	quote(&b, ob.Text)
	b.WriteString("\n")
	if len(ob.Details) > 0 {
		b.WriteString("### Its details\n\n")
		fence(&b, "markdown", headCap(strings.Join(ob.Details, "\n"), maxSection))
	}
	if len(ob.Requirements) > 0 {
		b.WriteString("### The acceptance criteria it names\n\n")
		for _, r := range ob.Requirements {
			text := strings.Join(strings.Fields(r.Text), " ")
			if text == "" {
				text = "(not found in the requirements document; read it yourself)"
			}
			fmt.Fprintf(&b, "- `%s`: %s\n", r.Ref, headCap(text, 2<<10))
		}
		b.WriteString("\n")
	}
	if len(in.ContextDocs) > 0 {
		b.WriteString("### Documents to read first\n\n")
		b.WriteString("These lie beside the spec and explain the work. Read the ones that bear on this obligation; " +
			"you may edit them when the obligation asks.\n\n")
		for _, d := range in.ContextDocs {
			fmt.Fprintf(&b, "- `%s`\n", d)
		}
		b.WriteString("\n")
	}

	if s := strings.TrimSpace(ob.Section); s != "" {
		b.WriteString("### The spec section it belongs to\n\n")
		fence(&b, "markdown", headCap(s, maxSection))
	}

	if s := strings.TrimSpace(in.RepoInstructions); s != "" {
		b.WriteString("## Repository instructions (AGENTS.md)\n\n")
		b.WriteString("Follow these unless they conflict with the rules below.\n\n")
		fence(&b, "markdown", headCap(s, maxRepoInstructions))
	}

	if s := strings.TrimSpace(in.PreviousFailure); s != "" && role != Auditor {
		b.WriteString("## The previous attempt failed\n\n")
		b.WriteString("An earlier cycle on this obligation failed like this. Do not repeat its mistake.\n\n")
		fence(&b, "text", tailCap(s, maxPreviousFailure))
	}

	loopSections(&b, role, in)

	if role == Fixer {
		b.WriteString("## Verify failure\n\n")
		if s := strings.TrimSpace(in.VerifyFailure); s != "" {
			b.WriteString("The verify command failed with this output (its end):\n\n")
			fence(&b, "text", tailCap(s, maxVerifyFailure))
		} else {
			b.WriteString("The verify command failed without output.\n\n")
		}
	}

	if role == Auditor {
		b.WriteString("## Diff under audit\n\n")
		if s := strings.TrimSpace(in.Diff); s != "" {
			fence(&b, "diff", capString(s, maxDiff))
		} else {
			b.WriteString("The diff is empty.\n\n")
		}
		if in.Checks != nil {
			writeChecks(&b, in.Checks)
		}
	}

	b.WriteString("## Rules\n\n")
	if role == Auditor {
		fmt.Fprintf(&b, "- Do not change any file other than `%s`.\n", in.auditFile())
		fmt.Fprintf(&b, "- Fail the change if it edits a spec file or `%s`, or ticks the obligation's checkbox: only specloop may.\n", in.ConfigPath)
		if len(in.Paths) > 0 {
			b.WriteString("- Fail the change if it writes files outside these globs:")
			for _, p := range in.Paths {
				fmt.Fprintf(&b, " `%s`", p)
			}
			b.WriteString(".\n")
		}
	} else {
		if in.SpecPath != "" {
			fmt.Fprintf(&b, "- Do not edit the spec file `%s`, any other spec file, or `%s`.\n", in.SpecPath, in.ConfigPath)
		} else {
			fmt.Fprintf(&b, "- Do not edit any spec file or `%s`.\n", in.ConfigPath)
		}
		b.WriteString("- Do not tick the obligation's checkbox: specloop checks it off itself when the cycle succeeds.\n")
		b.WriteString("- Do not delete, skip or weaken tests, and do not edit CI workflows (`.github/workflows/`) or the verify command's config: specloop checks the diff for that and fails the change.\n")
		if len(in.Paths) > 0 {
			b.WriteString("- Write only files matching these globs:")
			for _, p := range in.Paths {
				fmt.Fprintf(&b, " `%s`", p)
			}
			b.WriteString(".\n")
		}
		b.WriteString("- Do not commit, push or create branches: specloop commits and pushes your change.\n")
		b.WriteString("- Keep the change to what this obligation needs; later obligations get their own cycles.\n")
	}
	loopRules(&b, role, in)
	b.WriteString("\n")

	b.WriteString("## When you are done\n\n")
	switch role {
	case Auditor:
		fmt.Fprintf(&b, "Write your verdict as JSON to `%s` (create the directory if needed), in this form:\n\n", in.auditFile())
		fence(&b, "json", `{"verdict": "pass", "summary": "one paragraph", "findings": [{"file": "path/in/repo.go", "line": 12, "message": "what is wrong", "severity": "failure"}]}`)
		b.WriteString("`verdict` is `pass` or `fail`. Each finding needs `file` (relative to the working copy) and " +
			"`message`; `line` is 1-based, 0 for the whole file; `severity` is `failure`, `warning` or `notice`. " +
			"Fail when the obligation is not fully implemented, tests are missing or wrong, or a rule was broken. " +
			"No verdict file counts as a failed audit.\n")
	default:
		b.WriteString("Leave the working copy with your change in place and exit with status 0. " +
			"Exit non-zero only if you could not do the work, and say why in your last message.\n")
	}
	return b.String()
}

// header writes one machine-readable "Key: value" line, folding the value
// onto one line so a reader can split the header on newlines.
func header(b *strings.Builder, key, value string) {
	fmt.Fprintf(b, "%s: %s\n", key, strings.Join(strings.Fields(value), " "))
}

// quote writes s as a Markdown block quote.
func quote(b *strings.Builder, s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "(no text)"
	}
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			b.WriteString(">\n")
			continue
		}
		b.WriteString("> " + line + "\n")
	}
}

// fence writes s in a fenced code block whose fence is longer than any run
// of backticks in s, so that content from a repo cannot close it early.
func fence(b *strings.Builder, lang, s string) {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", max(3, longest+1))
	b.WriteString(f + lang + "\n" + s)
	if !strings.HasSuffix(s, "\n") {
		b.WriteString("\n")
	}
	b.WriteString(f + "\n\n")
}

// headCap keeps the first max bytes of s: instructions and spec sections
// matter most at their start.
func headCap(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return validUTF8Prefix(s[:max]) + fmt.Sprintf("\n[… %d bytes elided …]", len(s)-max)
}

// tailCap keeps the last max bytes of s: failures are explained at the end
// of a log.
func tailCap(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("[… %d bytes elided …]\n", len(s)-max) + validUTF8Suffix(s[len(s)-max:])
}

// capString keeps head and tail of s, like Cap.
func capString(s string, max int) string {
	out, _ := Cap([]byte(s), max)
	return string(out)
}

// writeChecks lists specloop's own findings on the diff for the auditor.
func writeChecks(b *strings.Builder, checks []Finding) {
	b.WriteString("## specloop's deterministic checks\n\n")
	if len(checks) == 0 {
		b.WriteString("specloop's own checks of the diff (not a model's) found no deleted or skipped test, no removed assertion, no edited expected value and no edit to the verify command's config or CI.\n\n")
		return
	}
	b.WriteString("specloop's own checks of the diff (not a model's) found these. A `failure` among them fails the audit whatever your verdict; for each `warning`, say in a finding whether the obligation justifies it.\n\n")
	for _, f := range checks {
		fmt.Fprintf(b, "- `%s:%d` (%s): %s\n", f.File, f.Line, f.Severity, oneLine(f.Message))
	}
	b.WriteString("\n")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
