// The evidence a cycle posts: its check runs, from queued to completed.

package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// evidenceSteps are the steps that get a check run.
var evidenceSteps = [...]string{cycle.StepImplement, cycle.StepVerify, cycle.StepAudit}

// queueChecks creates the cycle's check runs, queued, on the commit it
// starts from: the reviewer sees at once what is coming.
func (c *cycleRun) queueChecks(ctx context.Context) {
	c.checks = map[string]int64{}
	for _, step := range evidenceSteps {
		summary := fmt.Sprintf("Cycle %d of run %d: %s has not started yet. Follow it on the [run page](%s).", c.cycle.ID, c.run.ID, step, c.d.runURL(c.run.ID))
		id, err := c.createCheck(ctx, step, c.start, evidence.Queued, step+" queued", summary)
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
	if !c.stillOwned(ctx) {
		return
	}
	c.d.event(ctx, c.run.ID, c.cycle.ID, "step", step, "started", step+" started")
	c.progress.started(step)
	title := step + " in progress"
	summary := fmt.Sprintf("Cycle %d of run %d: %s is running. Follow it on the [run page](%s).", c.cycle.ID, c.run.ID, step, c.d.runURL(c.run.ID))
	if c.started == nil {
		c.started = map[int64]bool{}
	}
	if id, ok := c.checks[step]; ok {
		c.started[id] = true
		if err := c.rc.checks().Start(ctx, id, "specloop/"+step, title, summary); err != nil {
			c.d.Logger.Warn("start check run", "step", step, "err", err)
		}
		return
	}
	if c.checks == nil {
		c.checks = map[string]int64{}
	}
	id, err := c.createCheck(ctx, step, c.start, evidence.InProgress, title, summary)
	if err != nil {
		c.d.Logger.Warn("create check run", "step", step, "err", err)
		return
	}
	c.checks[step] = id
	c.started[id] = true
}

// StepFinished completes the step's check run with its evidence.
func (c *cycleRun) StepFinished(ctx context.Context, step string, ev *cycle.Evidence) {
	if !c.stillOwned(ctx) {
		return
	}
	c.closeLive(step)
	data := stepData(ev)
	c.d.eventData(ctx, c.run.ID, c.cycle.ID, "step", step, string(ev.Conclusion), ev.Title, marshalStepData(data))
	c.progress.finished(step, ev.Conclusion, "", data)
	id, ok := c.checks[step]
	if !ok {
		return
	}
	if err := c.completeCheck(ctx, id, ev); err != nil {
		c.d.Logger.Warn("complete check run", "step", step, "err", err)
		return
	}
	delete(c.checks, step)
}

// stillOwned checks the fence before a step's event and check-run write: a
// worker that lost the cycle while it could not beat (frozen past its
// lease, then woken) must not move a check run the taker completed back to
// in progress, nor complete it with its own evidence. A refusal stops the
// cycle, as a refused heartbeat does; it also extends the lease of a worker
// that still owns it. Any other error leaves the decision to the heartbeat.
func (c *cycleRun) stillOwned(ctx context.Context) bool {
	if _, err := store.Heartbeat(ctx, c.d.Pool, c.cycle.ID, c.fence, c.d.LeaseTTL); errors.Is(err, store.ErrFenced) {
		c.cancel(store.ErrFenced)
		return false
	}
	return true
}

// createCheck creates a check run of the cycle and records it, so it is
// completed whatever happens to the cycle.
func (c *cycleRun) createCheck(ctx context.Context, step, sha string, status evidence.Status, title, summary string) (int64, error) {
	name := "specloop/" + step
	cr, err := c.rc.checks().Create(ctx, evidence.Run{
		Name: name, HeadSHA: sha, Status: status, Title: title, Summary: summary,
		ExternalID: fmt.Sprintf("cycle:%d", c.cycle.ID), DetailsURL: c.d.runURL(c.run.ID),
	})
	if err != nil {
		return 0, err
	}
	if err := store.RecordCheckRun(ctx, c.d.Pool, &store.CheckRun{ID: cr.GetID(), CycleID: c.cycle.ID, Repo: c.run.Repo,
		Name: name, HeadSHA: sha, HTMLURL: cr.GetHTMLURL()}); err != nil {
		return cr.GetID(), fmt.Errorf("record check run %s: %w", name, err)
	}
	return cr.GetID(), nil
}

// completeCheck finishes a check run with a step's evidence and records
// that it is complete.
func (c *cycleRun) completeCheck(ctx context.Context, id int64, ev *cycle.Evidence) error {
	if err := c.rc.checks().CompleteStep(ctx, id, ev, c.d.runURL(c.run.ID)); err != nil {
		return err
	}
	return store.CompleteCheckRun(ctx, c.d.Pool, id)
}

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

// completeOpenChecks completes every check run of the cycle still open (a
// crash, a stop, a shutdown): no check run is left spinning.
func (c *cycleRun) completeOpenChecks(ctx context.Context, conclusion state.Conclusion, summary string) {
	open, err := store.OpenCheckRuns(ctx, c.d.Pool, c.cycle.ID)
	if err != nil {
		c.d.Logger.Error("open check runs", "cycle", c.cycle.ID, "err", err)
		return
	}
	if len(open) == 0 {
		return
	}
	owner, name := splitRepo(c.run.Repo)
	checks := evidence.NewCheckRuns(c.d.GitHub.Installation(c.run.InstallationID), owner, name)
	if c.rc != nil {
		checks = c.rc.checks()
	}
	var errs []error
	for _, cr := range open {
		title, concl := "Cycle ended: "+string(conclusion), conclusion
		// A step of this cycle that never started (the cycle ended before
		// it) is skipped, not failed.
		if c.queuedOnly(cr.ID) {
			title, concl = "Did not run: the cycle ended "+string(conclusion), state.Skipped
		}
		if err := checks.Complete(ctx, cr.ID, cr.Name, concl, title, summary); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := store.CompleteCheckRun(ctx, c.d.Pool, cr.ID); err != nil {
			errs = append(errs, fmt.Errorf("record check run %d complete: %w", cr.ID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.d.Logger.Error("complete open check runs", "cycle", c.cycle.ID, "err", err)
	}
}
