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
// died. Its lease runs out, another worker takes the cycle over within
// seconds (not after River's stuck-job rescue), completes the orphaned
// check run, and runs the cycle once.
func TestDeadWorkerTakeover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{LeaseTTL: 2 * time.Second})
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

	// The dead worker: it claimed the cycle and started implement, then
	// stopped beating.
	res, deadFence, err := store.ClaimCycle(ctx, pool, cycle.ID, "dead-worker", 500*time.Millisecond, 0)
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

	run, cycles := waitCycles(t, st, st.Repo, issue.GetNumber(), 1)
	c := cycles[0]
	require.Equal(t, state.Success, c.Conclusion, c.Summary)
	require.Equal(t, 2, c.Attempts, "claimed by the dead worker, then once by the taker")
	require.Greater(t, c.Fence, deadFence)
	_, err = store.Heartbeat(ctx, pool, c.ID, deadFence, time.Minute)
	require.ErrorIs(t, err, store.ErrFenced, "the dead worker can write nothing more")

	for _, cr := range st.Emulator.CheckRuns(st.Owner, st.Repo) {
		if cr.GetID() == orphan.GetID() {
			require.Equal(t, "completed", cr.GetStatus(), "the orphaned check run is completed")
			require.Equal(t, "cancelled", cr.GetConclusion())
			require.Contains(t, cr.GetOutput().GetSummary(), "took it over")
		}
	}
	require.NotZero(t, run.PR, "the taken-over cycle published")
	var open int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM check_runs WHERE NOT completed").Scan(&open))
	require.Zero(t, open, "every check run that started is completed")
}

func itoa(n int) string { return strconv.Itoa(n) }
