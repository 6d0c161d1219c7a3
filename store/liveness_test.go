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
