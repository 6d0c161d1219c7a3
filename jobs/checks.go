// The evidence a cycle posts: its check runs, from queued to completed,
// within GitHub's limits.

package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/store"
)

// queuedOnly reports whether a check run is this attempt's and its step
// never started.
func (c *cycleRun) queuedOnly(id int64) bool {
	for _, mine := range c.checks {
		if mine == id {
			return !c.started[id]
		}
	}
	return false
}

// evidenceSteps are the steps that get a check run.
var evidenceSteps = []string{StepImplement, StepVerify, StepAudit}

// queueChecks creates the cycle's check runs, queued, on the commit it
// starts from: the reviewer sees at once what is coming.
func (c *cycleRun) queueChecks(ctx context.Context) {
	c.checks = map[string]int64{}
	for _, step := range evidenceSteps {
		id, err := c.createCheck(ctx, "specloop/"+step, c.start, &github.CheckRunOutput{
			Title:   github.String(step + " queued"),
			Summary: github.String(fmt.Sprintf("Cycle %d of run %d: %s has not started yet. Follow it on the [run page](%s).", c.cycle.ID, c.run.ID, step, c.d.runURL(c.run.ID))),
		}, "queued", "")
		if err != nil {
			c.d.Logger.Warn("create check run", "step", step, "err", err)
			continue
		}
		c.checks[step] = id
	}
}

// StepStarted moves the step's check run to in progress and records the
// event.
func (c *cycleRun) StepStarted(ctx context.Context, step string) {
	c.d.event(ctx, c.run.ID, c.cycle.ID, "step", step, "started", step+" started")
	out := &github.CheckRunOutput{
		Title:   github.String(step + " in progress"),
		Summary: github.String(fmt.Sprintf("Cycle %d of run %d: %s is running. Follow it on the [run page](%s).", c.cycle.ID, c.run.ID, step, c.d.runURL(c.run.ID))),
	}
	if c.started == nil {
		c.started = map[int64]bool{}
	}
	if id, ok := c.checks[step]; ok {
		c.started[id] = true
		_, _, err := c.rc.GH.Checks.UpdateCheckRun(ctx, c.rc.Owner, c.rc.Name, id, github.UpdateCheckRunOptions{
			Name: "specloop/" + step, Status: github.String("in_progress"), Output: out,
		})
		if err != nil {
			c.d.Logger.Warn("start check run", "step", step, "err", err)
		}
		return
	}
	if c.checks == nil {
		c.checks = map[string]int64{}
	}
	id, err := c.createCheck(ctx, "specloop/"+step, c.start, out, "in_progress", "")
	if err != nil {
		c.d.Logger.Warn("create check run", "step", step, "err", err)
		return
	}
	c.checks[step] = id
	c.started[id] = true
}

// StepFinished completes the step's check run with its evidence.
func (c *cycleRun) StepFinished(ctx context.Context, step string, ev *Evidence) {
	c.d.event(ctx, c.run.ID, c.cycle.ID, "step", step, ev.Conclusion, ev.Title)
	id, ok := c.checks[step]
	if !ok {
		return
	}
	if err := c.completeCheck(ctx, id, "specloop/"+step, ev); err != nil {
		c.d.Logger.Warn("complete check run", "step", step, "err", err)
		return
	}
	delete(c.checks, step)
}

func (c *cycleRun) createCheck(ctx context.Context, name, sha string, out *github.CheckRunOutput, status, conclusion string) (int64, error) {
	opts := github.CreateCheckRunOptions{
		Name: name, HeadSHA: sha, Status: github.String(status), Output: out,
		ExternalID: github.String(fmt.Sprintf("cycle:%d", c.cycle.ID)), DetailsURL: github.String(c.d.runURL(c.run.ID)),
	}
	if conclusion != "" {
		opts.Conclusion = github.String(conclusion)
	}
	cr, _, err := c.rc.GH.Checks.CreateCheckRun(ctx, c.rc.Owner, c.rc.Name, opts)
	if err != nil {
		return 0, fmt.Errorf("create check run %s: %w", name, err)
	}
	if err := store.RecordCheckRun(ctx, c.d.Pool, &store.CheckRun{ID: cr.GetID(), CycleID: c.cycle.ID, Repo: c.run.Repo,
		Name: name, HeadSHA: sha, HTMLURL: cr.GetHTMLURL(), Completed: status == "completed"}); err != nil {
		return cr.GetID(), err
	}
	return cr.GetID(), nil
}

