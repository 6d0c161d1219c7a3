package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// TestLockFixes: a second fix trigger of the same run waits for the first
// to release the lock, and then counts the fix the first queued; another
// run's trigger does not wait.
func TestLockFixes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := storetest.Pool(t)
	d := &deps{Config: Config{Pool: pool}}
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: testFull, InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	other, err := store.UpsertRun(ctx, pool, &store.Run{Repo: testFull, InstallationID: 1, Branch: "specloop/issue-2", Kind: "issue", Issue: 2})
	require.NoError(t, err)

	release, cycles, fixes, err := d.lockFixes(ctx, run.ID)
	require.NoError(t, err)
	require.Empty(t, cycles)
	require.Empty(t, fixes)

	type counted struct {
		cycles []*store.Cycle
		fixes  map[int64]store.Fix
		err    error
	}
	second := make(chan counted, 1)
	go func() {
		release, cycles, fixes, err := d.lockFixes(ctx, run.ID)
		if err == nil {
			release()
		}
		second <- counted{cycles, fixes, err}
	}()
	// Until the second trigger is seen waiting on the lock in PostgreSQL,
	// it might not have asked yet.
	require.Eventually(t, func() bool {
		var waiting int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND objsubid = 2 AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, run.ID).Scan(&waiting)
		return err == nil && waiting > 0
	}, 30*time.Second, 10*time.Millisecond)

	// Another run's lock is another lock.
	releaseOther, _, _, err := d.lockFixes(ctx, other.ID)
	require.NoError(t, err)
	releaseOther()

	c, err := store.InsertCycle(ctx, pool, run.ID, "review", "")
	require.NoError(t, err)
	require.NoError(t, store.SetCycleFix(ctx, pool, c.ID, store.Fix{Source: agent.FixReview}))
	release()

	got := <-second
	require.NoError(t, got.err)
	require.Len(t, got.cycles, 1, "the second trigger counts what the first queued")
	require.Equal(t, c.ID, got.cycles[0].ID)
	require.Equal(t, agent.FixReview, got.fixes[c.ID].Source)
}
