package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/procs"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestProcesses runs specloop as an operator does: the built binary as
// `specloop web` and two `specloop worker` processes on one database, and
// sends them real signals while a cycle is in its agent. Each case asserts
// what the maintainer sees on GitHub: one result, one PR, one push, every
// check run completed. Latencies are logged, never asserted (the soak
// benchmark, bench/soak, reports them).
func TestProcesses(t *testing.T) {
	t.Parallel()
	bin, err := procs.Build(context.Background(), publicTempDir(t, "specloop-procs-bin-"))
	require.NoError(t, err)
	t.Run("SIGKILL", func(t *testing.T) { t.Parallel(); testProcsKill(t, bin) })
	t.Run("SIGTERM", func(t *testing.T) { t.Parallel(); testProcsTerm(t, bin) })
	t.Run("SIGSTOP", func(t *testing.T) { t.Parallel(); testProcsFrozen(t, bin) })
	t.Run("LoopStop", func(t *testing.T) { t.Parallel(); testProcsLoopStop(t, bin) })
	t.Run("SIGKILLAfterPush", func(t *testing.T) { t.Parallel(); testProcsKillAfterPush(t, bin) })
}

// testProcsKill: the worker running a cycle is SIGKILLed in the agent. Its
// sandbox dies with it, and the other worker runs the cycle again (its
// database session ended with the process, so it does not wait for the
// lease, 10 minutes here) to one success: one PR, one push, every check
// run completed, the dead attempt's saying it was taken over.
func testProcsKill(t *testing.T, bin string) {
	s := newProcScene(t, bin, "LEASE_TTL=10m")
	issue := s.label(t, "- [ ] [k-1] Survive a crash")
	c, first := s.running(t, issue)
	holder := s.workerOfCycle(t, c)
	require.Equal(t, 1, c.Attempts)

	require.NoError(t, holder.Signal(syscall.SIGKILL))
	killed := time.Now()
	require.Error(t, holder.Wait(waitLimit), "killed")
	await(t, "the killed worker's agent gone with it", first.gone)

	second, _ := s.resumed(t, c.ID, holder)
	t.Logf("SIGKILL → running again on the other worker: %s", second.at.Sub(killed).Round(time.Millisecond))
	second.release()

	got := s.done(t, c.ID)
	require.Equal(t, state.Success, got.Conclusion, got.Summary)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, s.other(holder), s.workerOfCycle(t, got), "the live worker finished it")
	run, _ := s.cycles(t, issue)
	require.Len(t, s.pulls(run.Branch), 1, "one PR")
	require.Equal(t, 1, s.pushes(t, run.Branch), "one push")
	says := s.requireAllCompleted(t, c.ID, "took it over")
	require.Equal(t, 3, says["took it over"], "the dead attempt's three check runs say it was taken over")
	require.Equal(t, 2, s.implementStarts(t, run.ID, c.ID), "the agent started once per attempt")
}

// resumed waits for the cycle's next attempt to reach its agent on a worker
// other than from, and returns that gate connection and the cycle.
func (s *procScene) resumed(t *testing.T, id int64, from *procs.Proc) (*gateConn, *store.Cycle) {
	t.Helper()
	gc := await(t, "the next attempt's agent at the gate", s.gate.arrived)
	c := s.cycle(t, id)
	require.Equal(t, state.CycleRunning, c.State)
	require.Equal(t, 2, c.Attempts)
	require.NotEqual(t, from, s.workerOfCycle(t, c), "another worker runs it")
	return gc, c
}

// testProcsTerm: SIGTERM (a deploy, an eviction) to the worker running a
// cycle. Its grace (1 s) is shorter than the agent, so it hands the cycle
// over and exits 0; the other worker resumes it at once and it concludes
// success on attempt 2, with one PR and one push. The first attempt's
// check runs completed, saying the attempt was interrupted by a worker
// shutdown.
func testProcsTerm(t *testing.T, bin string) {
	s := newProcScene(t, bin, "LEASE_TTL=10m", "SHUTDOWN_GRACE=1s")
	issue := s.label(t, "- [ ] [t-1] Survive a deploy")
	c, first := s.running(t, issue)
	holder := s.workerOfCycle(t, c)

	require.NoError(t, holder.Signal(syscall.SIGTERM))
	termed := time.Now()
	require.NoError(t, holder.Wait(waitLimit), "exit 0 after SIGTERM")
	await(t, "the stopping worker's agent stopped", first.gone)
	require.True(t, logHas(holder.Log(), "cycle handed over at shutdown"), tail(holder.Log(), 30))

	second, _ := s.resumed(t, c.ID, holder)
	t.Logf("SIGTERM → running again on the other worker: %s", second.at.Sub(termed).Round(time.Millisecond))
	second.release()

	got := s.done(t, c.ID)
	require.Equal(t, state.Success, got.Conclusion, got.Summary)
	require.Equal(t, 2, got.Attempts)
	run, _ := s.cycles(t, issue)
	require.Len(t, s.pulls(run.Branch), 1, "one PR")
	require.Equal(t, 1, s.pushes(t, run.Branch), "one push, no duplicate")
	says := s.requireAllCompleted(t, c.ID, "Interrupted by a worker shutdown")
	require.Equal(t, 3, says["Interrupted by a worker shutdown"], "the first attempt's three check runs say why they ended")
	require.Equal(t, 2, s.implementStarts(t, run.ID, c.ID))
}

