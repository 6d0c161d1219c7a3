// Plan first, with approval: a run whose spec is prose, or whose config or
// spec says `plan: approve`, or that got `/loop plan`, starts with a
// planning cycle. It writes the task list into the issue body, pushes the
// PR's first commit and waits until a maintainer comments `/loop approve`
// or approves the PR; later cycles follow the list as the maintainer left
// it. A plain spec file's plan goes into a task file beside it
// (specs/auth.md: specs/auth/tasks.md), committed on the PR's branch, and
// the run follows that file from then on; the maintainer edits it by
// pushing to the branch. Task files of the other formats are plans
// already and are never planned.

package jobs

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// planMarker heads the plan in an issue body; a new plan replaces what
// follows it.
const planMarker = "<!-- specloop:plan -->"

// planWaits is the reply to what would start work while a plan waits.
const planWaits = "the plan waits for approval first. " + cycle.HowToApprove

// planning says whether this cycle plans, or whether the run's plan still
// waits (then the cycle does nothing).
func (c *cycleRun) planning(ctx context.Context, sp *spec.Spec, fix bool) (plan, waiting bool, err error) {
	if fix || c.run.Kind == state.RunSpec && sp.Format != spec.FormatPlain {
		return false, false, nil
	}
	if c.cycle.Trigger == "plan" {
		return true, false, nil
	}
	p, err := store.GetPlan(ctx, c.d.Pool, c.run.ID)
	if err != nil {
		return false, false, err
	}
	if p != nil {
		return false, p.Waiting, nil
	}
	return c.rc.Config.Plan == repoconfig.PlanApprove || sp.Plan == repoconfig.PlanApprove || cycle.IsProse(sp), false, nil
}

// withPlan is an issue body with tasks as its plan, after the marker; a
// plan written before is replaced.
func withPlan(body, tasks string) string {
	if i := strings.Index(body, planMarker); i >= 0 {
		body = body[:i]
	} else {
		body = strings.TrimRight(body, "\n") + "\n\n## Plan\n\n"
	}
	return body + planMarker + "\n" + strings.TrimSpace(tasks) + "\n"
}

// publishPlan writes the plan into the issue body, pushes the PR's first
// commit, posts the evidence on it and says on the PR how to approve.
func (c *cycleRun) publishPlan(ctx context.Context, wd *workspace.Workdir, sp *spec.Spec, res *cycle.Result) error {
	d, rc := c.d, c.rc
	// The planner was to change nothing; whatever it did is dropped.
	if err := wd.Reset(ctx); err != nil {
		return err
	}
	slug := d.AppSlug
	if slug == "" {
		slug = "specloop"
	}
	author := workspace.Signature{Name: slug + "[bot]", Email: slug + "[bot]@users.noreply.github.com"}
	var sha, where string
	if c.run.Kind == state.RunIssue {
		issue, _, err := rc.GH.Issues.Get(ctx, rc.Owner, rc.Name, c.run.Issue)
		if err != nil {
			return fmt.Errorf("read issue #%d: %w", c.run.Issue, err)
		}
		body := withPlan(issue.GetBody(), res.Plan)
		if _, _, err := rc.GH.Issues.Edit(ctx, rc.Owner, rc.Name, c.run.Issue, &github.IssueRequest{Body: &body}); err != nil {
			return fmt.Errorf("write the plan into issue #%d: %w", c.run.Issue, err)
		}
		msg := fmt.Sprintf("specloop: plan for #%d\n\nThe task list is in issue #%d and waits for a maintainer's approval (cycle %d of run %d).",
			c.run.Issue, c.run.Issue, c.cycle.ID, c.run.ID)
		if sha, err = wd.CommitEmpty(ctx, msg, author); err != nil {
			return err
		}
		where = fmt.Sprintf("#%d", c.run.Issue)
	} else {
		tasks := PlanTasksPath(c.run.SpecPath)
		content := fmt.Sprintf("# Tasks: %s\n\nPlanned by specloop from `%s`. Edit this list on the branch, then `/loop approve`.\n\n%s",
			sp.Title, c.run.SpecPath, strings.TrimSpace(res.Plan)+"\n")
		if err := wd.WriteFile(tasks, []byte(content)); err != nil {
			return fmt.Errorf("write the plan to %s: %w", tasks, err)
		}
		msg := fmt.Sprintf("specloop: plan for %s\n\nThe task list of %s, waiting for a maintainer's approval (cycle %d of run %d).",
			c.run.SpecPath, c.run.SpecPath, c.cycle.ID, c.run.ID)
		var err error
		if sha, err = wd.Commit(ctx, msg, author); err != nil {
			return err
		}
		if err := store.SetRunSpecPath(ctx, d.Pool, c.run.ID, tasks); err != nil {
			return err
		}
		where = "`" + tasks + "` on this branch"
	}
	if err := c.recordObligation(ctx, res.Obligation, sha); err != nil {
		return err
	}
	gh := &publish.GitHub{
		Client: rc.GH, Owner: rc.Owner, Repo: rc.Name, CloneURL: rc.CloneURL, Base: rc.base(), BranchPrefix: rc.Config.BranchPrefix,
		Token: func(ctx context.Context) (string, error) { return d.GitHub.Token(ctx, rc.InstallationID) },
	}
	if err := gh.Push(ctx, wd, sha, c.run.Branch); err != nil {
		return err
	}
	closes := ""
	if c.run.Kind == state.RunIssue {
		closes = fmt.Sprintf("Closes #%d\n\n", c.run.Issue)
	}
	pr, err := gh.PullRequest(ctx, &publish.Change{Spec: sp, Obligation: res.Obligation, Conclusion: res.Conclusion, Branch: c.run.Branch, Draft: true,
		PRTitle: prTitle(sp), PRBody: fmt.Sprintf("%sspecloop planned the work: the task list is in %s and waits for approval. %s [Run page](%s)\n\nCommands: %s.\n",
			closes, where, cycle.HowToApprove, d.runURL(c.run.ID), CommandList())})
	if err != nil {
		return err
	}
	if pr.Number != c.run.PR {
		if err := store.SetRunPR(ctx, d.Pool, c.run.ID, pr.Number); err != nil {
			return err
		}
		c.run.PR = pr.Number
	}
	if err := store.SetPlanWaiting(ctx, d.Pool, c.run.ID, c.cycle.ID); err != nil {
		return err
	}
	for _, ev := range res.Steps {
		id, err := c.createCheck(ctx, ev.Step, sha, evidence.InProgress, ev.Title, "…")
		if err != nil {
			return err
		}
		if err := c.completeCheck(ctx, id, ev); err != nil {
			return err
		}
	}
	c.published = true
	d.event(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepPublish, string(state.ActionRequired), fmt.Sprintf("plan written into %s; PR #%d waits for approval", where, pr.Number))
	return d.reply(ctx, rc, pr.Number, fmt.Sprintf("**specloop wrote a plan** into %s:\n\n%s\n\n%s", where, strings.TrimSpace(res.Plan), cycle.HowToApprove))
}

