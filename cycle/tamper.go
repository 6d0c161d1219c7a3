package cycle

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

// tampered lists changed paths the agent may not touch: specs, the repo
// config and CI workflows always (the app has no workflows permission, so
// GitHub would refuse the push anyway); outside the spec's `paths:` when
// it sets them. Under
// discovery a plain Markdown file under specs/ is a spec only if it holds
// a task list, which plainSpec answers (nil: every such file is one).
func tampered(cfg *repoconfig.Config, s *spec.Spec, changes []workspace.Change, plainSpec func(path string) bool) []string {
	var bad []string
	protected := func(path string) bool {
		if !cfg.Protected(path) {
			return false
		}
		if plainSpec == nil || path == repoconfig.Path || !cfg.Discovers() || spec.FormatOf(path) != spec.FormatPlain {
			return true
		}
		return plainSpec(path)
	}
	for _, c := range changes {
		switch {
		case isWorkflow(c.Path):
			bad = append(bad, c.Path)
		case protected(c.Path) || (!IsIssueSpec(s) && c.Path == s.Path):
			bad = append(bad, c.Path)
		case len(s.Paths) > 0 && !spec.Match(s.Paths, c.Path):
			bad = append(bad, c.Path)
		}
	}
	return bad
}

// isWorkflow: GitHub refuses a push that touches WorkflowsDir unless the
// app holds the workflows permission, which specloop does not ask for: such
// an edit is refused here, before verify, rather than by GitHub at push
// time after the whole cycle ran.
func isWorkflow(path string) bool { return strings.HasPrefix(path, WorkflowsDir) }

// workflowReason says why workflow edits are refused, for the evidence.
const workflowReason = "Files under `.github/workflows/` cannot be pushed: GitHub refuses them from an app without the `workflows` permission, which specloop does not hold (CI workflows stay a human's change)."

// plainSpecs remembers which plain Markdown files under specs/ were specs
// (held a task list) as checked out, so that the tamper check protects
// them even when the agent strips their tasks, and leaves prose beside
// them editable.
func (p *pass) plainSpecs() func(path string) bool {
	if !p.cfg.Discovers() {
		return nil
	}
	files, err := p.cfg.SpecFiles(p.wd.Path)
	if err != nil {
		p.e.Logger.Warn("list specs for the tamper check", "err", err)
		return nil
	}
	was := map[string]bool{}
	for _, f := range files {
		was[f] = true
	}
	return func(path string) bool {
		if was[path] {
			return true
		}
		src, err := p.wd.ReadFile(path)
		return err == nil && spec.HasTaskList(path, src) // a spec the agent added
	}
}

// refuseTamper discards the agent's changes and concludes action_required
// with the offending diff as the audit evidence.
func (p *pass) refuseTamper(ctx context.Context, bad []string) {
	e, wd, rep, res := p.e, p.wd, p.rep, p.res
	rep.StepStarted(ctx, StepAudit)
	diff, _ := wd.Diff(ctx)
	diff = e.Redactor.Redact(diff)
	offending := filterDiff(diff, bad)
	if err := wd.Reset(ctx); err != nil {
		e.Logger.Error("discard tampered changes", "err", err)
	}
	ev := &Evidence{
		Step: StepAudit, Conclusion: state.ActionRequired,
		Title: fmt.Sprintf("Tamper check failed: the agent changed %d protected file(s)", len(bad)),
		Summary: "The agent may not edit spec files, `.github/specloop.yml`, CI workflows (`.github/workflows/`), or files outside the spec's `paths:`; only specloop checks an obligation off. " +
			"The cycle's changes were discarded and nothing was pushed.\n\n**Tamper check:** failed\n\n" +
			"| protected file |\n| --- |\n| `" + strings.Join(bad, "` |\n| `") + "` |\n",
		Text: "```diff\n" + markdown.Tail(string(offending), 60000) + "\n```",
		Log:  offending,
	}
	workflows := false
	for _, p := range bad {
		msg := "changed by the agent: protected file"
		if isWorkflow(p) {
			msg, workflows = "changed by the agent: a CI workflow, which GitHub refuses from this app", true
		}
		ev.Findings = append(ev.Findings, agent.Finding{File: p, Line: 1, Message: msg, Severity: "failure"})
	}
	if workflows {
		ev.Summary = workflowReason + "\n\n" + ev.Summary
	}
	res.Steps = append(res.Steps, ev)
	rep.StepFinished(ctx, StepAudit, ev)
	res.Patch = offending
	p.conclude(state.ActionRequired, "The agent changed protected files ("+strings.Join(bad, ", ")+"); its changes were discarded. A human must look.")
}

// WorkflowsDir holds a repo's GitHub Actions workflows.
const WorkflowsDir = ".github/workflows/"

// filterDiff keeps the parts of a unified diff that touch paths.
func filterDiff(diff []byte, paths []string) []byte {
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	out := keepFiles(diff, func(path string) bool { return want[path] })
	if len(out) == 0 {
		return diff
	}
	return out
}

// keepFiles keeps the parts of a unified diff whose file keep accepts.
func keepFiles(diff []byte, keep func(path string) bool) []byte {
	var out bytes.Buffer
	keeping := false
	for _, line := range bytes.SplitAfter(diff, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("diff --git ")) {
			fields := strings.Fields(string(line))
			keeping = len(fields) >= 4 && keep(strings.TrimPrefix(fields[3], "b/"))
		}
		if keeping {
			out.Write(line)
		}
	}
	return out.Bytes()
}