// testProcsFrozen: the worker running a cycle is frozen (SIGSTOP): its
// process and database session are alive, its heartbeats stop. The other
// worker takes the cycle over once the lease (4 s) ran out. Then the frozen
// worker wakes and its agent finishes late, while the taker's attempt runs:
// whatever it writes is refused by the fence, so there is still one push,
// one PR, and the cycle ends as the taker ends it.
func testProcsFrozen(t *testing.T, bin string) {
	s := newProcScene(t, bin, "LEASE_TTL=4s")
	issue := s.label(t, "- [ ] [f-1] Survive a freeze")
	c, first := s.running(t, issue)
	holder := s.workerOfCycle(t, c)

	require.NoError(t, holder.Signal(syscall.SIGSTOP))
	frozen := time.Now()
	second, _ := s.resumed(t, c.ID, holder)
	t.Logf("SIGSTOP → running again on the other worker: %s (lease 4s)", second.at.Sub(frozen).Round(time.Millisecond))

	// The frozen worker wakes up and its agent, which ran on in its
	// sandbox, finishes now: it goes on to verify, audit and publish.
	require.NoError(t, holder.Signal(syscall.SIGCONT))
	first.release()
	waitFor(t, "the woken worker to see it lost the cycle", func() bool {
		return logHas(holder.Log(), "cycle taken over by another worker")
	})
	run, _ := s.cycles(t, issue)
	require.Zero(t, s.pushes(t, run.Branch), "the woken worker pushed nothing")
	second.release()

	got := s.done(t, c.ID)
	require.Equal(t, state.Success, got.Conclusion, got.Summary)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, s.other(holder), s.workerOfCycle(t, got), "the taker finished it")
	require.Len(t, s.pulls(run.Branch), 1, "one PR")
	require.Equal(t, 1, s.pushes(t, run.Branch), "one push")
	says := s.requireAllCompleted(t, c.ID, "took it over")
	require.Equal(t, 3, says["took it over"], "the frozen attempt's three check runs say it was taken over")
	var open int
	require.NoError(t, s.pool.QueryRow(context.Background(), "SELECT count(*) FROM check_runs WHERE NOT completed").Scan(&open))
	require.Zero(t, open)
}

// testProcsLoopStop: a maintainer comments `/loop stop` on the PR while
// the next cycle is in its agent. The agent's sandbox is gone, the cycle
// concludes cancelled with its check runs completed, nothing is pushed,
// and the comment is answered. The lease is 10 minutes: the stop came by
// notification, not at a heartbeat.
func testProcsLoopStop(t *testing.T, bin string) {
	s := newProcScene(t, bin, "LEASE_TTL=10m")
	ctx := context.Background()
	issue := s.label(t, "- [ ] [l-1] First\n- [ ] [l-2] Second")
	c, gc := s.running(t, issue)
	gc.release()
	require.Equal(t, state.Success, s.done(t, c.ID).Conclusion)
	run, _ := s.cycles(t, issue)
	require.NotZero(t, run.PR)
	head, err := s.c.Emulator.Ref(procs.Owner, s.repo, "heads/"+run.Branch)
	require.NoError(t, err)

	gh := s.c.User("maintainer")
	_, _, err = gh.Issues.CreateComment(ctx, procs.Owner, s.repo, run.PR, &github.IssueComment{Body: github.String("/loop next")})
	require.NoError(t, err)
	next, held := s.running(t, issue)
	require.NotEqual(t, c.ID, next.ID)

	stop, _, err := gh.Issues.CreateComment(ctx, procs.Owner, s.repo, run.PR, &github.IssueComment{Body: github.String("/loop stop")})
	require.NoError(t, err)
	gone := await(t, "the agent's sandbox gone", held.gone)
	var committed time.Time
	waitFor(t, "the stop's delivery", func() bool {
		return s.pool.QueryRow(ctx, `SELECT d.received_at FROM river_job j JOIN deliveries d ON d.guid = j.args->>'delivery'
			WHERE j.kind = 'command' AND (j.args->>'comment_id')::bigint = $1`, stop.GetID()).Scan(&committed) == nil
	})
	t.Logf("/loop stop: delivery committed → sandbox gone: %s", gone.Sub(committed).Round(time.Millisecond))

	got := s.done(t, next.ID)
	require.Equal(t, state.Cancelled, got.Conclusion)
	require.Equal(t, "Stopped on request; nothing more was pushed.", got.Summary)
	s.requireAllCompleted(t, next.ID)
	for _, cr := range s.checkRuns(next.ID) {
		want := string(state.Skipped)
		if cr.GetName() == "specloop/implement" {
			want = string(state.Cancelled)
		}
		require.Equal(t, want, cr.GetConclusion(), cr.GetName())
	}
	now, err := s.c.Emulator.Ref(procs.Owner, s.repo, "heads/"+run.Branch)
	require.NoError(t, err)
	require.Equal(t, head, now, "nothing pushed")
	waitFor(t, "the reply to /loop stop", func() bool {
		for _, cm := range s.c.Emulator.IssueComments(procs.Owner, s.repo, run.PR) {
			if cm.GetID() > stop.GetID() && strings.Contains(cm.GetBody(), "stopped: 1 cycle(s) cancelled") {
				return true
			}
		}
		return false
	})
}