// checkConclusion maps a step's conclusion to one GitHub accepts.
func checkConclusion(s string) string {
	switch s {
	case "success", "failure", "neutral", "cancelled", "timed_out", "action_required", "skipped":
		return s
	}
	return "neutral"
}

// completeCheck finishes a check run with evidence, in GitHub's limits:
// output capped with a link to the full log, annotations in batches of 50.
func (c *cycleRun) completeCheck(ctx context.Context, id int64, name string, ev *Evidence) error {
	link := c.d.runURL(c.run.ID)
	first, rest := splitAnnotations(findingsToAnnotations(ev.Findings))
	out := &github.CheckRunOutput{
		Title:       github.String(ev.Title),
		Summary:     github.String(capOutput(ev.Summary+fmt.Sprintf("\n\nFull logs: [run page](%s)", link), link)),
		Text:        github.String(capOutput(ev.Text, link)),
		Annotations: first,
	}
	if ev.Text == "" {
		out.Text = nil
	}
	_, _, err := c.rc.GH.Checks.UpdateCheckRun(ctx, c.rc.Owner, c.rc.Name, id, github.UpdateCheckRunOptions{
		Name: name, Status: github.String("completed"), Conclusion: github.String(checkConclusion(ev.Conclusion)),
		CompletedAt: &github.Timestamp{Time: time.Now()}, Output: out,
		Actions: []*github.CheckRunAction{{Label: "Next cycle", Description: "Run the next obligation", Identifier: ActionNext}},
	})
	if err != nil {
		return fmt.Errorf("complete check run %s: %w", name, err)
	}
	if err := annotate(ctx, c.rc, id, name, out, rest); err != nil {
		return err
	}
	return store.CompleteCheckRun(ctx, c.d.Pool, id)
}

func findingsToAnnotations(fs []agent.Finding) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for _, f := range fs {
		level := "failure"
		switch f.Severity {
		case "warning":
			level = "warning"
		case "notice":
			level = "notice"
		}
		line := max(f.Line, 1)
		out = append(out, &github.CheckRunAnnotation{
			Path: github.String(f.File), StartLine: github.Int(line), EndLine: github.Int(line),
			AnnotationLevel: github.String(level), Message: github.String(f.Message),
		})
	}
	return out
}

// completeOpenChecks completes every check run of the cycle still open (a
// crash, a stop, a shutdown): no check run is left spinning.
func (c *cycleRun) completeOpenChecks(ctx context.Context, conclusion, summary string) {
	open, err := store.OpenCheckRuns(ctx, c.d.Pool, c.cycle.ID)
	if err != nil {
		c.d.Logger.Error("open check runs", "cycle", c.cycle.ID, "err", err)
		return
	}
	if len(open) == 0 {
		return
	}
	gh := c.d.GitHub.Installation(c.run.InstallationID)
	owner, name := splitRepo(c.run.Repo)
	if c.rc != nil {
		gh = c.rc.GH
	}
	for _, cr := range open {
		title, concl := "Cycle ended: "+conclusion, conclusion
		// A step of this cycle that never started (the cycle ended before
		// it) is skipped, not failed.
		if c.queuedOnly(cr.ID) {
			title, concl = "Did not run: the cycle ended "+conclusion, "skipped"
		}
		_, _, err := gh.Checks.UpdateCheckRun(ctx, owner, name, cr.ID, github.UpdateCheckRunOptions{
			Name: cr.Name, Status: github.String("completed"), Conclusion: github.String(checkConclusion(concl)),
			CompletedAt: &github.Timestamp{Time: time.Now()},
			Output:      &github.CheckRunOutput{Title: &title, Summary: github.String(capOutput(summary, ""))},
		})
		if err != nil {
			c.d.Logger.Error("complete open check run", "check_run", cr.ID, "err", err)
			continue
		}
		store.CompleteCheckRun(ctx, c.d.Pool, cr.ID)
	}
}
