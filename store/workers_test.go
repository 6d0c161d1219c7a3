package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// TestRescueDeadWorkersJobs: jobs running on a worker process that died
// (nobody holds its liveness lock) are made available again at once; a
// live process's jobs, a job fetched a moment ago, and the jobs of a client
// that holds no liveness lock (an older version) are left alone.
func TestRescueDeadWorkersJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	live, err := store.HoldWorker(ctx, pool, "specloop/live")
	require.NoError(t, err)
	defer live.Release()
	_, err = store.HoldWorker(ctx, pool, "specloop/live")
	require.ErrorIs(t, err, store.ErrWorkerHeld, "one process per id")
	dead, err := store.HoldWorker(ctx, pool, "specloop/dead")
	require.NoError(t, err)
	dead.Release() // it died

	job := func(by string, ago time.Duration) int64 {
		var id int64
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO river_job (kind, args, max_attempts, state, attempt, attempted_at, attempted_by, queue)
			VALUES ('cycle', '{}', 25, 'running', 1, now() - $2::interval, ARRAY[$1], 'cycles') RETURNING id`, by, ago.String()).Scan(&id))
		return id
	}
	stateOf := func(id int64) string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT state::text FROM river_job WHERE id = $1`, id).Scan(&s))
		return s
	}
	deadJob := job("specloop/dead", time.Minute)
	justFetched := job("specloop/dead", 0)
	liveJob := job("specloop/live", time.Minute)
	oldClient := job("vm_2026_12_02T09_45_35", time.Minute)

	n, err := store.RescueDeadWorkersJobs(ctx, pool, "specloop/", 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, "available", stateOf(deadJob), "the dead process's job runs again")
	require.Equal(t, "running", stateOf(justFetched), "fetched a moment ago: left to settle")
	require.Equal(t, "running", stateOf(liveJob), "a live process's job is its own")
	require.Equal(t, "running", stateOf(oldClient), "a client without a liveness lock is left to River's rescue")

	// A lost session takes the lock again. The wait (PostgreSQL 14) makes
	// sure the ended session has let go of it.
	_, err = pool.Exec(ctx, `SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND pid <> pg_backend_pid()
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, 0x53504c57)
	require.NoError(t, err)
	require.NoError(t, live.Keep(ctx))
	n, err = store.RescueDeadWorkersJobs(ctx, pool, "specloop/", 5*time.Second)
	require.NoError(t, err)
	require.Zero(t, n, "the live process holds its lock again")
}
