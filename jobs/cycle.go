package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// CycleWorker runs one cycle. River's job timeout is off for it: the
// cycle's own lease (heartbeats every LeaseTTL/3) says it is alive, and the
// agent and verify timeouts, git's (workspace.Deadlines) and GitHub's
// request timeout bound it.
type CycleWorker struct {
	river.WorkerDefaults[CycleArgs]
	d *deps
}

func (w *CycleWorker) Timeout(*river.Job[CycleArgs]) time.Duration { return -1 }

// waitSnooze is how long a cycle that cannot start yet waits before it
// looks again; looking costs a few queries and no GitHub request.
const waitSnooze = 2 * time.Second

var errStopRequested = errors.New("stop requested")

func (w *CycleWorker) Work(ctx context.Context, job *river.Job[CycleArgs]) error {
	d := w.d
	owner := fmt.Sprintf("%s/job-%d", d.WorkerID, job.ID)
	cy, err := store.GetCycle(ctx, d.Pool, job.Args.CycleID)
	if err != nil {
		return err
	}
	if cy.State == state.CycleDone {
		return nil
	}
	// Waiting for an earlier cycle of the run costs no GitHub calls.
	if pos, err := store.QueuePosition(ctx, d.Pool, cy); err != nil {
		return err
	} else if pos > 0 {
		return river.JobSnooze(waitSnooze)
	}
	run, err := store.GetRun(ctx, d.Pool, cy.RunID)
	if err != nil {
		return err
	}
	// The repo's config (limits.concurrent) decides whether a slot is free;
	// it comes from the cache, so a waiting cycle asks GitHub nothing. A
	// repo that cannot be read is claimed anyway, and the cycle says why
	// it failed.
	limit := 0
	if rc, err := d.repos.open(ctx, run.Repo, run.InstallationID); err == nil {
		limit = rc.Config.Limits.Concurrent
	}
	// The cycle's lock lives as long as this process's database session:
	// if the process dies, the reaper sees it at once (store.OrphanedCycles).
	release, err := store.LockCycle(ctx, d.Pool, cy.ID)
	if errors.Is(err, store.ErrCycleLocked) && d.breakLock(ctx, cy.ID) {
		release, err = store.LockCycle(ctx, d.Pool, cy.ID)
	}
	if errors.Is(err, store.ErrCycleLocked) {
		return river.JobSnooze(waitSnooze) // a live worker runs it
	}
	if err != nil {
		return err
	}
	var once sync.Once
	unlock := func() { once.Do(release) }
	defer unlock()
	claim, fence, err := store.ClaimCycle(ctx, d.Pool, cy.ID, owner, d.LeaseTTL, limit)
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
		return river.JobSnooze(waitSnooze)
	}
	if job.Args.Takeover != 0 {
		d.sweepMirrors(ctx)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Sandbox pods (SANDBOX=kubernetes) carry the cycle and its owner.
	cctx = sandbox.WithLabels(cctx, sandbox.Labels{Cycle: cy.ID, Worker: owner})
	if d.Stops != nil {
		defer d.Stops.Watch(cy.ID, func() { cancel(errStopRequested) })()
	}
	// Read after watching: a stop committed since the claim is either in
	// this row or announced to the watch.
	if cy, err = store.GetCycle(ctx, d.Pool, cy.ID); err != nil {
		return err
	}
	if cy.StopRequested {
		cancel(errStopRequested)
	}
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		d.heartbeat(cctx, cancel, cy.ID, fence)
	}()

	c := &cycleRun{d: d, cycle: cy, run: run, fence: fence, cancel: cancel, unlock: unlock}
	conclusion, summary := c.execute(cctx)
	switch cause := context.Cause(cctx); {
	case errors.Is(cause, store.ErrFenced):
		// Another worker owns the cycle now: write nothing more.
		d.Logger.Warn("cycle taken over by another worker", "cycle", cy.ID)
		c.dropAll()
		cancel(nil)
		<-beatDone
		return nil
	case errors.Is(cause, errStopRequested):
		conclusion, summary = state.Cancelled, "Stopped on request; nothing more was pushed."
	case ctx.Err() != nil && !c.published:
		// The worker is stopping and its grace is over: hand the cycle to
		// another worker rather than cost the maintainer a retry. (A cycle
		// that published is finished as it ended.)
		cancel(nil)
		<-beatDone
		return c.handOver(ctx, fence)
	}
	cancel(nil)
	<-beatDone
	// Finish on a fresh context: the job's may be cancelled, and every check
	// run that started must complete.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer fcancel()
	c.closeAllLive()
	c.completeOpenChecks(fctx, conclusion, summary)
	if err := store.FinishCycle(fctx, d.Pool, cy.ID, fence, conclusion, summary); err != nil {
		if errors.Is(err, store.ErrFenced) {
			return nil
		}
		return err
	}
	d.event(fctx, run.ID, cy.ID, "cycle", "", string(conclusion), summary)
	c.progress.finish(fctx, string(conclusion), summary)
	d.Logger.Info("cycle finished", "cycle", cy.ID, "run", run.ID, "repo", run.Repo, "conclusion", conclusion)
	return nil
}

