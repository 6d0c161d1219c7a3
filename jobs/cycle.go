package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// CycleWorker runs one cycle. River's job timeout is off for it: the
// cycle's own lease (heartbeats every LeaseTTL/3) says it is alive, and the
// agent and verify timeouts bound it.
type CycleWorker struct {
	river.WorkerDefaults[CycleArgs]
	d *Deps
}

func (w *CycleWorker) Timeout(*river.Job[CycleArgs]) time.Duration { return -1 }

var errStopRequested = errors.New("stop requested")

func (w *CycleWorker) Work(ctx context.Context, job *river.Job[CycleArgs]) error {
	d := w.d
	owner := fmt.Sprintf("%s/job-%d", d.WorkerID, job.ID)
	cycle, err := store.GetCycle(ctx, d.Pool, job.Args.CycleID)
	if err != nil {
		return err
	}
	if cycle.State == "done" {
		return nil
	}
	// Waiting for an earlier cycle of the run costs no GitHub calls.
	if pos, err := store.QueuePosition(ctx, d.Pool, cycle); err != nil {
		return err
	} else if pos > 0 {
		return river.JobSnooze(2 * time.Second)
	}
	run, err := store.GetRun(ctx, d.Pool, cycle.RunID)
	if err != nil {
		return err
	}
	// The repo's config (limits.concurrent) decides whether a slot is free;
	// a repo that cannot be read is claimed anyway, and the cycle says why
	// it failed.
	limit := 0
	rc, rcErr := d.openRepo(ctx, run.Repo, run.InstallationID)
	if rcErr == nil {
		limit = rc.Config.Limits.Concurrent
	}
	claim, fence, err := store.ClaimCycle(ctx, d.Pool, cycle.ID, owner, d.LeaseTTL, limit)
	if err != nil {
		return err
	}
	switch claim {
	case store.Finished:
		return nil
	case store.Waiting:
		// An earlier cycle of the run is active, the repo is at its limit,
		// or a live worker holds this one; look again shortly. Snoozing
		// does not use up attempts.
		return river.JobSnooze(2 * time.Second)
	}
	if cycle, err = store.GetCycle(ctx, d.Pool, cycle.ID); err != nil {
		return err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		d.heartbeat(cctx, cancel, cycle.ID, fence)
	}()

	c := &cycleRun{d: d, cycle: cycle, run: run, fence: fence, ctx: cctx}
	if rcErr == nil {
		c.rc = rc
	}
	conclusion, summary := c.execute(cctx)
	switch cause := context.Cause(cctx); {
	case errors.Is(cause, store.ErrFenced):
		// Another worker owns the cycle now: write nothing more.
		d.Logger.Warn("cycle taken over by another worker", "cycle", cycle.ID)
		cancel(nil)
		<-beatDone
		return nil
	case errors.Is(cause, errStopRequested):
		conclusion, summary = "cancelled", "Stopped on request; nothing more was pushed."
	case ctx.Err() != nil:
		conclusion, summary = "cancelled", "The worker shut down during the cycle; `/loop retry` runs it again."
	}
	cancel(nil)
	<-beatDone
	// Finish on a fresh context: the job's may be cancelled, and every check
	// run that started must complete.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer fcancel()
	c.completeOpenChecks(fctx, conclusion, summary)
	if err := store.FinishCycle(fctx, d.Pool, cycle.ID, fence, conclusion, summary); err != nil {
		if errors.Is(err, store.ErrFenced) {
			return nil
		}
		return err
	}
	d.event(fctx, run.ID, cycle.ID, "cycle", "", conclusion, summary)
	d.Logger.Info("cycle finished", "cycle", cycle.ID, "run", run.ID, "repo", run.Repo, "conclusion", conclusion)
	return nil
}

// heartbeat extends the lease until ctx ends; it cancels the cycle when the
// lease is lost or a stop is requested.
func (d *Deps) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, id, fence int64) {
	t := time.NewTicker(d.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stop, err := store.Heartbeat(ctx, d.Pool, id, fence, d.LeaseTTL)
		switch {
		case errors.Is(err, store.ErrFenced):
			cancel(store.ErrFenced)
			return
		case err != nil:
			d.Logger.Warn("heartbeat", "cycle", id, "err", err)
		case stop:
			cancel(errStopRequested)
			return
		}
	}
}

// cycleRun is one cycle in progress on a worker.
type cycleRun struct {
	d     *Deps
	ctx   context.Context
	cycle *store.Cycle
	run   *store.Run
	fence int64
	rc    *repoContext
	start string // the commit the cycle started from
	// checks are this attempt's check runs on the start commit, by step;
	// started holds those whose step began.
	checks  map[string]int64
	started map[int64]bool
}

