package jobs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

const widgetsBranch = "specloop/spec/widgets"

// specRepo is a repo with the widgets spec and config cfg.
func specRepo(cfg string) map[string]string {
	return map[string]string{repoconfig.Path: cfg, "specs/widgets.md": widgetsSpec, "AGENTS.md": "Keep it small.\n"}
}

// checksByName maps check run names to the check runs on sha; each name
// must appear once.
func (h *harness) checksByName(sha string) map[string]*github.CheckRun {
	h.t.Helper()
	out := map[string]*github.CheckRun{}
	for _, cr := range h.checkRuns(sha) {
		require.NotContains(h.t, out, cr.GetName(), "one %s on %.12s", cr.GetName(), sha)
		out[cr.GetName()] = cr
	}
	return out
}

// requireAllChecksCompleted: no check run specloop started is left
// spinning, on GitHub or in its own records.
func (h *harness) requireAllChecksCompleted(cycleID int64) {
	h.t.Helper()
	for _, cr := range h.checkRuns("") {
		require.Equal(h.t, "completed", cr.GetStatus(), "%s on %.12s", cr.GetName(), cr.GetHeadSHA())
	}
	open, err := store.OpenCheckRuns(h.ctx, h.pool, cycleID)
	require.NoError(h.t, err)
	require.Empty(h.t, open)
}

func (h *harness) artifactNames(cycleID int64) []string {
	h.t.Helper()
	arts, err := store.ListArtifacts(h.ctx, h.pool, cycleID)
	require.NoError(h.t, err)
	var names []string
	for _, a := range arts {
		names = append(names, a.Name)
	}
	return names
}

func (h *harness) artifact(cycleID int64, name string) string {
	h.t.Helper()
	arts, err := store.ListArtifacts(h.ctx, h.pool, cycleID)
	require.NoError(h.t, err)
	for _, a := range arts {
		if a.Name == name {
			full, err := store.GetArtifact(h.ctx, h.pool, a.ID)
			require.NoError(h.t, err)
			return string(full.Content)
		}
	}
	h.t.Fatalf("cycle %d has no artifact %s", cycleID, name)
	return ""
}

