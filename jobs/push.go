package jobs

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/store"
)

// SpecPushWorker posts the specloop/spec check run for a push to the
// default branch that touched specs and, with `on_push: cycle`, queues a
// cycle for each changed spec's next obligation.
type SpecPushWorker struct {
	river.WorkerDefaults[SpecPushArgs]
	d *Deps
}

func (w *SpecPushWorker) Work(ctx context.Context, job *river.Job[SpecPushArgs]) error {
	a := job.Args
	rc, err := w.d.openRepoForJob(ctx, a.Repo, a.InstallationID)
	if err != nil {
		return err
	}
	if rc.Config.OnPush == "none" {
		return nil
	}
	var specs []*spec.Spec
	var problems []*spec.Error
	for _, f := range a.Files {
		if !rc.Config.IsSpec(f) {
			continue
		}
		src, err := rc.file(ctx, f, a.After)
		if err != nil {
			return err
		}
		if src == nil {
			continue // removed in this push
		}
		if errs := spec.Lint(f, src); len(errs) > 0 {
			problems = append(problems, errs...)
			continue
		}
		s, err := spec.Parse(f, src)
		if err != nil {
			return fmt.Errorf("parse %s: %w", f, err)
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 && len(problems) == 0 {
		return nil
	}
	if err := w.postSpecCheck(ctx, rc, a.After, specs, problems); err != nil {
		return err
	}
	if rc.Config.OnPush != "cycle" {
		return nil
	}
	for _, s := range specs {
		if _, ok := s.Next(); !ok {
			continue
		}
		run, err := store.UpsertRun(ctx, w.d.Pool, &store.Run{
			Repo: a.Repo, InstallationID: rc.InstallationID, Branch: SpecBranch(rc.Config, s.Path), Kind: "spec", SpecPath: s.Path,
		})
		if err != nil {
			return err
		}
		if n, err := activeCycles(ctx, w.d.Pool, run.ID); err != nil {
			return err
		} else if n > 0 {
			continue
		}
		if _, err := w.d.queueCycle(ctx, run, "push", ""); err != nil {
			return err
		}
	}
	return nil
}

// SpecBranch is the branch of a spec's run: the prefix and the spec's path
// without its extension, e.g. specloop/spec/auth.
func SpecBranch(cfg *RepoConfig, specPath string) string {
	name := strings.TrimSuffix(specPath, path.Ext(specPath))
	name = strings.TrimPrefix(name, "specs/")
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '/', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	return cfg.BranchPrefix + "spec/" + strings.Trim(b.String(), "/.")
}

func (w *SpecPushWorker) postSpecCheck(ctx context.Context, rc *repoContext, sha string, specs []*spec.Spec, problems []*spec.Error) error {
	summary, annotations, counts := SpecSummary(specs, problems)
	conclusion := "success"
	if len(problems) > 0 {
		conclusion = "failure"
	}
	title := fmt.Sprintf("%d done, %d open, %d blocked", counts[spec.StateDone], counts[spec.StateOpen], counts[spec.StateBlocked])
	if len(problems) > 0 {
		title = fmt.Sprintf("%d problem(s) in specs; %s", len(problems), title)
	}
	return postCompletedCheck(ctx, rc, "specloop/spec", sha, conclusion, title, summary, annotations)
}

// SpecSummary renders the specloop/spec check's summary: each obligation
// with its state, and the next one.
func SpecSummary(specs []*spec.Spec, problems []*spec.Error) (string, []*github.CheckRunAnnotation, map[spec.State]int) {
	var b strings.Builder
	counts := map[spec.State]int{}
	var annotations []*github.CheckRunAnnotation
	for _, p := range problems {
		fmt.Fprintf(&b, "- :x: `%s:%d`: %s\n", p.Path, p.Line, p.Msg)
		annotations = append(annotations, &github.CheckRunAnnotation{
			Path: github.String(p.Path), StartLine: github.Int(max(p.Line, 1)), EndLine: github.Int(max(p.Line, 1)),
			AnnotationLevel: github.String("failure"), Message: github.String(p.Msg),
		})
	}
	if len(problems) > 0 {
		b.WriteString("\n")
	}
	for _, s := range specs {
		fmt.Fprintf(&b, "### `%s`\n\n| state | id | obligation |\n| --- | --- | --- |\n", s.Path)
		for _, st := range s.Status() {
			counts[st.State]++
			icon := map[spec.State]string{spec.StateDone: ":white_check_mark: done", spec.StateOpen: ":white_circle: open", spec.StateBlocked: ":no_entry: blocked"}[st.State]
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", icon, st.ID, escapeCell(st.Text))
		}
		if next, ok := s.Next(); ok {
			fmt.Fprintf(&b, "\n**Next:** `%s` %s\n\n", next.ID, escapeCell(next.Text))
		} else {
			b.WriteString("\n**Next:** nothing left.\n\n")
		}
	}
	return b.String(), annotations, counts
}

func escapeCell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

func postCompletedCheck(ctx context.Context, rc *repoContext, name, sha, conclusion, title, summary string, annotations []*github.CheckRunAnnotation) error {
	out := &github.CheckRunOutput{Title: github.String(title), Summary: github.String(capOutput(summary, ""))}
	out.Annotations, annotations = splitAnnotations(annotations)
	cr, _, err := rc.GH.Checks.CreateCheckRun(ctx, rc.Owner, rc.Name, github.CreateCheckRunOptions{
		Name: name, HeadSHA: sha, Status: github.String("completed"), Conclusion: github.String(conclusion), Output: out,
	})
	if err != nil {
		return fmt.Errorf("create %s check run: %w", name, err)
	}
	return annotate(ctx, rc, cr.GetID(), name, out, annotations)
}

// splitAnnotations cuts off the first request's worth (GitHub takes 50 at
// a time).
func splitAnnotations(a []*github.CheckRunAnnotation) (first, rest []*github.CheckRunAnnotation) {
	n := min(len(a), maxAnnotations)
	return a[:n], a[n:]
}

// annotate sends the remaining annotations of a check run in batches of 50,
// each with the run's output (GitHub requires it); they accumulate.
func annotate(ctx context.Context, rc *repoContext, id int64, name string, out *github.CheckRunOutput, rest []*github.CheckRunAnnotation) error {
	for len(rest) > 0 {
		out.Annotations, rest = splitAnnotations(rest)
		if _, _, err := rc.GH.Checks.UpdateCheckRun(ctx, rc.Owner, rc.Name, id, github.UpdateCheckRunOptions{Name: name, Output: out}); err != nil {
			return fmt.Errorf("annotate %s check run: %w", name, err)
		}
	}
	return nil
}

// GitHub's limits on check run output.
const (
	maxOutput      = 65535
	maxAnnotations = 50
)

// capOutput keeps text within GitHub's limit, ending with a note that points
// at the full log.
func capOutput(s, link string) string {
	if len(s) <= maxOutput {
		return s
	}
	note := "\n\n… truncated to fit GitHub's 65,535-character limit."
	if link != "" {
		note += " Full log: " + link
	}
	cut := maxOutput - len(note)
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