func (c *cycleRun) execute(ctx context.Context) (conclusion, summary string) {
	d := c.d
	if d.Engine == nil {
		return "failure", "this process runs no cycles (web only)"
	}
	prepStart := time.Now()
	if c.rc == nil {
		rc, err := d.openRepo(ctx, c.run.Repo, c.run.InstallationID)
		if err != nil {
			return "failure", "Could not read the repository or its config: " + err.Error()
		}
		c.rc = rc
	}
	rc := c.rc
	c.completeOpenChecks(ctx, "cancelled", fmt.Sprintf("The worker running this cycle stopped; specloop took it over (attempt %d).", c.cycle.Attempts))
	token, err := d.GitHub.Token(ctx, rc.InstallationID)
	if err != nil {
		return "failure", "Could not get an installation token: " + err.Error()
	}
	cloneURL := rc.Repo.GetCloneURL()
	fetchStart := time.Now()
	if _, err := d.Engine.Mirrors.Fetch(ctx, cloneURL, token); err != nil {
		return "failure", "Could not fetch the repository: " + err.Error()
	}
	fetchTook := time.Since(fetchStart)
	c.start = rc.HeadSHA
	if ref, resp, err := rc.GH.Git.GetRef(ctx, rc.Owner, rc.Name, "heads/"+c.run.Branch); err == nil {
		c.start = ref.GetObject().GetSHA()
	} else if resp == nil || resp.StatusCode != 404 {
		return "failure", "Could not read the run's branch: " + err.Error()
	}
	checkoutStart := time.Now()
	c.queueChecks(ctx)
	wd, err := d.Engine.Mirrors.Checkout(ctx, cloneURL, c.start)
	if err != nil {
		return "failure", "Could not prepare a working copy: " + err.Error()
	}
	defer wd.Close()
	d.event(ctx, c.run.ID, c.cycle.ID, "step", StepPrepare, "success",
		fmt.Sprintf("working copy of %s at %.12s ready in %s (fetch %s, checkout %s)", rc.Full, c.start,
			time.Since(prepStart).Round(time.Millisecond), fetchTook.Round(time.Millisecond), time.Since(checkoutStart).Round(time.Millisecond)))

	sp, err := c.loadSpec(ctx, wd)
	if err != nil {
		return "failure", err.Error()
	}
	res := d.Engine.Run(ctx, wd, CycleInput{
		Config: rc.Config, Spec: sp, PinnedID: c.cycle.ObligationID, PreviousFailure: c.previousFailure,
	}, c)
	c.storeArtifacts(ctx, res)
	if !res.Publish || ctx.Err() != nil {
		return res.Conclusion, res.Summary
	}
	if err := c.publish(ctx, wd, sp, res, token); err != nil {
		if ctx.Err() != nil {
			return "cancelled", "Stopped before publishing; nothing was pushed."
		}
		return "failure", "Publishing failed: " + err.Error()
	}
	return res.Conclusion, res.Summary
}

// Selected records the obligation as soon as it is chosen, so the run page
// and /loop status show it while the cycle runs.
func (c *cycleRun) Selected(ctx context.Context, ob *spec.Obligation) {
	if ob == nil {
		c.d.event(ctx, c.run.ID, c.cycle.ID, "step", StepSelect, "neutral", "no open obligation")
		return
	}
	if err := store.UpdateCycle(ctx, c.d.Pool, c.cycle.ID, c.fence, ob.ID, ob.Text, c.start); err != nil {
		c.d.Logger.Warn("record obligation", "cycle", c.cycle.ID, "err", err)
	}
	c.d.event(ctx, c.run.ID, c.cycle.ID, "step", StepSelect, "success", fmt.Sprintf("obligation %s: %s", ob.ID, ob.Text))
}

func (c *cycleRun) loadSpec(ctx context.Context, wd *workspace.Workdir) (*spec.Spec, error) {
	rc := c.rc
	if c.run.Kind == "issue" {
		issue, _, err := rc.GH.Issues.Get(ctx, rc.Owner, rc.Name, c.run.Issue)
		if err != nil {
			return nil, fmt.Errorf("read issue #%d: %w", c.run.Issue, err)
		}
		s, err := spec.ParseIssue(c.run.Issue, issue.GetTitle(), issue.GetBody())
		if err != nil {
			return nil, fmt.Errorf("the body of issue #%d is not a valid spec: %w", c.run.Issue, err)
		}
		return s, nil
	}
	src, err := wd.ReadFile(c.run.SpecPath)
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", c.run.SpecPath, err)
	}
	s, err := spec.Parse(c.run.SpecPath, src)
	if err != nil {
		return nil, fmt.Errorf("spec %s is not valid: %w", c.run.SpecPath, err)
	}
	return s, nil
}

// previousFailure is the summary of the last failed cycle of an obligation
// in this run, for the next attempt's prompt.
func (c *cycleRun) previousFailure(id string) string {
	cycles, err := store.ListCycles(c.ctx, c.d.Pool, c.run.ID)
	if err != nil {
		return ""
	}
	for i := len(cycles) - 1; i >= 0; i-- {
		p := cycles[i]
		if p.ID == c.cycle.ID || p.ObligationID != id || p.State != "done" {
			continue
		}
		if p.Conclusion == "success" {
			return ""
		}
		if p.Conclusion == "failure" || p.Conclusion == "timed_out" || p.Conclusion == "action_required" {
			return fmt.Sprintf("Cycle %d concluded %s: %s", p.ID, p.Conclusion, p.Summary)
		}
	}
	return ""
}

func (c *cycleRun) storeArtifacts(ctx context.Context, res *Result) {
	put := func(name string, b []byte) {
		if len(b) == 0 {
			return
		}
		capped, truncated := agent.Cap(c.d.Engine.Redactor.Redact(b), 1<<20)
		if err := store.InsertArtifact(ctx, c.d.Pool, &store.Artifact{CycleID: c.cycle.ID, Name: name, Content: capped, Truncated: truncated}); err != nil {
			c.d.Logger.Error("store artifact", "cycle", c.cycle.ID, "name", name, "err", err)
		}
	}
	for role, p := range res.Prompts {
		put("prompt-"+role+".md", []byte(p))
	}
	for _, e := range res.Steps {
		put(e.Step+".log", e.Log)
	}
	put("patch.diff", res.Patch)
	if a := res.Step(StepAudit); a != nil {
		put("audit.md", []byte(a.Summary))
	}
}
