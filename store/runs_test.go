package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

func TestClaimCycleOrderAndFence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	again, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	require.Equal(t, run.ID, again.ID, "one run per (repo, branch)")

	first, err := store.InsertCycle(ctx, pool, run.ID, "label", "")
	require.NoError(t, err)
	second, err := store.InsertCycle(ctx, pool, run.ID, "command", "")
	require.NoError(t, err)

	res, _, err := store.ClaimCycle(ctx, pool, second.ID, "w2", time.Minute, 0)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, res, "the second cycle waits for the first")
	pos, err := store.QueuePosition(ctx, pool, second)
	require.NoError(t, err)
	require.Equal(t, 1, pos)

	// Many workers race for the first cycle: exactly one wins.
	// The goroutines only record; require runs on the test goroutine.
	var wg sync.WaitGroup
	results := make([]store.ClaimResult, 10)
	errs := make([]error, 10)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _, errs[i] = store.ClaimCycle(ctx, pool, first.ID, "racer", time.Minute, 0)
		}()
	}
	wg.Wait()
	wins := 0
	for i, res := range results {
		require.NoError(t, errs[i], "racer %d", i)
		if res == store.Claimed {
			wins++
		}
	}
	require.Equal(t, 1, wins)

	// A dead worker's lease expires; a takeover gets a new fence and the old
	// holder is refused.
	_, err = pool.Exec(ctx, "UPDATE cycles SET lease_expires_at = now() - interval '1 second' WHERE id = $1", first.ID)
	require.NoError(t, err)
	c, err := store.GetCycle(ctx, pool, first.ID)
	require.NoError(t, err)
	oldFence := c.Fence
	res, newFence, err := store.ClaimCycle(ctx, pool, first.ID, "w3", time.Minute, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, res)
	require.Greater(t, newFence, oldFence)
	_, err = store.Heartbeat(ctx, pool, first.ID, oldFence, time.Minute)
	require.ErrorIs(t, err, store.ErrFenced)
	require.ErrorIs(t, store.FinishCycle(ctx, pool, first.ID, oldFence, "success", ""), store.ErrFenced)

	stop, err := store.Heartbeat(ctx, pool, first.ID, newFence, time.Minute)
	require.NoError(t, err)
	require.False(t, stop)
	n, err := store.CancelQueuedCycles(ctx, pool, run.ID, "label removed")
	require.NoError(t, err)
	require.Equal(t, 2, n, "the queued one is cancelled and the running one asked to stop")
	stop, err = store.Heartbeat(ctx, pool, first.ID, newFence, time.Minute)
	require.NoError(t, err)
	require.True(t, stop)
	require.NoError(t, store.FinishCycle(ctx, pool, first.ID, newFence, "cancelled", "stopped"))
	res, _, err = store.ClaimCycle(ctx, pool, first.ID, "w4", time.Minute, 0)
	require.NoError(t, err)
	require.Equal(t, store.Finished, res)
	got, err := store.GetCycle(ctx, pool, second.ID)
	require.NoError(t, err)
	require.Equal(t, state.Cancelled, got.Conclusion)
}

func TestEventsAndPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "b", Kind: "spec"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = store.AppendEvent(ctx, pool, &store.Event{RunID: run.ID, Kind: "note", Message: "x"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "append %d", i)
	}
	evs, err := store.ListEvents(ctx, pool, run.ID, 0, 100)
	require.NoError(t, err)
	require.Len(t, evs, 20)
	for i, e := range evs {
		require.Equal(t, int64(i+1), e.Seq, "seqs are dense and ordered")
	}
	_, err = pool.Exec(ctx, "UPDATE events SET created_at = now() - interval '40 days' WHERE seq <= 5")
	require.NoError(t, err)
	pruned, _, err := store.Prune(ctx, pool, time.Now().Add(-30*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, int64(5), pruned)
	first, last, err := store.KeptEventSeqs(ctx, pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, int64(6), first)
	require.Equal(t, int64(20), last)

	// Pruning everything does not restart the numbering.
	_, err = pool.Exec(ctx, "UPDATE events SET created_at = now() - interval '40 days'")
	require.NoError(t, err)
	_, _, err = store.Prune(ctx, pool, time.Now().Add(-30*24*time.Hour))
	require.NoError(t, err)
	e := &store.Event{RunID: run.ID, Kind: "note"}
	require.NoError(t, store.AppendEvent(ctx, pool, e))
	require.Equal(t, int64(21), e.Seq)
}

func TestClaimCycleRepoLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	var cycles []*store.Cycle
	for _, branch := range []string{"a", "b", "c"} {
		run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: branch, Kind: "spec"})
		require.NoError(t, err)
		c, err := store.InsertCycle(ctx, pool, run.ID, "push", "")
		require.NoError(t, err)
		cycles = append(cycles, c)
	}
	other, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/other", InstallationID: 1, Branch: "a", Kind: "spec"})
	require.NoError(t, err)
	otherCycle, err := store.InsertCycle(ctx, pool, other.ID, "push", "")
	require.NoError(t, err)

	// limits.concurrent: 2 — the third cycle of the repo waits.
	for i, want := range []store.ClaimResult{store.Claimed, store.Claimed, store.Waiting} {
		res, _, err := store.ClaimCycle(ctx, pool, cycles[i].ID, "w", time.Minute, 2)
		require.NoError(t, err)
		require.Equal(t, want, res, "cycle %d", i)
	}
	res, _, err := store.ClaimCycle(ctx, pool, otherCycle.ID, "w", time.Minute, 2)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, res, "another repo is not limited by this one")

	c0, err := store.GetCycle(ctx, pool, cycles[0].ID)
	require.NoError(t, err)
	require.NoError(t, store.FinishCycle(ctx, pool, c0.ID, c0.Fence, "success", ""))
	res, _, err = store.ClaimCycle(ctx, pool, cycles[2].ID, "w", time.Minute, 2)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, res, "a slot freed")
}