// TestCycleSpecRun: a queued cycle on a spec runs end to end: it pushes the
// run's branch with the change and the obligation ticked, opens the PR,
// posts the three check runs completed on the pushed commit and records
// the conclusion. The next cycle continues on the branch and updates the
// same PR.
func TestCycleSpecRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig))
	start := h.mainSHA()
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c := h.queued(run.ID, "push")

	res := mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID})

	got := h.cycle(c.ID)
	require.Equal(t, state.CycleDone, got.State)
	require.Equal(t, state.Success, got.Conclusion)
	require.Equal(t, "Obligation `w-1` done: Build the widget", got.Summary)
	require.Equal(t, "w-1", got.ObligationID)
	require.Equal(t, "Build the widget", got.ObligationText)
	require.Equal(t, 1, got.Attempts)
	require.Equal(t, fmt.Sprintf("test-worker/job-%d", res.Job.ID), got.LeaseOwner)

	sha, err := h.ref(widgetsBranch)
	require.NoError(t, err, "the branch is pushed")
	require.NotEqual(t, start, sha)
	require.Equal(t, sha, got.HeadSHA)
	require.Equal(t, "built\n", h.fileAt("built.txt", sha))
	ticked := h.fileAt("specs/widgets.md", sha)
	require.Contains(t, ticked, "- [x] [w-1] Build the widget")
	require.Contains(t, ticked, "- [ ] [w-2] Paint the widget")
	require.Equal(t, start, h.mainSHA(), "nothing pushed to main")
	commit, _, err := h.maintainer.Repositories.GetCommit(h.ctx, testOwner, testRepo, sha, nil)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(commit.GetCommit().GetMessage(), "specloop: w-1 Build the widget\n"), commit.GetCommit().GetMessage())
	require.Equal(t, botLogin, commit.GetCommit().GetAuthor().GetName())

	prs := h.emu.PullRequests(testOwner, testRepo)
	require.Len(t, prs, 1)
	pr := prs[0]
	require.Equal(t, widgetsBranch, pr.GetHead().GetRef())
	require.Equal(t, "main", pr.GetBase().GetRef())
	require.False(t, pr.GetDraft())
	require.Equal(t, "specloop: Widgets", pr.GetTitle())
	require.Contains(t, pr.GetBody(), fmt.Sprintf("specloop works through `specs/widgets.md`, one obligation per cycle. [Run page](%s/runs/%d)", testPublicURL, run.ID))
	require.Contains(t, pr.GetBody(), fmt.Sprintf("| %d | `w-1` Build the widget | **success** (this push) |", c.ID))
	require.Contains(t, pr.GetBody(), "Commands: "+CommandList())
	require.NotContains(t, pr.GetBody(), "Closes #")
	require.Equal(t, pr.GetNumber(), h.run(run.ID).PR)

	pushed := h.checksByName(sha)
	require.Len(t, pushed, 3)
	for _, name := range []string{"specloop/implement", "specloop/verify", "specloop/audit"} {
		cr := pushed[name]
		require.NotNil(t, cr, name)
		require.Equal(t, "completed", cr.GetStatus(), name)
		require.Equal(t, string(state.Success), cr.GetConclusion(), name)
		require.Equal(t, fmt.Sprintf("cycle:%d", c.ID), cr.GetExternalID(), name)
		require.Equal(t, fmt.Sprintf("%s/runs/%d", testPublicURL, run.ID), cr.GetDetailsURL(), name)
	}
	require.Equal(t, "Auditor verdict: pass", pushed["specloop/audit"].GetOutput().GetTitle())
	require.Contains(t, pushed["specloop/implement"].GetOutput().GetSummary(), "`built.txt`")
	// The check runs queued on the start commit completed too.
	require.Len(t, h.checksByName(start), 3)
	h.requireAllChecksCompleted(c.ID)

	require.Subset(t, h.artifactNames(c.ID), []string{"prompt-implementer.md", "prompt-auditor.md", "implement.log", "patch.diff", "audit.md"})
	require.Contains(t, h.artifact(c.ID, "patch.diff"), "+built")
	require.Contains(t, h.artifact(c.ID, "implement.log"), "built the widget")
	var steps []string
	for _, e := range h.events(run.ID) {
		steps = append(steps, e.Kind+":"+e.Step+":"+e.Outcome)
	}
	require.Subset(t, steps, []string{"step:prepare:success", "step:select:success", "step:implement:started", "step:implement:success",
		"step:verify:success", "step:audit:success", "step:publish:success", "cycle::success"})

	// The next cycle starts from the branch, takes w-2 and updates the PR.
	next := h.queued(run.ID, "command")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: next.ID})
	got = h.cycle(next.ID)
	require.Equal(t, state.Success, got.Conclusion, got.Summary)
	require.Equal(t, "w-2", got.ObligationID)
	sha2, err := h.ref(widgetsBranch)
	require.NoError(t, err)
	require.Equal(t, sha2, got.HeadSHA)
	require.Contains(t, h.fileAt("specs/widgets.md", sha2), "- [x] [w-1] Build the widget\n- [x] [w-2] Paint the widget")
	require.Equal(t, "built\nbuilt\n", h.fileAt("built.txt", sha2), "on top of the first cycle's change")
	require.Len(t, h.checkRuns(sha), 6, "the second cycle queued its checks on the branch's head")
	prs = h.emu.PullRequests(testOwner, testRepo)
	require.Len(t, prs, 1, "the same PR")
	require.Contains(t, prs[0].GetBody(), fmt.Sprintf("| %d | `w-1` Build the widget | success |", c.ID))
	require.Contains(t, prs[0].GetBody(), fmt.Sprintf("| %d | `w-2` Paint the widget | **success** (this push) |", next.ID))

	// Nothing is left: the third cycle is neutral and pushes nothing.
	last := h.queued(run.ID, "command")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: last.ID})
	got = h.cycle(last.ID)
	require.Equal(t, state.Neutral, got.Conclusion)
	require.Equal(t, "Nothing to do: every obligation of the spec is done (or waits on one that is not).", got.Summary)
	after, err := h.ref(widgetsBranch)
	require.NoError(t, err)
	require.Equal(t, sha2, after)
	h.requireAllChecksCompleted(last.ID)
}

