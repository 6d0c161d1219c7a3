// Failing CI becomes the next cycle's input: another app's check suite that
// fails on a run's PR head queues a fix cycle fed with the failing check
// runs, at most limits.ci_fixes in a row; a failure the base branch shares
// is pre-existing and not chased.

package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// Caps on the CI output a fix prompt holds.
const (
	ciRunText     = 6 << 10 // a run's summary and text, each
	ciAnnotations = 30      // annotations per run
)

// CheckSuiteArgs is another app's check suite that completed failing.
type CheckSuiteArgs struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installation_id"`
	SuiteID        int64  `json:"suite_id"`
	HeadSHA        string `json:"head_sha"`
	Branch         string `json:"branch"`
	App            string `json:"app"` // the suite's app slug
	Delivery       string `json:"delivery"`
}

func (CheckSuiteArgs) Kind() string { return "check_suite" }

// CheckSuiteWorker queues the CI fix cycle of a failing suite.
type CheckSuiteWorker struct {
	river.WorkerDefaults[CheckSuiteArgs]
	d *deps
}

// failingRun is a failing check run of a suite, with its annotations.
type failingRun struct {
	run         *github.CheckRun
	annotations []*github.CheckRunAnnotation
}

func failing(c string) bool { return c == "failure" || c == "timed_out" }

func (w *CheckSuiteWorker) Work(ctx context.Context, job *river.Job[CheckSuiteArgs]) error {
	a, d := job.Args, w.d
	rc, err := d.openRepoForJob(ctx, a.Repo, a.InstallationID)
	if err != nil {
		return err
	}
	if rc.Config.OnCIFailure != repoconfig.OnCycle {
		return nil
	}
	run, err := store.FindRunByBranch(ctx, d.Pool, a.Repo, a.Branch)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if run.PR == 0 || run.State != state.RunActive {
		return nil
	}
	if waiting, err := d.planWaiting(ctx, run.ID); err != nil || waiting {
		return err // the plan's commit holds no code to fix
	}
	pr, _, err := rc.GH.PullRequests.Get(ctx, rc.Owner, rc.Name, run.PR)
	if err != nil {
		return fmt.Errorf("get PR #%d: %w", run.PR, err)
	}
	if pr.GetHead().GetSHA() != a.HeadSHA {
		return nil // the PR moved on; its new head gets its own suite
	}
	runs, err := suiteRuns(ctx, rc, a.SuiteID, true)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return nil
	}
	// What also fails on the base branch, from the same app, is not this
	// PR's doing.
	base, err := baseFailures(ctx, rc, pr.GetBase().GetSHA(), a.App)
	if err != nil {
		return err
	}
	var chase, pre []failingRun
	for _, r := range runs {
		if base[r.run.GetName()] {
			pre = append(pre, r)
		} else {
			chase = append(chase, r)
		}
	}
	if len(chase) == 0 {
		return d.reply(ctx, rc, run.PR, fmt.Sprintf("CI (%s) fails on %.12s, but what fails (%s) fails on the base branch too (%.12s): "+
			"a pre-existing failure, which specloop does not chase.", a.App, a.HeadSHA, runNames(pre), pr.GetBase().GetSHA()))
	}
	release, cycles, fixes, err := d.lockFixes(ctx, run.ID)
	if err != nil {
		return err
	}
	defer release()
	inRow := 0
	for i := len(cycles) - 1; i >= 0 && fixes[cycles[i].ID].Source == agent.FixCI; i-- {
		if fixes[cycles[i].ID].Head == a.HeadSHA || cycles[i].State != state.CycleDone {
			return nil // already queued or run for this head
		}
		inRow++
	}
	if limit := *rc.Config.Limits.CIFixes; inRow >= limit {
		return d.reply(ctx, rc, run.PR, fmt.Sprintf("CI (%s) still fails on %.12s (%s) after %d CI fix cycles in a row, the limit (`limits.ci_fixes`). "+
			"The run waits: `/loop fix <text>` or a push takes it on.", a.App, a.HeadSHA, runNames(chase), inRow))
	}
	reply, err := d.queueFix(ctx, rc, run, "ci", store.Fix{Source: agent.FixCI, From: "the check suite of app `" + a.App + "`",
		Text: ciText(chase, pre), Head: a.HeadSHA})
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "queued cycle") {
		return d.reply(ctx, rc, run.PR, "specloop did not act on the failing CI: "+reply)
	}
	d.event(ctx, run.ID, 0, "note", "", "", fmt.Sprintf("CI (%s) failed on %.12s: %s", a.App, a.HeadSHA, reply))
	return nil
}

