package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// TestModelSpent sums what a run spent, and what its repo spent today
// over all its runs, for the budgets.
func TestModelSpent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	runA, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	runB, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-2", Kind: "issue", Issue: 2})
	require.NoError(t, err)
	other, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/other", InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	cyc, err := store.InsertCycle(ctx, pool, runA.ID, "label", "")
	require.NoError(t, err)
	require.NoError(t, store.InsertModelCalls(ctx, pool, []store.ModelCall{
		{Repo: "o/r", RunID: runA.ID, CycleID: cyc.ID, Path: "/v1/responses", Status: 200, Model: "gpt-5", Input: 1000, Cached: 200, Output: 100, CostUSD: 0.5},
		{Repo: "o/r", RunID: runA.ID, Path: "/v1/responses", Status: 200, Model: "gpt-5", Input: 2000, Output: 50, CostUSD: 1.25},
		{Repo: "o/r", RunID: runB.ID, Path: "/v1/messages", Status: 200, Model: "claude-sonnet-4", Input: 10, Output: 10, CostUSD: 2},
		{Repo: "o/r", RunID: runB.ID, Path: "/v1/messages", Status: 400, Refused: "limits.usd_per_day (3 USD)"},
		{Repo: "o/other", RunID: other.ID, Path: "/v1/messages", Status: 200, Input: 5, Output: 5, CostUSD: 9},
	}))
	day := time.Now().UTC().Truncate(24 * time.Hour)
	tokens, runUSD, dayUSD, err := store.ModelSpent(ctx, pool, "o/r", runA.ID, day)
	require.NoError(t, err)
	require.Equal(t, int64(3150), tokens, "input plus output of the run's calls")
	require.InDelta(t, 1.75, runUSD, 1e-9)
	require.InDelta(t, 3.75, dayUSD, 1e-9, "every run of the repo today, no other repo's")

	_, _, dayUSD, err = store.ModelSpent(ctx, pool, "o/r", runA.ID, day.Add(48*time.Hour))
	require.NoError(t, err)
	require.Zero(t, dayUSD, "a new day starts at zero")
}

// TestRunSpent sums one run's calls, whenever they were made, and none of
// another run's, of the same repo or another.
func TestRunSpent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	runA, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	runB, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-2", Kind: "issue", Issue: 2})
	require.NoError(t, err)
	other, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/other", InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	quiet, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-3", Kind: "issue", Issue: 3})
	require.NoError(t, err)
	cyc, err := store.InsertCycle(ctx, pool, runA.ID, "label", "")
	require.NoError(t, err)
	require.NoError(t, store.InsertModelCalls(ctx, pool, []store.ModelCall{
		{Repo: "o/r", RunID: runA.ID, CycleID: cyc.ID, Path: "/v1/responses", Status: 200, Model: "gpt-5", Input: 1000, Cached: 200, Output: 100, CostUSD: 0.5},
		{Repo: "o/r", RunID: runA.ID, Path: "/v1/responses", Status: 200, Model: "gpt-5", Input: 2000, Output: 50, CostUSD: 1.25},
		{Repo: "o/r", RunID: runA.ID, Path: "/v1/responses", Status: 400, Refused: "limits.usd_per_run (2 USD)"},
		{Repo: "o/r", RunID: runB.ID, Path: "/v1/messages", Status: 200, Model: "claude-sonnet-4", Input: 10, Output: 10, CostUSD: 2},
		{Repo: "o/other", RunID: other.ID, Path: "/v1/messages", Status: 200, Input: 5, Output: 5, CostUSD: 9},
	}))
	// A call of an earlier day still counts: a run's cost has no day.
	_, err = pool.Exec(ctx, `UPDATE model_calls SET created_at = now() - interval '3 days' WHERE run_id = $1 AND cost_usd = 0.5`, runA.ID)
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		run    int64
		tokens int64
		usd    float64
	}{
		{"every call of the run, refused ones at nothing", runA.ID, 3150, 1.75},
		{"another run of the same repo", runB.ID, 20, 2},
		{"a run of another repo", other.ID, 10, 9},
		{"a run with no calls", quiet.ID, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens, usd, err := store.RunSpent(ctx, pool, tc.run)
			require.NoError(t, err)
			require.Equal(t, tc.tokens, tokens)
			require.InDelta(t, tc.usd, usd, 1e-9)
		})
	}
}