// TestCycleIssueRun: an issue's cycle reads its spec from the issue, says
// "Closes #n" in the PR and ticks the obligation in the issue's body.
func TestCycleIssueRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: passingConfig})
	issue := h.createIssue("Widgets", widgetsSpec)
	run := h.issueRun(issue)
	c := h.queued(run.ID, "label")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID})

	got := h.cycle(c.ID)
	require.Equal(t, state.Success, got.Conclusion, got.Summary)
	require.Equal(t, "w-1", got.ObligationID)
	sha, err := h.ref(run.Branch)
	require.NoError(t, err)
	require.Equal(t, "built\n", h.fileAt("built.txt", sha))
	prs := h.emu.PullRequests(testOwner, testRepo)
	require.Len(t, prs, 1)
	require.True(t, strings.HasPrefix(prs[0].GetBody(), fmt.Sprintf("Closes #%d\n\n", issue)), prs[0].GetBody())
	require.Contains(t, prs[0].GetBody(), "specloop works through `the issue`")
	body := h.emu.Issue(testOwner, testRepo, issue).GetBody()
	require.Contains(t, body, "- [x] [w-1] Build the widget")
	require.Contains(t, body, "- [ ] [w-2] Paint the widget")
	require.Len(t, h.checksByName(sha), 3)
	h.requireAllChecksCompleted(c.ID)
}

// pushCycle queues a push cycle of the widgets spec, works it to its end
// and returns it as it ended.
func (h *harness) pushCycle() *store.Cycle {
	h.t.Helper()
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c := h.queued(run.ID, "push")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID})
	return h.cycle(c.ID)
}

// TestCycleVerifyFails: a change whose verify still fails is pushed as a
// draft with a failing verify check, and the next attempt's prompt says
// how the last one failed.
func TestCycleVerifyFails(t *testing.T) {
	t.Parallel()
	cfg := strings.Replace(passingConfig, "command: 'true'", "command: 'echo widget test broke; exit 1'", 1) + "fix_attempts: 0\n"
	h := newHarness(t, specRepo(cfg))
	got := h.pushCycle()
	require.Equal(t, state.Failure, got.Conclusion)
	require.Equal(t, "Verify still fails after the fix attempts; pushed as a draft so the evidence can be read.", got.Summary)
	sha, err := h.ref(widgetsBranch)
	require.NoError(t, err)
	require.Contains(t, h.fileAt("specs/widgets.md", sha), "- [ ] [w-1] Build the widget", "not ticked")
	prs := h.emu.PullRequests(testOwner, testRepo)
	require.Len(t, prs, 1)
	require.True(t, prs[0].GetDraft())
	require.Contains(t, prs[0].GetBody(), "A check fails: this PR stays a draft")
	checks := h.checksByName(sha)
	require.Equal(t, string(state.Failure), checks["specloop/verify"].GetConclusion())
	require.Equal(t, string(state.Success), checks["specloop/implement"].GetConclusion())
	h.requireAllChecksCompleted(got.ID)

	retry := h.queued(got.RunID, "retry")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: retry.ID})
	require.Contains(t, h.artifact(retry.ID, "prompt-implementer.md"), fmt.Sprintf("Cycle %d concluded failure: %s", got.ID, got.Summary))
}

