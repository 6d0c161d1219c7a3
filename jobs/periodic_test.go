package jobs

import (
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

func TestDue(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		schedule string
		minute   string
		want     bool
	}{
		{"* * * * *", "2025-03-04T10:17:00Z", true},
		{"0 3 * * 1-5", "2025-03-04T03:00:00Z", true}, // a Tuesday
		{"0 3 * * 1-5", "2025-03-04T03:01:00Z", false},
		{"0 3 * * 1-5", "2025-03-04T02:59:00Z", false},
		{"0 3 * * 1-5", "2025-03-08T03:00:00Z", false}, // a Saturday
		{"*/15 * * * *", "2025-03-04T10:45:00Z", true},
		{"*/15 * * * *", "2025-03-04T10:46:00Z", false},
		{"", "2025-03-04T10:00:00Z", false},
		{"not a schedule", "2025-03-04T10:00:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.schedule+" at "+tt.minute, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Due(tt.schedule, at(tt.minute)))
		})
	}
}

// drainSpecs are a repo's specs for a drain: a has three open obligations,
// b one, done none, and broken does not parse.
var drainSpecs = map[string]string{
	"specs/a.md":      "# A\n\n- [ ] [a-1] one\n- [ ] [a-2] two\n- [ ] [a-3] three\n",
	"specs/b.md":      "# B\n\n- [ ] [b-1] one\n",
	"specs/done.md":   doneSpec,
	"specs/broken.md": brokenSpec,
}

func withConfig(files map[string]string, cfg string) map[string]string {
	out := map[string]string{repoconfig.Path: cfg}
	for k, v := range files {
		out[k] = v
	}
	return out
}

// TestDrain: a drain queues up to drain.max_cycles cycles, round-robin over
// the specs with work left in path order, one run per spec; draining again
// while they are queued adds nothing.
func TestDrain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(drainSpecs, "drain: {max_cycles: 3}\n"))
	mustWork(h, h.drain(), DrainArgs{Repo: testFull, InstallationID: h.inst})

	counts := map[string]int{}
	for _, branch := range []string{"specloop/spec/a", "specloop/spec/b", "specloop/spec/done", "specloop/spec/broken"} {
		run, err := store.FindRunByBranch(h.ctx, h.pool, testFull, branch)
		if err != nil {
			continue
		}
		require.Equal(t, state.RunSpec, run.Kind)
		for _, c := range h.cycles(run.ID) {
			require.Equal(t, "schedule", c.Trigger)
			counts[run.SpecPath]++
		}
	}
	require.Equal(t, map[string]int{"specs/a.md": 2, "specs/b.md": 1}, counts)
	require.Len(t, h.cycleJobs(), 3)

	mustWork(h, h.drain(), DrainArgs{Repo: testFull, InstallationID: h.inst})
	require.Len(t, h.cycleJobs(), 3, "the planned cycles are already queued")
}

// TestDrainBudget: a budget larger than the open obligations queues one
// cycle per open obligation and no more.
func TestDrainBudget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(drainSpecs, "drain: {max_cycles: 10}\n"))
	mustWork(h, h.drain(), DrainArgs{Repo: testFull, InstallationID: h.inst})
	require.Len(t, h.cycleJobs(), 4)
	require.Equal(t, 2, h.runCount())
}

// TestDrainWebOnly: a process without a mirror cache cannot drain; the job
// fails (and is retried where one can) rather than queueing blind.
func TestDrainWebOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, drainSpecs, func(c *Config) { c.Mirrors = nil })
	_, err := work(h, h.drain(), DrainArgs{Repo: testFull, InstallationID: h.inst})
	require.ErrorContains(t, err, "drain needs a worker with a mirror cache")
	require.Zero(t, h.runCount())
}