// handOver ends this attempt of a cycle whose worker is shutting down: its
// check runs complete saying so, its lease is released and a takeover job
// is queued, so a live worker resumes it at once from a clean working copy
// (or the next worker to start does).
func (c *cycleRun) handOver(jobCtx context.Context, fence int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(jobCtx), 15*time.Second)
	defer cancel()
	d, id := c.d, c.cycle.ID
	c.completeOpenChecks(ctx, state.Cancelled, "Interrupted by a worker shutdown; specloop resumes the cycle on another worker.")
	if err := store.ReleaseCycle(ctx, d.Pool, id, fence); err != nil {
		if errors.Is(err, store.ErrFenced) {
			return nil // already someone else's
		}
		return fmt.Errorf("hand over cycle %d: %w", id, err)
	}
	c.unlock() // the taker takes the lock next
	client, err := river.ClientFromContextSafely[pgx.Tx](jobCtx)
	if err != nil {
		return fmt.Errorf("hand over cycle %d: %w", id, err)
	}
	if _, err := client.Insert(ctx, CycleArgs{CycleID: id, Takeover: fence}, takeoverOpts()); err != nil {
		// The reaper queues the takeover once it sees the expired lease.
		d.Logger.Error("queue takeover", "cycle", id, "err", err)
	}
	c.closeAllLive()
	d.event(ctx, c.run.ID, id, "cycle", "", "interrupted", "interrupted by a worker shutdown; handed over")
	c.progress.finish(ctx, "interrupted", "a worker shut down; specloop resumes the cycle on another worker")
	d.Logger.Info("cycle handed over at shutdown", "cycle", id, "run", c.run.ID)
	return nil
}

