package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

func TestPendingJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	got, err := store.PendingJobs(ctx, pool)
	require.NoError(t, err)
	require.Empty(t, got)
	for _, j := range []struct{ kind, state string }{
		{"cycle", "available"}, {"cycle", "available"}, {"cycle", "running"}, {"command", "retryable"},
		{"cycle", "completed"}, {"command", "discarded"}, // done: not pending
	} {
		_, err := pool.Exec(ctx, `INSERT INTO river_job (kind, args, state, max_attempts, queue, finalized_at) VALUES ($1, '{}', $2::river_job_state, 25, 'default', CASE WHEN $2 IN ('completed', 'discarded', 'cancelled') THEN now() END)`, j.kind, j.state)
		require.NoError(t, err)
	}
	got, err = store.PendingJobs(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, []store.JobCount{
		{Kind: "command", State: "retryable", N: 1},
		{Kind: "cycle", State: "available", N: 2},
		{Kind: "cycle", State: "running", N: 1},
	}, got)
}
