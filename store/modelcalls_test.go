package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// spendRuns are the runs of spendFixture: a and b of repo o/r, other of
// o/other, quiet of o/r with no model calls.
type spendRuns struct{ a, b, other, quiet int64 }

// spendFixture records model calls: a's 3150 tokens for $1.75 (one call
// in a cycle, one refused), b's 20 for $2 (one refused), other's 10 for $9.
func spendFixture(t *testing.T, ctx context.Context, pool store.DB) spendRuns {
	t.Helper()
	run := func(repo string, issue int) int64 {
		r, err := store.UpsertRun(ctx, pool, &store.Run{Repo: repo, InstallationID: 1, Branch: fmt.Sprintf("specloop/issue-%d", issue), Kind: "issue", Issue: issue})
		require.NoError(t, err)
		return r.ID
	}
	runs := spendRuns{a: run("o/r", 1), b: run("o/r", 2), other: run("o/other", 1), quiet: run("o/r", 3)}
	cyc, err := store.InsertCycle(ctx, pool, runs.a, "label", "")
	require.NoError(t, err)
	require.NoError(t, store.InsertModelCalls(ctx, pool, []store.ModelCall{
		{Repo: "o/r", RunID: runs.a, CycleID: cyc.ID, Path: "/v1/responses", Status: 200, Model: "gpt-5", Input: 1000, Cached: 200, Output: 100, CostUSD: 0.5},
		{Repo: "o/r", RunID: runs.a, Path: "/v1/responses", Status: 200, Model: "gpt-5", Input: 2000, Output: 50, CostUSD: 1.25},
		{Repo: "o/r", RunID: runs.a, Path: "/v1/responses", Status: 400, Refused: "limits.usd_per_run (2 USD)"},
		{Repo: "o/r", RunID: runs.b, Path: "/v1/messages", Status: 200, Model: "claude-sonnet-4", Input: 10, Output: 10, CostUSD: 2},
		{Repo: "o/r", RunID: runs.b, Path: "/v1/messages", Status: 400, Refused: "limits.usd_per_day (3 USD)"},
		{Repo: "o/other", RunID: runs.other, Path: "/v1/messages", Status: 200, Input: 5, Output: 5, CostUSD: 9},
	}))
	return runs
}

// TestModelSpent sums what a run spent, and what its repo spent today
// over all its runs, for the budgets.
func TestModelSpent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	runs := spendFixture(t, ctx, pool)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	tokens, runUSD, dayUSD, err := store.ModelSpent(ctx, pool, "o/r", runs.a, day)
	require.NoError(t, err)
	require.Equal(t, int64(3150), tokens, "input plus output of the run's calls")
	require.InDelta(t, 1.75, runUSD, 1e-9)
	require.InDelta(t, 3.75, dayUSD, 1e-9, "every run of the repo today, no other repo's")

	_, _, dayUSD, err = store.ModelSpent(ctx, pool, "o/r", runs.a, day.Add(48*time.Hour))
	require.NoError(t, err)
	require.Zero(t, dayUSD, "a new day starts at zero")
}

// TestRunSpent sums one run's calls, whenever they were made, and none of
// another run's, of the same repo or another.
func TestRunSpent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	runs := spendFixture(t, ctx, pool)
	// A call of an earlier day still counts: a run's cost has no day.
	_, err := pool.Exec(ctx, `UPDATE model_calls SET created_at = now() - interval '3 days' WHERE run_id = $1 AND cost_usd = 0.5`, runs.a)
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		run    int64
		tokens int64
		usd    float64
	}{
		{"every call of the run, refused ones at nothing", runs.a, 3150, 1.75},
		{"another run of the same repo", runs.b, 20, 2},
		{"a run of another repo", runs.other, 10, 9},
		{"a run with no calls", runs.quiet, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens, usd, err := store.RunSpent(ctx, pool, tc.run)
			require.NoError(t, err)
			require.Equal(t, tc.tokens, tokens)
			require.InDelta(t, tc.usd, usd, 1e-9)
		})
	}
}