// suiteRuns lists a suite's failing check runs (all of them unless
// failingOnly), with their annotations when failing.
func suiteRuns(ctx context.Context, rc *repoContext, suiteID int64, failingOnly bool) ([]failingRun, error) {
	var out []failingRun
	opts := &github.ListCheckRunsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		page, resp, err := rc.GH.Checks.ListCheckRunsCheckSuite(ctx, rc.Owner, rc.Name, suiteID, opts)
		if err != nil {
			return nil, fmt.Errorf("list the check runs of suite %d: %w", suiteID, err)
		}
		for _, r := range page.CheckRuns {
			if failingOnly && !failing(r.GetConclusion()) {
				continue
			}
			fr := failingRun{run: r}
			if failing(r.GetConclusion()) && r.GetOutput().GetAnnotationsCount() > 0 {
				anns, _, err := rc.GH.Checks.ListCheckRunAnnotations(ctx, rc.Owner, rc.Name, r.GetID(), &github.ListOptions{PerPage: ciAnnotations})
				if err != nil {
					return nil, fmt.Errorf("list the annotations of check run %d: %w", r.GetID(), err)
				}
				fr.annotations = anns
			}
			out = append(out, fr)
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// baseFailures names the check runs of app that fail on the base commit.
func baseFailures(ctx context.Context, rc *repoContext, sha, app string) (map[string]bool, error) {
	out := map[string]bool{}
	if sha == "" {
		return out, nil
	}
	suites, _, err := rc.GH.Checks.ListCheckSuitesForRef(ctx, rc.Owner, rc.Name, sha, &github.ListCheckSuiteOptions{ListOptions: github.ListOptions{PerPage: 100}})
	if err != nil {
		return nil, fmt.Errorf("list the check suites of %.12s: %w", sha, err)
	}
	for _, s := range suites.CheckSuites {
		if s.GetApp().GetSlug() != app {
			continue
		}
		runs, err := suiteRuns(ctx, rc, s.GetID(), true)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			out[r.run.GetName()] = true
		}
	}
	return out, nil
}

// ciText is the failing runs as the fix prompt quotes them: name, title,
// summary, annotations and output text, capped.
func ciText(chase, pre []failingRun) string {
	var b strings.Builder
	for _, r := range chase {
		out := r.run.GetOutput()
		fmt.Fprintf(&b, "### Check run `%s`: %s\n\n", r.run.GetName(), r.run.GetConclusion())
		if t := out.GetTitle(); t != "" {
			fmt.Fprintf(&b, "Title: %s\n\n", t)
		}
		if s := strings.TrimSpace(out.GetSummary()); s != "" {
			b.WriteString("Summary:\n\n" + indent(capText(s, ciRunText)) + "\n\n")
		}
		if len(r.annotations) > 0 {
			b.WriteString("Annotations:\n\n")
			for _, an := range r.annotations {
				fmt.Fprintf(&b, "- %s:%d (%s) %s\n", an.GetPath(), an.GetStartLine(), an.GetAnnotationLevel(), strings.Join(strings.Fields(an.GetMessage()), " "))
			}
			b.WriteString("\n")
		}
		if s := strings.TrimSpace(out.GetText()); s != "" {
			b.WriteString("Output (its end):\n\n" + indent(tailText(s, ciRunText)) + "\n\n")
		}
	}
	if len(pre) > 0 {
		fmt.Fprintf(&b, "Also failing, but on the base branch too (pre-existing; leave alone): %s\n", runNames(pre))
	}
	return b.String()
}

func runNames(runs []failingRun) string {
	var names []string
	for _, r := range runs {
		names = append(names, "`"+r.run.GetName()+"`")
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func capText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "\n[…]"
}

func tailText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return "[…]\n" + strings.ToValidUTF8(s[len(s)-max:], "")
}
