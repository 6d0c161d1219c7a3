package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// The database accepts every value package state names and refuses
// anything else, so the Go constants and the CHECK constraints cannot
// drift apart.
func TestStateChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	for i, k := range state.RunKinds() {
		for j, s := range state.RunStates() {
			_, err := pool.Exec(ctx, `INSERT INTO runs (repo_full_name, installation_id, branch, kind, state) VALUES ('o/r', 1, $1, $2, $3)`,
				"b"+string(rune('a'+i))+string(rune('a'+j)), k, s)
			require.NoError(t, err, "kind %s, state %s", k, s)
		}
	}
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/x", Kind: state.RunSpec, SpecPath: "specs/x.md"})
	require.NoError(t, err)
	for _, c := range state.Conclusions() {
		_, err := pool.Exec(ctx, `INSERT INTO cycles (run_id, trigger, state, conclusion) VALUES ($1, 'test', 'done', $2)`, run.ID, c)
		if c == state.Skipped {
			require.Error(t, err, "skipped is a step's conclusion, not a cycle's")
			continue
		}
		require.NoError(t, err, "conclusion %s", c)
	}
	for _, s := range state.CycleStates() {
		conclusion := ""
		if s == state.CycleDone {
			conclusion = string(state.Success)
		}
		_, err := pool.Exec(ctx, `INSERT INTO cycles (run_id, trigger, state, conclusion) VALUES ($1, 'test', $2, $3)`, run.ID, s, conclusion)
		require.NoError(t, err, "cycle state %s", s)
	}

	refused := []struct {
		name, sql string
		args      []any
	}{
		{"run kind", `INSERT INTO runs (repo_full_name, installation_id, branch, kind) VALUES ('o/r', 1, 'k', 'isue')`, nil},
		{"run state", `UPDATE runs SET state = 'paused' WHERE id = $1`, []any{run.ID}},
		{"cycle state", `INSERT INTO cycles (run_id, trigger, state) VALUES ($1, 'test', 'finished')`, []any{run.ID}},
		{"cycle conclusion", `INSERT INTO cycles (run_id, trigger, state, conclusion) VALUES ($1, 'test', 'done', 'failed')`, []any{run.ID}},
		{"done without a conclusion", `INSERT INTO cycles (run_id, trigger, state) VALUES ($1, 'test', 'done')`, []any{run.ID}},
		{"a conclusion before done", `INSERT INTO cycles (run_id, trigger, state, conclusion) VALUES ($1, 'test', 'queued', 'success')`, []any{run.ID}},
	}
	for _, r := range refused {
		_, err := pool.Exec(ctx, r.sql, r.args...)
		require.ErrorContains(t, err, "check constraint", r.name)
	}
	// Through the store's own API too.
	require.Error(t, store.SetRunState(ctx, pool, run.ID, state.RunState("paused")))
}
