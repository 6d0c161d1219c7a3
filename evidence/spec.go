package evidence

import (
	"fmt"
	"strings"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
)

// SpecCheck is the specloop/spec check run of a push: every obligation of
// the pushed specs with its state, the next one, and the problems lint
// found as annotations.
func SpecCheck(sha string, specs []*spec.Spec, problems []*spec.Error) Run {
	summary, annotations, counts := SpecSummary(specs, problems)
	conclusion := state.Success
	if spec.HasErrors(problems) {
		conclusion = state.Failure
	}
	title := fmt.Sprintf("%d done, %d open, %d blocked", counts[spec.StateDone], counts[spec.StateOpen], counts[spec.StateBlocked])
	if n := counts[spec.StateInProgress]; n > 0 {
		title += fmt.Sprintf(", %d in progress", n)
	}
	if n := counts[spec.StateOptional]; n > 0 {
		title += fmt.Sprintf(", %d optional", n)
	}
	if spec.HasErrors(problems) {
		title = fmt.Sprintf("%d problem(s) in specs; %s", len(problems), title)
	}
	return Run{Name: "specloop/spec", HeadSHA: sha, Status: Completed, Conclusion: conclusion,
		Title: title, Summary: summary, Annotations: annotations}
}

// specFilesPrefix starts a specloop/spec check's external_id: the files
// it read, so "Re-run" reads the same files again.
const specFilesPrefix = "files:"

// SpecCheckID is the external_id of a spec check over files.
func SpecCheckID(files []string) string { return specFilesPrefix + strings.Join(files, "\n") }

// SpecCheckFiles reads the files back from a spec check's external_id.
func SpecCheckFiles(externalID string) []string {
	rest, ok := strings.CutPrefix(externalID, specFilesPrefix)
	if !ok || rest == "" {
		return nil
	}
	return strings.Split(rest, "\n")
}

// SpecSummary renders the specloop/spec check's summary: each obligation
// with its state, and the next one.
func SpecSummary(specs []*spec.Spec, problems []*spec.Error) (string, []*github.CheckRunAnnotation, map[spec.State]int) {
	var b strings.Builder
	counts := map[spec.State]int{}
	var annotations []*github.CheckRunAnnotation
	for _, p := range problems {
		icon, level := ":x:", "failure"
		if p.Warning {
			icon, level = ":warning:", "warning"
		}
		fmt.Fprintf(&b, "- %s `%s:%d`: %s\n", icon, p.Path, p.Line, p.Msg)
		annotations = append(annotations, &github.CheckRunAnnotation{
			Path: github.String(p.Path), StartLine: github.Int(max(p.Line, 1)), EndLine: github.Int(max(p.Line, 1)),
			AnnotationLevel: github.String(level), Message: github.String(p.Msg),
		})
	}
	if len(problems) > 0 {
		b.WriteString("\n")
	}
	icons := map[spec.State]string{spec.StateDone: ":white_check_mark: done", spec.StateOpen: ":white_circle: open", spec.StateBlocked: ":no_entry: blocked",
		spec.StateOptional: ":heavy_minus_sign: optional", spec.StateInProgress: ":hourglass: in progress"}
	for _, s := range specs {
		format := ""
		if s.Format != spec.FormatPlain && s.Format != "" {
			format = fmt.Sprintf(" (%s)", s.Format)
		}
		fmt.Fprintf(&b, "### `%s`%s\n\n| state | id | obligation |\n| --- | --- | --- |\n", s.Path, format)
		for _, st := range s.Status() {
			counts[st.State]++
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", icons[st.State], st.ID, markdown.Cell(st.Text))
		}
		if next, ok := s.Next(); ok {
			fmt.Fprintf(&b, "\n**Next:** `%s` %s\n\n", next.ID, markdown.Cell(next.Text))
		} else {
			b.WriteString("\n**Next:** nothing left.\n\n")
		}
	}
	return b.String(), annotations, counts
}

// ConfigCheck is the failing specloop/config check run on the default
// branch's head when the repo config does not parse: it says where.
func ConfigCheck(sha string, perr error) Run {
	return Run{Name: "specloop/config", HeadSHA: sha, Status: Completed, Conclusion: state.Failure,
		Title:   ".github/specloop.yml does not parse",
		Summary: fmt.Sprintf("specloop does nothing in this repo until its config is fixed.\n\n```\n%s\n```", perr)}
}
