package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
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

var (
	errStopRequested = errors.New("stop requested")
	errShutdown      = errors.New("worker shutting down")
)

func (w *CycleWorker) Work(ctx context.Context, job *river.Job[CycleArgs]) error {
	d := w.d
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d/job-%d", host, os.Getpid(), job.ID)
	cycle, err := store.GetCycle(ctx, d.Pool, job.Args.CycleID)
	if err != nil {
		return err
	}
	if cycle.State == "done" {
		return nil
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
	annotations := findingsToAnnotations(ev.Findings)
	first := annotations[:min(len(annotations), maxAnnotations)]
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
	for rest := annotations[len(first):]; len(rest) > 0; {
		batch := rest[:min(len(rest), maxAnnotations)]
		rest = rest[len(batch):]
		out.Annotations = batch
		if _, _, err := c.rc.GH.Checks.UpdateCheckRun(ctx, c.rc.Owner, c.rc.Name, id, github.UpdateCheckRunOptions{Name: name, Output: out}); err != nil {
			return fmt.Errorf("annotate check run %s: %w", name, err)
		}
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
	b.WriteString("\nCommands: `/loop next`, `/loop retry`, `/loop stop`, `/loop status`, `/loop help`.\n")
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
