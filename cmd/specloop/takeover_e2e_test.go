package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestDeadWorkerTakeover: a worker claimed a cycle, opened a check run and
// died. Its database session ends with it, and another worker takes the
// cycle over at once (the reaper sees the session gone; the lease, 10
// minutes here, would hold it far longer than the test waits), completes
// the orphaned check run, and runs the cycle once.
func TestDeadWorkerTakeover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{LeaseTTL: 10 * time.Minute})
	gh := st.UserClient("maintainer")
	issue, _, err := gh.Issues.Create(ctx, st.Owner, st.Repo, &github.IssueRequest{
		Title: github.String("Take over"), Body: github.String("- [ ] [t-1] Survive a crash"),
	})
	require.NoError(t, err)
	pool := st.Server.Pool
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: st.Owner + "/" + st.Repo, InstallationID: st.Installation,
		Branch: "specloop/issue-" + itoa(issue.GetNumber()), Kind: "issue", Issue: issue.GetNumber()})
	require.NoError(t, err)
	cycle, err := store.InsertCycle(ctx, pool, run.ID, "label", "")
	require.NoError(t, err)

	// The dead worker: it took the cycle's lock on its session, claimed the
	// cycle and started implement.
	release, err := store.LockCycle(ctx, pool, cycle.ID)
	require.NoError(t, err)
	defer release()
	res, deadFence, err := store.ClaimCycle(ctx, pool, cycle.ID, "dead-worker", time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, res)
	main, err := st.Emulator.Ref(st.Owner, st.Repo, "heads/main")
	require.NoError(t, err)
	orphan, _, err := st.Server.Clients.Installation(st.Installation).Checks.CreateCheckRun(ctx, st.Owner, st.Repo, github.CreateCheckRunOptions{
		Name: "specloop/implement", HeadSHA: main, Status: github.String("in_progress"),
	})
	require.NoError(t, err)
	require.NoError(t, store.RecordCheckRun(ctx, pool, &store.CheckRun{ID: orphan.GetID(), CycleID: cycle.ID,
		Repo: run.Repo, Name: "specloop/implement", HeadSHA: main}))

	// The situation under test happened: the dead worker holds the cycle
	// and its check run is open.
	held, err := store.GetCycle(ctx, pool, cycle.ID)
	require.NoError(t, err)
	require.Equal(t, state.CycleRunning, held.State)
	require.Equal(t, "dead-worker", held.LeaseOwner)
	require.Equal(t, deadFence, held.Fence)
	require.Equal(t, 1, held.Attempts)
	require.Equal(t, "in_progress", emulatorCheckRun(t, st, orphan.GetID()).GetStatus())

	// It dies: Postgres ends its session. Its lease has most of an hour
	// left.
	var ended bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, cycle.ID).Scan(&ended))
	require.True(t, ended)

	run, cycles := waitCycles(t, st, st.Repo, issue.GetNumber(), 1)
	c := cycles[0]
	require.Equal(t, state.Success, c.Conclusion, c.Summary)
	require.Equal(t, 2, c.Attempts, "claimed by the dead worker, then once by the taker")
	require.Greater(t, c.Fence, deadFence)
	require.NotEqual(t, "dead-worker", c.LeaseOwner, "a live worker took it over")
	_, err = store.Heartbeat(ctx, pool, c.ID, deadFence, time.Minute)
	require.ErrorIs(t, err, store.ErrFenced, "the dead worker can write nothing more")

	cr := emulatorCheckRun(t, st, orphan.GetID())
	require.Equal(t, "completed", cr.GetStatus(), "the orphaned check run is completed")
	require.Equal(t, "cancelled", cr.GetConclusion())
	require.Contains(t, cr.GetOutput().GetSummary(), "took it over")

	evs, err := store.ListEvents(ctx, pool, run.ID, 0, 1000)
	require.NoError(t, err)
	started := 0
	for _, e := range evs {
		if e.CycleID == c.ID && e.Step == "implement" && e.Outcome == "started" {
			started++
		}
	}
	require.Equal(t, 1, started, "the agent ran once, for the taker")
	require.NotZero(t, run.PR, "the taken-over cycle published")
	var open int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM check_runs WHERE NOT completed").Scan(&open))
	require.Zero(t, open, "every check run that started is completed")
}

// emulatorCheckRun is the check run with id as the emulator holds it; the
// test fails if there is none.
func emulatorCheckRun(t *testing.T, st *stack.Stack, id int64) *github.CheckRun {
	t.Helper()
	for _, cr := range st.Emulator.CheckRuns(st.Owner, st.Repo) {
		if cr.GetID() == id {
			return cr
		}
	}
	t.Fatalf("the emulator has no check run %d", id)
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