// TestCycleNoChange: an agent that changes nothing ends the cycle neutral
// with nothing pushed; the steps that never ran are skipped, not failed.
func TestCycleNoChange(t *testing.T) {
	t.Parallel()
	cfg := strings.Replace(passingConfig, agentCommand, "command: 'true'", 1)
	h := newHarness(t, specRepo(cfg))
	start := h.mainSHA()
	got := h.pushCycle()
	require.Equal(t, state.Neutral, got.Conclusion)
	require.Equal(t, "The agent made no change; nothing was pushed.", got.Summary)
	_, err := h.ref(widgetsBranch)
	require.Error(t, err, "nothing pushed")
	require.Empty(t, h.emu.PullRequests(testOwner, testRepo))
	checks := h.checksByName(start)
	require.Equal(t, string(state.Success), checks["specloop/implement"].GetConclusion())
	for _, name := range []string{"specloop/verify", "specloop/audit"} {
		require.Equal(t, string(state.Skipped), checks[name].GetConclusion(), name)
		require.Equal(t, "Did not run: the cycle ended neutral", checks[name].GetOutput().GetTitle(), name)
	}
	h.requireAllChecksCompleted(got.ID)
}

// TestCycleWaitsForEarlierCycle: a cycle behind an unfinished earlier cycle
// of its run snoozes without asking GitHub anything.
func TestCycleWaitsForEarlierCycle(t *testing.T) {
	t.Parallel()
	for _, earlier := range []string{"queued", "running"} {
		t.Run(earlier, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, specRepo(passingConfig))
			run := h.specRun("specs/widgets.md", widgetsBranch)
			if earlier == "running" {
				h.running(run.ID)
			} else {
				h.queued(run.ID, "push")
			}
			c := h.queued(run.ID, "command")

			before := h.gh.Requests()
			res, err := work(h, h.cycleW(), CycleArgs{CycleID: c.ID})
			require.NoError(t, err)
			require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
			require.Equal(t, before, h.gh.Requests(), "no GitHub request while waiting")
			got := h.cycle(c.ID)
			require.Equal(t, state.CycleQueued, got.State)
			require.Zero(t, got.Attempts)
			require.Empty(t, h.checkRuns(""))
		})
	}
}

// TestCycleWaitsForRepoLimit: at limits.concurrent running cycles in the
// repo, another run's cycle snoozes; with the config cached, waiting asks
// GitHub nothing.
func TestCycleWaitsForRepoLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig+"limits: {concurrent: 1}\n"))
	_, err := h.d.repos.open(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	h.running(h.issueRun(1).ID)
	c := h.queued(h.specRun("specs/widgets.md", widgetsBranch).ID, "push")

	before := h.gh.Requests()
	res, err := work(h, h.cycleW(), CycleArgs{CycleID: c.ID})
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	require.Equal(t, before, h.gh.Requests())
	require.Equal(t, state.CycleQueued, h.cycle(c.ID).State)
}

// TestCycleDone: the job of a finished cycle (a duplicate, or one cancelled
// while queued) does nothing.
func TestCycleDone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig))
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c := h.queued(run.ID, "push")
	_, err := store.CancelQueuedCycles(h.ctx, h.pool, run.ID, "label removed")
	require.NoError(t, err)
	before := h.gh.Requests()
	mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID})
	require.Equal(t, before, h.gh.Requests())
	got := h.cycle(c.ID)
	require.Equal(t, state.Cancelled, got.Conclusion)
	require.Equal(t, "label removed", got.Summary)
}

// TestCycleWebOnly: a process without an engine concludes the cycle
// failed, saying why, rather than leaving it running.
func TestCycleWebOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig), func(c *Config) { c.Engine, c.Mirrors = nil, nil })
	got := h.pushCycle()
	require.Equal(t, state.CycleDone, got.State)
	require.Equal(t, state.Failure, got.Conclusion)
	require.Equal(t, "this process runs no cycles (web only)", got.Summary)
	require.Empty(t, h.checkRuns(""))
}

