// Publishing a cycle on GitHub: the commit and push (package publish), the
// PR, and the evidence on the pushed commit.

package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// publish commits the change (with the obligation ticked on success),
// pushes the run's branch from outside the sandbox, opens or updates the PR
// and posts the evidence on the pushed commit. Nothing is pushed once the
// lease is lost, or once cycleCtx (the cycle's own context, which a stop or
// the end of a shutdown's grace ends) has ended; past the push, only ctx
// ends it.
func (c *cycleRun) publish(ctx, cycleCtx context.Context, wd *workspace.Workdir, sp *spec.Spec, res *cycle.Result) error {
	d, rc := c.d, c.rc
	start := time.Now()
	slug := d.AppSlug
	if slug == "" {
		slug = "specloop"
	}
	cycles, err := store.ListCycles(ctx, d.Pool, c.run.ID)
	if err != nil {
		return fmt.Errorf("list the run's cycles: %w", err)
	}
	var pushStart time.Time
	var change *publish.Change
	change = &publish.Change{
		Spec: sp, Obligation: res.Obligation, Conclusion: res.Conclusion, Ticked: res.Ticked,
		Context: fmt.Sprintf("cycle %d of run %d", c.cycle.ID, c.run.ID),
		Author:  workspace.Signature{Name: slug + "[bot]", Email: slug + "[bot]@users.noreply.github.com"},
		Branch:  c.run.Branch, Draft: res.Draft,
		PRTitle: prTitle(sp), PRBody: c.prBody(sp, res, cycles),
		// The fence is checked after the commit and before the push: a
		// worker that lost the cycle pushes nothing.
		BeforePush: func(ctx context.Context, sha string) error {
			if err := context.Cause(cycleCtx); err != nil {
				return fmt.Errorf("not pushed: %w", err)
			}
			pushStart = time.Now()
			if err := c.recordObligation(ctx, res.Obligation, sha); err != nil {
				return err
			}
			// Before the push, so a worker that dies past it leaves what
			// a taker needs to finish the publish (resume.go).
			if err := c.recordPublish(ctx, sha, res, change); err != nil {
				return err
			}
			c.pushed = true
			return nil
		},
	}
	st := &statement{}
	c.evidenceChange(change, sp, res, st)
	gh := c.githubBackend()
	out, err := publish.Publish(ctx, gh, wd, change)
	if err != nil {
		return err
	}
	d.event(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepPublish, string(state.Success), fmt.Sprintf("pushed %.12s to %s (commit %s, push and PR %s)", out.SHA, c.run.Branch,
		pushStart.Sub(start).Round(time.Millisecond), time.Since(pushStart).Round(time.Millisecond)))
	c.loop.pushed = out.SHA
	if out.PR.Number != c.run.PR {
		if err := store.SetRunPR(ctx, d.Pool, c.run.ID, out.PR.Number); err != nil {
			return err
		}
		c.run.PR = out.PR.Number
		c.progress.setPR(out.PR.Number)
	}
	d.Engine.CacheAfter(rc.Full, out.SHA, res)
	if out.NoteErr != nil {
		d.Logger.Warn("push the statement note", "cycle", c.cycle.ID, "err", out.NoteErr)
	}
	link := c.statementSection(out.SHA, out, st)
	for _, ev := range res.Steps {
		linked := *ev
		linked.Summary += link
		if err := c.postCheck(ctx, out.SHA, &linked); err != nil {
			return err
		}
	}
	if c.run.Kind == state.RunIssue && res.Conclusion == state.Success && !res.Fix {
		if err := gh.TickIssue(ctx, c.run.Issue, res.Obligation.ID); err != nil {
			d.Logger.Warn("tick issue", "repo", rc.Full, "issue", c.run.Issue, "err", err)
		}
	}
	c.published = true
	c.progress.finished(cycle.StepPublish, state.Success, fmt.Sprintf("PR #%d", out.PR.Number), nil)
	d.event(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepPublish, string(state.Success),
		fmt.Sprintf("PR #%d updated with evidence in %s", out.PR.Number, time.Since(start).Round(time.Millisecond)))
	return nil
}

// postCheck posts a step's evidence on the pushed commit, completed in
// one request, and records it.
func (c *cycleRun) postCheck(ctx context.Context, sha string, ev *cycle.Evidence) error {
	cr, err := c.rc.checks().PostStep(ctx, sha, ev, c.d.runURL(c.run.ID), fmt.Sprintf("cycle:%d", c.cycle.ID))
	if cr == nil {
		return err
	}
	name := "specloop/" + ev.Step
	if rerr := store.RecordCheckRun(ctx, c.d.Pool, &store.CheckRun{ID: cr.GetID(), CycleID: c.cycle.ID, Repo: c.run.Repo,
		Name: name, HeadSHA: sha, HTMLURL: cr.GetHTMLURL()}); rerr != nil {
		return fmt.Errorf("record check run %s: %w", name, rerr)
	}
	// Completed on GitHub even if some annotations did not go.
	if cerr := store.CompleteCheckRun(ctx, c.d.Pool, cr.GetID()); cerr != nil {
		return cerr
	}
	return err
}

func prTitle(sp *spec.Spec) string {
	title := sp.Title
	if title == "" {
		title = publish.SpecName(sp)
	}
	return "specloop: " + title
}

// prBody is the run's PR description: where it comes from, each cycle
// with its conclusion, and the commands.
func (c *cycleRun) prBody(sp *spec.Spec, res *cycle.Result, cycles []*store.Cycle) string {
	var b strings.Builder
	// GitHub honours closing keywords only in PRs toward the default
	// branch; elsewhere the issue is named without one.
	if c.run.Kind == state.RunIssue {
		if c.rc.base() == c.rc.DefaultBranch {
			fmt.Fprintf(&b, "Closes #%d\n\n", c.run.Issue)
		} else {
			fmt.Fprintf(&b, "For #%d: this PR goes to `%s`, not the default branch, where GitHub ignores closing keywords; close the issue when the change reaches `%s`.\n\n",
				c.run.Issue, c.rc.base(), c.rc.DefaultBranch)
		}
	}
	fmt.Fprintf(&b, "specloop works through `%s`, one obligation per cycle. [Run page](%s)\n\n", publish.SpecName(sp), c.d.runURL(c.run.ID))
	b.WriteString("| cycle | obligation | conclusion |\n| --- | --- | --- |\n")
	for _, cy := range cycles {
		if cy.ID == c.cycle.ID {
			fmt.Fprintf(&b, "| %d | `%s` %s | **%s** (this push) |\n", cy.ID, res.Obligation.ID, markdown.Cell(markdown.OneLine(res.Obligation.Text, 80)), res.Conclusion)
			continue
		}
		if cy.State == state.CycleDone && cy.ObligationID != "" {
			fmt.Fprintf(&b, "| %d | `%s` %s | %s |\n", cy.ID, cy.ObligationID, markdown.Cell(markdown.OneLine(cy.ObligationText, 80)), cy.Conclusion)
		}
	}
	if res.Draft {
		b.WriteString("\n:warning: A check fails: this PR stays a draft until a cycle passes. `/loop retry` runs the failed obligation again.\n")
	}
	b.WriteString("\nCommands: " + CommandList() + ".\n")
	return b.String()
}
