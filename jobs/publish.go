// Publishing a cycle: the commit, the push from outside the sandbox, the
// PR, and the evidence on the pushed commit.

package jobs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// publish commits the change (with the obligation ticked on success),
// pushes the run's branch from outside the sandbox, opens or updates the PR
// and posts the evidence on the pushed commit.
func (c *cycleRun) publish(ctx context.Context, wd *workspace.Workdir, sp *spec.Spec, res *Result, token string) error {
	d, rc := c.d, c.rc
	start := time.Now()
	if res.Ticked != nil {
		if err := wd.WriteFile(sp.Path, res.Ticked); err != nil {
			return fmt.Errorf("tick %s: %w", res.Obligation.ID, err)
		}
	}
	os.RemoveAll(wd.Path + "/" + strings.TrimSuffix(scratchDir, "/"))
	slug := d.AppSlug
	if slug == "" {
		slug = "specloop"
	}
	msg := fmt.Sprintf("specloop: %s %s\n\nObligation %s of %s, cycle %d of run %d (%s).",
		res.Obligation.ID, oneLine(res.Obligation.Text, 60), res.Obligation.ID, specName(sp), c.cycle.ID, c.run.ID, res.Conclusion)
	sha, err := wd.Commit(ctx, msg, workspace.Signature{Name: slug + "[bot]", Email: slug + "[bot]@users.noreply.github.com"})
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	pushStart := time.Now()
	err = wd.Push(ctx, workspace.PushOptions{RemoteURL: rc.Repo.GetCloneURL(), Token: token, SHA: sha, Branch: c.run.Branch, BranchPrefix: rc.Config.BranchPrefix})
	if err != nil {
		return err
	}
	store.UpdateCycle(ctx, d.Pool, c.cycle.ID, c.fence, res.Obligation.ID, res.Obligation.Text, sha)
	d.event(ctx, c.run.ID, c.cycle.ID, "step", StepPublish, "success", fmt.Sprintf("pushed %.12s to %s (commit %s, push %s)", sha, c.run.Branch,
		pushStart.Sub(start).Round(time.Millisecond), time.Since(pushStart).Round(time.Millisecond)))
	pr, err := c.upsertPR(ctx, sp, res)
	if err != nil {
		return err
	}
	for _, ev := range res.Steps {
		name := "specloop/" + ev.Step
		id, err := c.createCheck(ctx, name, sha, &github.CheckRunOutput{Title: github.String(ev.Title), Summary: github.String("…")}, "in_progress", "")
		if err != nil {
			return err
		}
		if err := c.completeCheck(ctx, id, name, ev); err != nil {
			return err
		}
	}
	if c.run.Kind == "issue" && res.Conclusion == "success" {
		c.tickIssue(ctx, res.Obligation.ID)
	}
	d.event(ctx, c.run.ID, c.cycle.ID, "step", StepPublish, "success",
		fmt.Sprintf("PR #%d updated with evidence in %s", pr.GetNumber(), time.Since(start).Round(time.Millisecond)))
	return nil
}

func specName(sp *spec.Spec) string {
	if isIssueSpec(sp) {
		return "the issue"
	}
	return sp.Path
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// upsertPR opens the run's PR or updates its body and draft state.
func (c *cycleRun) upsertPR(ctx context.Context, sp *spec.Spec, res *Result) (*github.PullRequest, error) {
	rc := c.rc
	title := sp.Title
	if title == "" {
		title = specName(sp)
	}
	title = "specloop: " + title
	body := c.prBody(ctx, sp, res)
	prs, _, err := rc.GH.PullRequests.List(ctx, rc.Owner, rc.Name, &github.PullRequestListOptions{
		State: "open", Head: rc.Owner + ":" + c.run.Branch,
	})
	if err != nil {
		return nil, fmt.Errorf("find PR of %s: %w", c.run.Branch, err)
	}
	var pr *github.PullRequest
	if len(prs) == 0 {
		pr, _, err = rc.GH.PullRequests.Create(ctx, rc.Owner, rc.Name, &github.NewPullRequest{
			Title: &title, Head: github.String(c.run.Branch), Base: github.String(c.base()), Body: &body, Draft: github.Bool(res.Draft),
		})
		if err != nil {
			return nil, fmt.Errorf("open PR: %w", err)
		}
	} else {
		pr, _, err = rc.GH.PullRequests.Edit(ctx, rc.Owner, rc.Name, prs[0].GetNumber(), &github.PullRequest{Body: &body, Draft: github.Bool(res.Draft)})
		if err != nil {
			return nil, fmt.Errorf("update PR #%d: %w", prs[0].GetNumber(), err)
		}
	}
	if pr.GetNumber() != c.run.PR {
		if err := store.SetRunPR(ctx, c.d.Pool, c.run.ID, pr.GetNumber()); err != nil {
			return nil, err
		}
		c.run.PR = pr.GetNumber()
	}
	return pr, nil
}

func (c *cycleRun) base() string {
	if c.rc.Config.Base != "" {
		return c.rc.Config.Base
	}
	return c.rc.DefaultBranch
}

func (c *cycleRun) prBody(ctx context.Context, sp *spec.Spec, res *Result) string {
	var b strings.Builder
	if c.run.Kind == "issue" {
		fmt.Fprintf(&b, "Closes #%d\n\n", c.run.Issue)
	}
	fmt.Fprintf(&b, "specloop works through `%s`, one obligation per cycle. [Run page](%s)\n\n", specName(sp), c.d.runURL(c.run.ID))
	b.WriteString("| cycle | obligation | conclusion |\n| --- | --- | --- |\n")
	cycles, _ := store.ListCycles(ctx, c.d.Pool, c.run.ID)
	for _, cy := range cycles {
		if cy.ID == c.cycle.ID {
			fmt.Fprintf(&b, "| %d | `%s` %s | **%s** (this push) |\n", cy.ID, res.Obligation.ID, escapeCell(oneLine(res.Obligation.Text, 80)), res.Conclusion)
			continue
		}
		if cy.State == "done" && cy.ObligationID != "" {
			fmt.Fprintf(&b, "| %d | `%s` %s | %s |\n", cy.ID, cy.ObligationID, escapeCell(oneLine(cy.ObligationText, 80)), cy.Conclusion)
		}
	}
	if res.Draft {
		b.WriteString("\n:warning: A check fails: this PR stays a draft until a cycle passes. `/loop retry` runs the failed obligation again.\n")
	}
	b.WriteString("\nCommands: " + CommandList() + ".\n")
	return b.String()
}

// tickIssue checks the obligation off in the issue body, which is the spec
// of an issue run.
func (c *cycleRun) tickIssue(ctx context.Context, id string) {
	rc := c.rc
	issue, _, err := rc.GH.Issues.Get(ctx, rc.Owner, rc.Name, c.run.Issue)
	if err != nil {
		c.d.Logger.Warn("read issue to tick", "err", err)
		return
	}
	ticked, err := spec.Tick(spec.IssuePath(c.run.Issue), []byte(issue.GetBody()), id)
	if err != nil {
		return // a body without a task list has nothing to tick
	}
	body := string(ticked)
	if _, _, err := rc.GH.Issues.Edit(ctx, rc.Owner, rc.Name, c.run.Issue, &github.IssueRequest{Body: &body}); err != nil {
		c.d.Logger.Warn("tick issue", "err", err)
	}
}