// TestCycleBadConfig: a cycle on a repo whose config does not parse fails
// and says why; the config check says where.
func TestCycleBadConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo("on_push: sometimes\n"))
	got := h.pushCycle()
	require.Equal(t, state.Failure, got.Conclusion)
	require.True(t, strings.HasPrefix(got.Summary, "Could not read the repository or its config: repo config does not parse"), got.Summary)
	checks := h.checkRuns("")
	require.Len(t, checks, 1)
	require.Equal(t, "specloop/config", checks[0].GetName())
	_, err := h.ref(widgetsBranch)
	require.Error(t, err)
}

// blockingAgent is a config whose agent tells the test it started (by
// opening dir/started for writing) and then waits until the test says go
// (by writing to dir/go); both are FIFOs, so neither side polls.
func blockingAgent(t *testing.T) (cfg, dir string) {
	dir = t.TempDir()
	for _, f := range []string{"started", "go"} {
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, f), 0o600))
	}
	agent := fmt.Sprintf(`command: 'echo started > %[1]s/started; read line < %[1]s/go; echo built >> built.txt'`, dir)
	return strings.Replace(passingConfig, agentCommand, agent, 1), dir
}

// waitStarted returns once the blocking agent runs; a cycle that ends
// before its agent starts fails the test.
func (h *harness) waitStarted(dir string, done <-chan workDone) {
	h.t.Helper()
	started := make(chan error, 1)
	go func() {
		f, err := os.Open(filepath.Join(dir, "started"))
		if err == nil {
			_, err = f.Read(make([]byte, 16))
			f.Close()
		}
		started <- err
	}()
	select {
	case err := <-started:
		require.NoError(h.t, err)
	case d := <-done:
		h.t.Fatalf("the cycle ended before its agent started: %v", d.err)
	case <-time.After(2 * time.Minute):
		h.t.Fatal("the agent did not start")
	}
}

