package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

func TestCycleLiveness(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "b", Kind: state.RunSpec})
	require.NoError(t, err)
	c, err := store.InsertCycle(ctx, pool, run.ID, "push", "")
	require.NoError(t, err)

	release, err := store.LockCycle(ctx, pool, c.ID)
	require.NoError(t, err)
	_, err = store.LockCycle(ctx, pool, c.ID)
	require.ErrorIs(t, err, store.ErrCycleLocked, "one live worker at a time")
	res, fence, err := store.ClaimCycle(ctx, pool, c.ID, "w", time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, res)
	orphans, err := store.OrphanedCycles(ctx, pool)
	require.NoError(t, err)
	require.Empty(t, orphans, "its worker's session is alive")

	release()
	orphans, err = store.OrphanedCycles(ctx, pool)
	require.NoError(t, err)
	require.Len(t, orphans, 1, "its worker's session let go")
	require.Equal(t, c.ID, orphans[0].ID)
	again, err := store.LockCycle(ctx, pool, c.ID)
	require.NoError(t, err, "looking for orphans leaves no lock behind")
	again()

	require.NoError(t, store.ReleaseCycle(ctx, pool, c.ID, fence))
	require.ErrorIs(t, store.ReleaseCycle(ctx, pool, c.ID, fence+1), store.ErrFenced)
	res, newFence, err := store.ClaimCycle(ctx, pool, c.ID, "taker", time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, res, "a released cycle is claimed at once")
	require.Greater(t, newFence, fence)
}

// TestBreakExpiredCycleLock: a worker holds a cycle's lock on a live
// session. While its lease runs, nobody may break the lock; once it ran
// out (the worker froze), the holder's session is ended and the lock is
// free for a taker, and the frozen worker can write nothing under its
// fence once the taker has claimed.
func TestBreakExpiredCycleLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "b", Kind: state.RunSpec})
	require.NoError(t, err)
	c, err := store.InsertCycle(ctx, pool, run.ID, "push", "")
	require.NoError(t, err)
	release, err := store.LockCycle(ctx, pool, c.ID)
	require.NoError(t, err)
	defer release()
	_, fence, err := store.ClaimCycle(ctx, pool, c.ID, "frozen", time.Hour, 0)
	require.NoError(t, err)

	ended, err := store.BreakExpiredCycleLock(ctx, pool, c.ID)
	require.NoError(t, err)
	require.False(t, ended, "a lease that runs is respected")
	_, err = store.LockCycle(ctx, pool, c.ID)
	require.ErrorIs(t, err, store.ErrCycleLocked)

	// Its lease ran out while it was frozen: its lock session has been idle
	// since before.
	time.Sleep(50 * time.Millisecond)
	_, err = pool.Exec(ctx, `UPDATE cycles SET lease_expires_at = now() - interval '10 milliseconds' WHERE id = $1`, c.ID)
	require.NoError(t, err)
	ended, err = store.BreakExpiredCycleLock(ctx, pool, c.ID)
	require.NoError(t, err)
	require.True(t, ended, "the frozen worker's session is ended")
	taker, err := store.LockCycle(ctx, pool, c.ID)
	require.NoError(t, err, "the lock is free for a taker")
	defer taker()
	res, _, err := store.ClaimCycle(ctx, pool, c.ID, "taker", time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, res)
	_, err = store.Heartbeat(ctx, pool, c.ID, fence, time.Hour)
	require.ErrorIs(t, err, store.ErrFenced, "the frozen worker, woken, is fenced")
}

// TestBreakExpiredCycleLockSparesATaker: a taker took the lock of a cycle
// whose dead owner's lease ran out, and has not claimed it yet. Another
// taker must not end its session (and then run beside it): the lock was
// taken after the lease ran out, so it is not the frozen owner's.
func TestBreakExpiredCycleLockSparesATaker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "b", Kind: state.RunSpec})
	require.NoError(t, err)
	c, err := store.InsertCycle(ctx, pool, run.ID, "push", "")
	require.NoError(t, err)
	_, _, err = store.ClaimCycle(ctx, pool, c.ID, "dead", time.Hour, 0)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE cycles SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, c.ID)
	require.NoError(t, err)

	taker, err := store.LockCycle(ctx, pool, c.ID)
	require.NoError(t, err)
	defer taker()
	ended, err := store.BreakExpiredCycleLock(ctx, pool, c.ID)
	require.NoError(t, err)
	require.False(t, ended, "the first taker keeps its lock")
	_, err = store.LockCycle(ctx, pool, c.ID)
	require.ErrorIs(t, err, store.ErrCycleLocked)
}