// heartbeat extends the lease until ctx ends; it cancels the cycle when the
// lease is lost or a stop is requested (the fallback for a stop whose
// notification the process's StopListener missed).
func (d *deps) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, id, fence int64) {
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

// cycleRun is one cycle in progress on a worker: it reports the engine's
// progress as events and check runs, and publishes the result.
type cycleRun struct {
	d     *deps
	cycle *store.Cycle
	run   *store.Run
	fence int64
	// cancel stops the cycle; a write refused by the fence cancels it
	// with store.ErrFenced, so nothing more is written or pushed.
	cancel context.CancelCauseFunc
	// unlock lets go of the cycle's liveness lock (store.LockCycle).
	unlock func()
	rc     *repoContext
	start  string // the commit the cycle started from
	// checks are this attempt's check runs on the start commit, by step;
	// started holds those whose step began.
	checks  map[string]int64
	started map[int64]bool
	// published: the change is pushed and its PR and check runs posted;
	// pushed: the push began.
	published, pushed bool
	// ctx is the cycle's context, for the live logs' writes.
	ctx context.Context
	// live holds each step's live log while it runs (Output).
	liveMu sync.Mutex
	live   map[string]*liveLog
	// progress is the run's progress comment; nil until the repo is read.
	progress *progress
	// loop is a fix cycle's review feedback and pushed commit (review.go).
	loop loopState
}

func (c *cycleRun) execute(ctx context.Context) (state.Conclusion, string) {
	d := c.d
	if d.Engine == nil || d.Mirrors == nil {
		return state.Failure, "this process runs no cycles (web only)"
	}
	prepStart := time.Now()
	c.ctx = ctx
	rc, err := d.repos.fresh(ctx, c.run.Repo, c.run.InstallationID)
	if err != nil {
		return failed("Could not read the repository or its config", err)
	}
	c.rc = rc
	c.progress = c.newProgress(ctx)
	d.event(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepPrepare, "started", cycle.StepPrepare+" started")
	c.progress.started(cycle.StepPrepare)
	c.completeOpenChecks(ctx, state.Cancelled, fmt.Sprintf("The worker running this cycle stopped; specloop took it over (attempt %d).", c.cycle.Attempts))
	token, err := d.GitHub.Token(ctx, rc.InstallationID)
	if err != nil {
		return failed("Could not get an installation token", err)
	}
	fetchStart := time.Now()
	mirror, err := d.Mirrors.Fetch(ctx, rc.CloneURL, token)
	if err != nil {
		return failed("Could not fetch the repository", err)
	}
	fetchTook := time.Since(fetchStart)
	// A run continues its branch; a new one starts where its PR will go.
	// The fetch just mirrored every branch: no need to ask GitHub.
	if sha, ok, err := workspace.Branch(ctx, mirror, c.run.Branch); err != nil {
		return failed("Could not read the run's branch", err)
	} else if ok {
		c.start = sha
		// The previous attempt's push landed and its worker died before
		// the PR, check runs and tick: finish that, push nothing.
		if rec, pushed, err := c.pendingPublish(ctx, sha); err != nil {
			return failed("Could not read the previous attempt's publish", err)
		} else if rec != nil {
			return c.finishPublish(ctx, pushed, rec)
		}
	} else if c.start, err = rc.baseHead(ctx); err != nil {
		return failed("", err)
	}
	checkoutStart := time.Now()
	c.queueChecks(ctx)
	wd, err := d.Mirrors.Checkout(ctx, rc.CloneURL, c.start)
	if err != nil {
		return state.Failure, "Could not prepare a working copy: " + err.Error()
	}
	defer wd.Close()
	d.event(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepPrepare, string(state.Success),
		fmt.Sprintf("working copy of %s at %.12s ready in %s (fetch %s, checkout %s)", rc.Full, c.start,
			time.Since(prepStart).Round(time.Millisecond), fetchTook.Round(time.Millisecond), time.Since(checkoutStart).Round(time.Millisecond)))
	c.progress.finished(cycle.StepPrepare, state.Success, time.Since(prepStart).Round(time.Millisecond).String(), nil)

	sp, err := c.loadSpec(ctx, wd)
	if err != nil {
		return failed("", err)
	}
	failures, err := c.previousFailures(ctx)
	if err != nil {
		return state.Failure, err.Error()
	}
	fix, answers, memory, err := c.loopInput(ctx)
	if err != nil {
		return failed("Could not read what the cycle is fed", err)
	}
	plan, waiting, err := c.planning(ctx, sp, fix != nil)
	if err != nil {
		return failed("Could not read the run's plan", err)
	}
	if waiting {
		return state.ActionRequired, "Nothing done: " + planWaits
	}
	// The repo's own sandbox image, which parse checked against KUBE_IMAGES.
	res := d.Engine.Run(sandbox.WithImage(ctx, rc.Config.Sandbox.Image), wd, cycle.Input{
		Config: rc.Config, Spec: sp, PinnedID: c.cycle.ObligationID, PreviousFailures: failures, Repo: rc.Full,
		Fix: fix, Answers: answers, Memory: memory, Plan: plan,
		Spent: c.modelSpent(ctx),
	}, c)
	c.storeArtifacts(ctx, res)
	c.recordModel(ctx, res)
	if res.Question != "" && ctx.Err() == nil {
		c.askQuestion(ctx, res)
	}
	if res.Plan != "" && ctx.Err() == nil {
		if err := c.publishPlan(ctx, wd, sp, res); err != nil {
			return failed("Publishing the plan failed", err)
		}
		return res.Conclusion, res.Summary
	}
	if !res.Publish || ctx.Err() != nil {
		if ctx.Err() == nil {
			c.replyThreads(ctx, res.Conclusion, res.Summary)
		}
		return res.Conclusion, res.Summary
	}
	// Once the branch is pushed, its PR and check runs must follow, or the
	// maintainer sees a change with no result and the next attempt finds
	// nothing left to do: publishing runs on a context of its own (each of
	// its calls has a deadline), and the cycle's context (a stop, a
	// shutdown's end of grace) can stop it only up to the push.
	pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), publishLimit)
	defer pcancel()
	if err := c.publish(pctx, ctx, wd, sp, res); err != nil {
		if ctx.Err() != nil && !c.pushed {
			return state.Cancelled, "Stopped before publishing; nothing was pushed."
		}
		return failed("Publishing failed", err)
	}
	c.replyThreads(ctx, res.Conclusion, res.Summary)
	return res.Conclusion, res.Summary
}