// release lets the blocking agent go on.
func release(t *testing.T, dir string) {
	f, err := os.OpenFile(filepath.Join(dir, "go"), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("go\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// startBlocked queues a push cycle of the widgets spec, works it in the
// background and returns once its blocking agent (blockingAgent's dir)
// runs: the commit the cycle started from, its run, the cycle and where
// its work ends.
func (h *harness) startBlocked(dir string) (string, *store.Run, *store.Cycle, <-chan workDone) {
	h.t.Helper()
	start := h.mainSHA()
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c := h.queued(run.ID, "push")
	done := workAsync(h, h.cycleW(), CycleArgs{CycleID: c.ID})
	h.waitStarted(dir, done)
	return start, run, c, done
}

// moveFence has another worker, "new-owner", take cycle id over while
// its worker still runs it.
func (h *harness) moveFence(id int64) {
	h.t.Helper()
	_, err := h.pool.Exec(h.ctx, `UPDATE cycles SET fence = fence + 1, lease_owner = 'new-owner' WHERE id = $1`, id)
	require.NoError(h.t, err)
}

// requireChecksAsLost requires the cycle's check runs at start as a worker
// that lost its cycle during implement left them: implement in progress,
// verify and audit queued, none completed by that worker.
func (h *harness) requireChecksAsLost(start string) {
	h.t.Helper()
	checks := h.checksByName(start)
	require.Len(h.t, checks, 3)
	require.Equal(h.t, "in_progress", checks["specloop/implement"].GetStatus(), "not completed by the worker that lost it")
	for _, name := range []string{"specloop/verify", "specloop/audit"} {
		require.Equal(h.t, "queued", checks[name].GetStatus(), name)
	}
}

// TestCycleFenced: a worker whose cycle was taken over while it ran (the
// fence moved on) pushes nothing and records nothing more.
func TestCycleFenced(t *testing.T) {
	t.Parallel()
	cfg, dir := blockingAgent(t)
	// A long lease: the fence, not a heartbeat, must catch the takeover.
	h := newHarness(t, specRepo(cfg), func(c *Config) { c.LeaseTTL = time.Hour })
	start, _, c, done := h.startBlocked(dir)
	h.moveFence(c.ID)
	release(t, dir)
	res := h.wait(done)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)

	_, err := h.ref(widgetsBranch)
	require.Error(t, err, "nothing pushed")
	require.Empty(t, h.emu.PullRequests(testOwner, testRepo))
	got := h.cycle(c.ID)
	require.Equal(t, state.CycleRunning, got.State, "the new owner finishes it")
	require.Empty(t, got.Conclusion)
	require.Equal(t, "new-owner", got.LeaseOwner)
	for _, cr := range h.checkRuns("") {
		require.Equal(t, start, cr.GetHeadSHA(), "no evidence posted on a commit of its own")
	}
	// Its check runs are as they were when it lost the cycle: the new
	// owner completes them, and no late write of the old one reopens or
	// concludes them.
	h.requireChecksAsLost(start)
}

// TestCycleFencedByHeartbeat: a worker notices at its next heartbeat that
// its cycle was taken over: it kills the agent at once and leaves the
// cycle's check runs to the new owner, writing nothing more.
func TestCycleFencedByHeartbeat(t *testing.T) {
	t.Parallel()
	cfg, dir := blockingAgent(t)
	h := newHarness(t, specRepo(cfg), func(c *Config) { c.LeaseTTL = 900 * time.Millisecond })
	start, _, c, done := h.startBlocked(dir)
	h.moveFence(c.ID)
	// The agent is never released: only the heartbeat can end the cycle
	// before the agent's timeout.
	res := h.wait(done)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)

	_, err := h.ref(widgetsBranch)
	require.Error(t, err, "nothing pushed")
	got := h.cycle(c.ID)
	require.Equal(t, state.CycleRunning, got.State)
	require.Equal(t, "new-owner", got.LeaseOwner)
	h.requireChecksAsLost(start)
	open, err := store.OpenCheckRuns(h.ctx, h.pool, c.ID)
	require.NoError(t, err)
	require.Len(t, open, 3, "the new owner completes them")
}

// TestCycleStop: a stop requested while the agent runs kills it, concludes
// the cycle cancelled and completes every check run; nothing is pushed.
// The stop arrives by notification, or failing that by the next heartbeat.
func TestCycleStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		adjust func(*testing.T, *Config)
	}{
		// A short lease and no listener: heartbeats, which carry the stop,
		// come often.
		{"heartbeat", func(_ *testing.T, c *Config) { c.LeaseTTL = 900 * time.Millisecond }},
		// A lease so long that its heartbeat comes after the test gave up
		// waiting: only the notification can stop the cycle.
		{"notified", func(t *testing.T, c *Config) {
			c.LeaseTTL = 3 * time.Hour
			c.Stops = runStopListener(t, c.Pool)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testCycleStop(t, tc.adjust)
		})
	}
}

// runStopListener runs a stop listener on pool until the test ends.
func runStopListener(t *testing.T, pool *pgxpool.Pool) *store.StopListener {
	t.Helper()
	l := store.NewStopListener(pool, discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return l
}

func testCycleStop(t *testing.T, adjust func(*testing.T, *Config)) {
	cfg, dir := blockingAgent(t)
	h := newHarness(t, specRepo(cfg), func(c *Config) { adjust(t, c) })
	start, run, c, done := h.startBlocked(dir)
	// `/loop stop` on the PR.
	n, err := store.CancelQueuedCycles(h.ctx, h.pool, run.ID, "stopped by @maintainer")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	res := h.wait(done)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)

	got := h.cycle(c.ID)
	require.Equal(t, state.CycleDone, got.State)
	require.Equal(t, state.Cancelled, got.Conclusion)
	require.Equal(t, "Stopped on request; nothing more was pushed.", got.Summary)
	_, err = h.ref(widgetsBranch)
	require.Error(t, err, "nothing pushed")
	require.Empty(t, h.emu.PullRequests(testOwner, testRepo))
	checks := h.checksByName(start)
	require.Len(t, checks, 3)
	require.Equal(t, string(state.Cancelled), checks["specloop/implement"].GetConclusion())
	for _, name := range []string{"specloop/verify", "specloop/audit"} {
		require.Equal(t, string(state.Skipped), checks[name].GetConclusion(), name)
	}
	h.requireAllChecksCompleted(c.ID)
}