// TestSchedule: the minutely tick queues a drain for each active repo whose
// schedule is due this minute, and only those.
func TestSchedule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "schedule: \"* * * * *\"\n"})
	// A schedule half an hour away is not due now, and a repo without one
	// never is.
	later := fmt.Sprintf("schedule: \"%d * * * *\"\n", (time.Now().Minute()+30)%60)
	for name, cfg := range map[string]string{"gadgets": later, "plain": "label: x\n", "broken": "on_push: sometimes\n"} {
		_, err := h.emu.CreateRepo(testOwner, name, emulator.RepoOptions{Files: map[string]string{repoconfig.Path: cfg}})
		require.NoError(t, err)
	}
	_, err := h.emu.CreateRepo(testOwner, "removed", emulator.RepoOptions{Files: map[string]string{repoconfig.Path: "schedule: \"* * * * *\"\n"}})
	require.NoError(t, err)
	require.NoError(t, store.UpsertInstallation(h.ctx, h.pool, &store.Installation{ID: h.inst, AccountLogin: testOwner, AccountType: "Organization"}))
	for i, name := range []string{testRepo, "gadgets", "plain", "broken", "removed"} {
		require.NoError(t, store.UpsertRepo(h.ctx, h.pool, &store.Repo{ID: int64(100 + i), InstallationID: h.inst,
			FullName: testOwner + "/" + name, DefaultBranch: "main", Removed: name == "removed"}))
	}

	res := mustWork(h, h.schedule(), ScheduleArgs{})
	drains := jobs[DrainArgs](h)
	require.Len(t, drains, 1)
	require.Equal(t, testFull, drains[0].Repo)
	require.Equal(t, h.inst, drains[0].InstallationID)
	require.True(t, res.Job.ScheduledAt.Truncate(time.Minute).Equal(drains[0].Due), "the drain is for the tick's minute")
	job := rivertest.RequireInserted(h.ctx, t, riverpgxv5.New(h.pool), DrainArgs{}, nil)
	require.Equal(t, testFull, job.Args.Repo)
}

// TestScheduleSuspended: a suspended installation's repos are not drained.
func TestScheduleSuspended(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "schedule: \"* * * * *\"\n"})
	require.NoError(t, store.UpsertInstallation(h.ctx, h.pool, &store.Installation{ID: h.inst, AccountLogin: testOwner, Suspended: true}))
	require.NoError(t, store.UpsertRepo(h.ctx, h.pool, &store.Repo{ID: 1, InstallationID: h.inst, FullName: testFull}))
	mustWork(h, h.schedule(), ScheduleArgs{})
	require.Empty(t, jobs[DrainArgs](h))
}

// TestRetention: events and artifacts older than the retention are pruned;
// newer ones stay.
func TestRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *Config) { c.Retention = 7 * 24 * time.Hour })
	run := h.specRun("specs/widgets.md", "specloop/spec/widgets")
	c := h.queued(run.ID, "push")
	for i := range 3 {
		h.d.event(h.ctx, run.ID, c.ID, "note", "", "", fmt.Sprintf("event %d", i))
		require.NoError(t, store.InsertArtifact(h.ctx, h.pool, &store.Artifact{CycleID: c.ID, Name: fmt.Sprintf("log-%d", i), Content: []byte("x")}))
	}
	_, err := h.pool.Exec(h.ctx, `UPDATE events SET created_at = now() - interval '8 days' WHERE message <> 'event 2'`)
	require.NoError(t, err)
	_, err = h.pool.Exec(h.ctx, `UPDATE artifacts SET created_at = now() - interval '8 days' WHERE name <> 'log-2'`)
	require.NoError(t, err)
	_, err = h.pool.Exec(h.ctx, `UPDATE artifacts SET created_at = now() - interval '6 days' WHERE name = 'log-2'`)
	require.NoError(t, err)

	mustWork(h, h.retention(), RetentionArgs{})
	evs := h.events(run.ID)
	require.Len(t, evs, 1)
	require.Equal(t, "event 2", evs[0].Message)
	arts, err := store.ListArtifacts(h.ctx, h.pool, c.ID)
	require.NoError(t, err)
	require.Len(t, arts, 1)
	require.Equal(t, "log-2", arts[0].Name)
}