// PlanTasksPath is where a plain spec's plan goes: a task file beside it,
// specs/auth.md → specs/auth/tasks.md (Spec Kit's layout, which discovery
// reads).
func PlanTasksPath(specPath string) string {
	return strings.TrimSuffix(specPath, path.Ext(specPath)) + "/tasks.md"
}

// planWaiting reports whether the run's plan waits for approval: nothing
// but the approval moves such a run on.
func (d *deps) planWaiting(ctx context.Context, runID int64) (bool, error) {
	p, err := store.GetPlan(ctx, d.Pool, runID)
	return p != nil && p.Waiting, err
}

// approve lets the run's waiting plan go ahead.
func (w *CommandWorker) approve(ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run) (string, error) {
	if run == nil {
		return noRun(rc), nil
	}
	return w.d.approve(ctx, run, a.Sender)
}

func (d *deps) approve(ctx context.Context, run *store.Run, by string) (string, error) {
	ok, err := store.ApprovePlan(ctx, d.Pool, run.ID, by)
	if err != nil {
		return "", err
	}
	if !ok {
		return "there is no plan waiting for approval here.", nil
	}
	c, err := d.queueCycle(ctx, run, "approve", "")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("queued cycle %d: the plan is approved, and the cycles follow it as it stands in the issue now. [Run page](%s).", c.ID, d.runURL(run.ID)), nil
}

// plan queues a planning cycle on the issue's run.
func (w *CommandWorker) plan(ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run) (string, error) {
	if run == nil {
		return noRun(rc), nil
	}
	if run.Kind != state.RunIssue && path.Base(run.SpecPath) == "tasks.md" {
		return "this run's spec is a task file already; edit it on the branch instead.", nil
	}
	c, err := w.d.queueCycle(ctx, run, "plan", "")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("queued cycle %d: a planning cycle; the plan waits for approval. [Run page](%s).", c.ID, w.d.runURL(run.ID)), nil
}

// approvePlan approves a run's waiting plan on an approving review by
// someone with write access; it reports whether the review was that.
func (d *deps) approvePlan(ctx context.Context, rc *repoContext, run *store.Run, a ReviewArgs) (bool, error) {
	if a.State != "approved" {
		return false, nil
	}
	p, err := store.GetPlan(ctx, d.Pool, run.ID)
	if err != nil || p == nil || !p.Waiting {
		return false, err
	}
	if ok, err := canDrive(ctx, rc, a.Sender); err != nil || !ok {
		return false, err
	}
	reply, err := d.approve(ctx, run, a.Sender)
	if err != nil {
		return true, err
	}
	return true, d.reply(ctx, rc, run.PR, fmt.Sprintf("@%s approved the review: %s", a.Sender, reply))
}