// TestCycleTakeover: the cycle of a worker that died is taken over; the
// check runs the dead worker left open are completed, and the cycle runs
// to the end.
func TestCycleTakeover(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig))
	start := h.mainSHA()
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c := h.queued(run.ID, "push")
	claim, fence, err := store.ClaimCycle(h.ctx, h.pool, c.ID, "dead-worker", time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, claim)
	implement := h.createCheckRun(c.ID, "specloop/implement", start, "in_progress")
	verify := h.createCheckRun(c.ID, "specloop/verify", start, "queued")
	_, err = h.pool.Exec(h.ctx, `UPDATE cycles SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, c.ID)
	require.NoError(t, err)

	mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID, Takeover: fence})

	byID := map[int64]*github.CheckRun{}
	for _, cr := range h.checkRuns("") {
		byID[cr.GetID()] = cr
	}
	for _, id := range []int64{implement, verify} {
		cr := byID[id]
		require.Equal(t, "completed", cr.GetStatus(), cr.GetName())
		require.Equal(t, string(state.Cancelled), cr.GetConclusion(), cr.GetName())
		require.Equal(t, "Cycle ended: cancelled", cr.GetOutput().GetTitle())
		require.Equal(t, "The worker running this cycle stopped; specloop took it over (attempt 2).", cr.GetOutput().GetSummary())
	}
	got := h.cycle(c.ID)
	require.Equal(t, state.Success, got.Conclusion, got.Summary)
	require.Equal(t, 2, got.Attempts)
	sha, err := h.ref(widgetsBranch)
	require.NoError(t, err)
	require.Len(t, h.checksByName(sha), 3)
	h.requireAllChecksCompleted(c.ID)
}

// TestCycleLiveLease: a takeover job for a cycle whose worker is still
// alive waits rather than running it twice.
func TestCycleLiveLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig))
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c, fence := h.running(run.ID)
	res, err := work(h, h.cycleW(), CycleArgs{CycleID: c.ID, Takeover: fence})
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	require.Equal(t, "other-worker", h.cycle(c.ID).LeaseOwner)
	require.Empty(t, h.checkRuns(""))
}

func TestLastFailures(t *testing.T) {
	t.Parallel()
	done := func(id int64, ob string, c state.Conclusion) *store.Cycle {
		return &store.Cycle{ID: id, ObligationID: ob, State: state.CycleDone, Conclusion: c, Summary: "s" + fmt.Sprint(id)}
	}
	cycles := []*store.Cycle{
		done(1, "a", state.Failure),
		done(2, "b", state.TimedOut),
		done(3, "a", state.Success), // a later success clears a
		done(4, "c", state.Neutral),
		done(5, "d", state.ActionRequired),
		{ID: 6, ObligationID: "e", State: state.CycleRunning},
		done(7, "", state.Failure),
		done(8, "f", state.Failure), // the current cycle
		done(9, "g", state.Failure),
		{ID: 10, ObligationID: "g", State: state.CycleDone, Conclusion: state.ActionRequired, Summary: cycle.AskedSummary + " Answer with …"}, // a question clears g
	}
	require.Equal(t, map[string]string{
		"b": "Cycle 2 concluded timed_out: s2",
		"d": "Cycle 5 concluded action_required: s5",
	}, lastFailures(cycles, 8))
}

// TestCycleBase: with `base:` set, a new run starts from that branch's head
// and its PR goes there.
func TestCycleBase(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig+"base: develop\n"))
	develop := h.push("develop", map[string]string{"develop.txt": "only on develop\n"})
	got := h.pushCycle()
	require.Equal(t, state.Success, got.Conclusion, got.Summary)

	sha, err := h.ref(widgetsBranch)
	require.NoError(t, err)
	commit, _, err := h.maintainer.Repositories.GetCommit(h.ctx, testOwner, testRepo, sha, nil)
	require.NoError(t, err)
	require.Len(t, commit.Parents, 1)
	require.Equal(t, develop, commit.Parents[0].GetSHA(), "the cycle starts from develop's head")
	require.Equal(t, "only on develop\n", h.fileAt("develop.txt", sha))
	prs := h.emu.PullRequests(testOwner, testRepo)
	require.Len(t, prs, 1)
	require.Equal(t, "develop", prs[0].GetBase().GetRef())
}

// TestCycleIssueRunOtherBase: toward a branch that is not the default,
// GitHub ignores closing keywords, so the PR names the issue without one.
func TestCycleIssueRunOtherBase(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: passingConfig + "base: develop\n"})
	h.push("develop", map[string]string{"develop.txt": "only on develop\n"})
	issue, _ := h.issueCycle()
	prs := h.emu.PullRequests(testOwner, testRepo)
	require.Len(t, prs, 1)
	require.Equal(t, "develop", prs[0].GetBase().GetRef())
	body := prs[0].GetBody()
	require.NotContains(t, body, "Closes #")
	require.True(t, strings.HasPrefix(body, fmt.Sprintf("For #%d: this PR goes to `develop`, not the default branch", issue)), body)
}

// TestCycleOutsideCallHangs: a cycle whose push or fetch never gets an
// answer ends timed_out rather than running for good: every check run is
// completed, and the summary names the call that hung and what to do.
func TestCycleOutsideCallHangs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, hang string
		// Only the call that hangs is given a short limit, so the calls
		// before it never race one.
		deadlines workspace.Deadlines
		want      string
		pushed    bool // whether the cycle got as far as the push
	}{
		{"push", "/{owner}/{repo}.git/git-receive-pack", workspace.Deadlines{Push: 2 * time.Second},
			"Publishing failed: git push to " + widgetsBranch + " did not finish within 2s: the remote stopped answering", true},
		{"fetch", "/{owner}/{repo}.git/git-upload-pack", workspace.Deadlines{LowSpeedTime: time.Second},
			"Could not fetch the repository: git fetch of ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, specRepo(passingConfig), func(c *Config) { c.Mirrors.Deadlines = tc.deadlines })
			start := h.mainSHA()
			run := h.specRun("specs/widgets.md", widgetsBranch)
			c := h.queued(run.ID, "push")
			hang, err := h.emu.Inject(emulator.Fault{Path: tc.hang, Hang: true})
			require.NoError(t, err)

			mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID})

			require.Positive(t, hang.Fired(), "the remote hung")
			got := h.cycle(c.ID)
			require.Equal(t, state.CycleDone, got.State)
			require.Equal(t, state.TimedOut, got.Conclusion, got.Summary)
			require.Contains(t, got.Summary, tc.want)
			require.True(t, strings.HasSuffix(got.Summary, "`/loop retry` runs the cycle again."), got.Summary)
			require.NotContains(t, got.Summary, "ghs_", "no token in the summary")
			_, err = h.ref(widgetsBranch)
			require.Error(t, err, "nothing pushed")
			require.Empty(t, h.emu.PullRequests(testOwner, testRepo))
			h.requireAllChecksCompleted(c.ID)
			if tc.pushed {
				// Every step ran before the push and its check says how
				// the step went; none is left in progress.
				checks := h.checksByName(start)
				require.Len(t, checks, 3)
				for name, cr := range checks {
					require.Equal(t, "completed", cr.GetStatus(), name)
				}
			}
			var outcomes []string
			for _, e := range h.events(run.ID) {
				outcomes = append(outcomes, e.Kind+":"+e.Outcome)
			}
			require.Contains(t, outcomes, "cycle:"+string(state.TimedOut))
		})
	}
}