// TestReaper: a running cycle whose lease ran out (its worker died) gets a
// takeover job on the cycles queue; a live one does not.
func TestReaper(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	dead, deadFence := h.running(h.specRun("specs/a.md", "specloop/spec/a").ID)
	_, err := h.pool.Exec(h.ctx, `UPDATE cycles SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, dead.ID)
	require.NoError(t, err)
	h.running(h.specRun("specs/b.md", "specloop/spec/b").ID)
	h.queued(h.specRun("specs/c.md", "specloop/spec/c").ID, "push")

	mustWork(h, h.reaper(), ReaperArgs{})
	job := rivertest.RequireInserted(h.ctx, t, riverpgxv5.New(h.pool), CycleArgs{}, &rivertest.RequireInsertedOpts{Queue: QueueCycles})
	require.Equal(t, CycleArgs{CycleID: dead.ID, Takeover: deadFence}, job.Args)
}

// TestDrainRespectsStopsAndLimits: a schedule never restarts a run a
// maintainer stopped, and never takes a run past limits.cycles_per_pr.
func TestDrainRespectsStopsAndLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(drainSpecs, "drain: {max_cycles: 10}\nlimits: {cycles_per_pr: 2}\n"))
	stopped := h.specRun("specs/b.md", "specloop/spec/b")
	require.NoError(t, store.SetRunState(h.ctx, h.pool, stopped.ID, state.RunStopped))
	full := h.specRun("specs/a.md", "specloop/spec/a")
	h.finished(full.ID, "a-1", state.Failure)

	mustWork(h, h.drain(), DrainArgs{Repo: testFull, InstallationID: h.inst})
	require.Empty(t, h.cycles(stopped.ID), "a stopped run takes no scheduled cycle")
	require.Equal(t, state.RunStopped, h.run(stopped.ID).State, "and stays stopped")
	require.Len(t, h.cycles(full.ID), 2, "one more cycle brings a to its limit of 2, not the 3 it has open")

	mustWork(h, h.drain(), DrainArgs{Repo: testFull, InstallationID: h.inst})
	require.Len(t, h.cycles(full.ID), 2, "at its limit, a run takes no more")
}

// TestScheduleLateTick: a tick that runs late checks the minute it was
// scheduled for, so a due minute is never skipped; the drain for a minute
// is queued once, however many ticks see it.
func TestScheduleLateTick(t *testing.T) {
	t.Parallel()
	due := time.Now().Add(-3 * time.Minute).Truncate(time.Minute)
	h := newHarness(t, map[string]string{repoconfig.Path: fmt.Sprintf("schedule: \"%d %d * * *\"\n", due.Minute(), due.Hour())})
	require.NoError(t, store.UpsertInstallation(h.ctx, h.pool, &store.Installation{ID: h.inst, AccountLogin: testOwner, AccountType: "Organization"}))
	require.NoError(t, store.UpsertRepo(h.ctx, h.pool, &store.Repo{ID: 1, InstallationID: h.inst, FullName: testFull, DefaultBranch: "main"}))
	tick := func(at time.Time) {
		tw := rivertest.NewWorker(t, riverpgxv5.New(h.pool), &river.Config{Logger: discard()}, h.schedule())
		tx, err := h.pool.Begin(h.ctx)
		require.NoError(t, err)
		defer tx.Rollback(h.ctx)
		res, err := tw.Work(h.ctx, t, tx, ScheduleArgs{}, &river.InsertOpts{ScheduledAt: at})
		require.NoError(t, err)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		require.NoError(t, tx.Commit(h.ctx))
	}
	tick(due.Add(-time.Minute)) // the minute before: not due
	require.Empty(t, jobs[DrainArgs](h))
	tick(due.Add(45 * time.Second)) // the due minute's tick, running now, minutes late
	tick(due.Add(50 * time.Second)) // another process's tick for the same minute
	drains := jobs[DrainArgs](h)
	require.Len(t, drains, 2, "both ticks of the due minute asked (rivertest does not enforce uniqueness)")
	require.Equal(t, drains[0], drains[1], "for the same repo and minute")
	require.True(t, due.Equal(drains[0].Due))

	// River, enforcing uniqueness, keeps one of them.
	client, err := river.NewClient(riverpgxv5.New(h.pool), &river.Config{Logger: discard()})
	require.NoError(t, err)
	first, err := client.Insert(h.ctx, drains[0], drainInsertOpts())
	require.NoError(t, err)
	second, err := client.Insert(h.ctx, drains[1], drainInsertOpts())
	require.NoError(t, err)
	require.False(t, first.UniqueSkippedAsDuplicate)
	require.True(t, second.UniqueSkippedAsDuplicate, "one drain for the due minute")
}

// TestReaperDeadSession: a worker process that dies ends its database
// session, and the reaper takes its cycle over at once, though its lease
// has an hour left; a live worker's cycle is left alone.
func TestReaperDeadSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	dead, deadFence, release := h.claim(h.specRun("specs/a.md", "specloop/spec/a").ID)
	defer release()
	h.running(h.specRun("specs/b.md", "specloop/spec/b").ID)

	// The process dies: Postgres ends its session, and the lock with it.
	var pid int
	require.NoError(t, h.pool.QueryRow(h.ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, dead.ID).Scan(&pid))
	var ended bool
	require.NoError(t, h.pool.QueryRow(h.ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ended))
	require.True(t, ended)
	require.True(t, h.cycle(dead.ID).LeaseExpiresAt.After(time.Now().Add(30*time.Minute)), "the lease alone would hold it for an hour")

	mustWork(h, h.reaper(), ReaperArgs{})
	job := rivertest.RequireInserted(h.ctx, t, riverpgxv5.New(h.pool), CycleArgs{}, &rivertest.RequireInsertedOpts{Queue: QueueCycles})
	require.Equal(t, CycleArgs{CycleID: dead.ID, Takeover: deadFence}, job.Args)
	res, fence, err := store.ClaimCycle(h.ctx, h.pool, dead.ID, "taker", time.Minute, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, res, "the taker claims it now")
	require.Greater(t, fence, deadFence)
}

// TestReconcile: a labelled open issue whose labeled delivery never came
// gets its run; one touched in the last minutes is left to its webhook,
// and one with a run already is left alone.
func TestReconcile(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: passingConfig})
	require.NoError(t, store.UpsertInstallation(h.ctx, h.pool, &store.Installation{ID: h.inst, AccountLogin: testOwner, AccountType: "Organization"}))
	require.NoError(t, store.UpsertRepo(h.ctx, h.pool, &store.Repo{ID: 1, InstallationID: h.inst, FullName: testFull, DefaultBranch: "main"}))
	h.clock.Advance(-5 * time.Minute) // GitHub's past: these issues are not new
	missed := h.createIssue("Missed", widgetsSpec)
	hasRun := h.createIssue("Has a run", widgetsSpec)
	for _, n := range []int{missed, hasRun} {
		_, _, err := h.maintainer.Issues.AddLabelsToIssue(h.ctx, testOwner, testRepo, n, []string{"specloop"})
		require.NoError(t, err)
	}
	h.issueRun(hasRun)
	h.clock.Advance(5 * time.Minute)
	fresh := h.createIssue("Just labelled", widgetsSpec)
	_, _, err := h.maintainer.Issues.AddLabelsToIssue(h.ctx, testOwner, testRepo, fresh, []string{"specloop"})
	require.NoError(t, err)

	mustWork(h, &ReconcileWorker{d: h.d}, ReconcileArgs{})
	queued := jobs[IssueLabelArgs](h)
	require.Len(t, queued, 1)
	require.Equal(t, missed, queued[0].Issue)
	require.True(t, queued[0].Labeled)
	require.True(t, queued[0].Reconcile)

	// Its run starts; a second pass asks nothing more.
	mustWork(h, h.issueLabel(), queued[0])
	_, err = store.FindRunByBranch(h.ctx, h.pool, testFull, fmt.Sprintf("specloop/issue-%d", missed))
	require.NoError(t, err, "the run was made")
	before := len(jobs[IssueLabelArgs](h)) // the test's own work of it is a row too
	mustWork(h, &ReconcileWorker{d: h.d}, ReconcileArgs{})
	require.Len(t, jobs[IssueLabelArgs](h), before)
}