// publishLimit bounds publishing once it no longer heeds the cycle's
// context.
const publishLimit = 2 * time.Minute

// failed is how a step that returned err ends the cycle. An outside call
// that hung past its deadline (a git fetch or push, a GitHub request) times
// the cycle out, and the error names the call; anything else fails it.
// When the cycle's own context ended (a stop, a takeover, a shutdown), Work
// replaces this with why.
func failed(what string, err error) (state.Conclusion, string) {
	msg := err.Error()
	if what != "" {
		msg = what + ": " + msg
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return state.TimedOut, msg + " `/loop retry` runs the cycle again."
	}
	return state.Failure, msg
}

// recordObligation writes the cycle's obligation and head; a refusal by
// the fence stops the cycle.
func (c *cycleRun) recordObligation(ctx context.Context, ob *spec.Obligation, sha string) error {
	err := store.UpdateCycle(ctx, c.d.Pool, c.cycle.ID, c.fence, ob.ID, ob.Text, sha)
	if errors.Is(err, store.ErrFenced) {
		c.cancel(store.ErrFenced)
	}
	return err
}

// Selected records the obligation as soon as it is chosen, so the run page
// and /loop status show it while the cycle runs.
func (c *cycleRun) Selected(ctx context.Context, ob *spec.Obligation) {
	if ob == nil {
		c.d.event(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepSelect, string(state.Neutral), "no open obligation")
		c.progress.finished(cycle.StepSelect, state.Neutral, "no open obligation", nil)
		return
	}
	c.progress.selected(ob.ID, ob.Text)
	if err := c.recordObligation(ctx, ob, c.start); err != nil {
		c.d.Logger.Warn("record obligation", "cycle", c.cycle.ID, "err", err)
		return
	}
	c.d.event(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepSelect, string(state.Success), fmt.Sprintf("obligation %s: %s", ob.ID, ob.Text))
	c.progress.finished(cycle.StepSelect, state.Success, "`"+ob.ID+"`", nil)
}

func (c *cycleRun) loadSpec(ctx context.Context, wd *workspace.Workdir) (*spec.Spec, error) {
	rc := c.rc
	if c.run.Kind == state.RunIssue {
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

// previousFailures maps each obligation of the run whose last cycle failed
// to how it failed, for the next attempt's prompt.
func (c *cycleRun) previousFailures(ctx context.Context) (map[string]string, error) {
	cycles, err := store.ListCycles(ctx, c.d.Pool, c.run.ID)
	if err != nil {
		return nil, fmt.Errorf("list the run's cycles: %w", err)
	}
	return lastFailures(cycles, c.cycle.ID), nil
}

// lastFailures keeps, per obligation, the summary of its last finished
// cycle when that cycle failed; a later success clears it.
func lastFailures(cycles []*store.Cycle, current int64) map[string]string {
	out := map[string]string{}
	for _, p := range cycles {
		if p.ID == current || p.ObligationID == "" || p.State != state.CycleDone {
			continue
		}
		switch p.Conclusion {
		case state.Success:
			delete(out, p.ObligationID)
		case state.ActionRequired:
			// A question is no failure: its answer is in the prompt.
			if strings.HasPrefix(p.Summary, cycle.AskedSummary) {
				delete(out, p.ObligationID)
				continue
			}
			out[p.ObligationID] = fmt.Sprintf("Cycle %d concluded %s: %s", p.ID, p.Conclusion, p.Summary)
		case state.Failure, state.TimedOut:
			out[p.ObligationID] = fmt.Sprintf("Cycle %d concluded %s: %s", p.ID, p.Conclusion, p.Summary)
		}
	}
	return out
}

func (c *cycleRun) storeArtifacts(ctx context.Context, res *cycle.Result) {
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
	put(notesArtifact, res.Notes)
	if a := res.Step(cycle.StepAudit); a != nil {
		put("audit.md", []byte(a.Summary))
	}
	if v := res.Step(cycle.StepVerify); v != nil {
		put("verify.md", []byte(v.Summary)) // red → green, on the run page
	}
}

// event appends a run event; a failure to record is logged, not fatal.
func (d *deps) event(ctx context.Context, runID, cycleID int64, kind, step, outcome, msg string) {
	err := store.AppendEvent(ctx, d.Pool, &store.Event{RunID: runID, CycleID: cycleID, Kind: kind, Step: step, Outcome: outcome, Message: msg})
	if err != nil {
		d.Logger.Error("append event", "run", runID, "err", err)
	}
}
