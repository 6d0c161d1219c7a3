package jobs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// deadWorkdir leaves in a cache what a dead cycle leaves: a working copy
// whose lock file no process holds.
func deadWorkdir(t *testing.T, m *workspace.Cache, name string) string {
	t.Helper()
	dead := filepath.Join(m.Dir, "work", name)
	require.NoError(t, os.MkdirAll(filepath.Join(dead, "tree"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dead, "lock"), nil, 0o644))
	return dead
}

// runHousekeeper runs a Housekeeper on cfg with an insert-only River
// client (no leader, no periodic jobs) until the test ends.
func runHousekeeper(t *testing.T, cfg Config) {
	t.Helper()
	client, err := river.NewClient[pgx.Tx](riverpgxv5.New(cfg.Pool), &river.Config{Logger: discard()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewHousekeeper(cfg, client).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// TestHousekeeperPrunesEachHost: two worker processes on one database,
// each with a MIRROR_DIR of its own host. Each prunes its own, at start
// and then periodically, with no River job (whose one run would prune one
// host only).
func TestHousekeeperPrunesEachHost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var caches []*workspace.Cache
	for range 2 {
		caches = append(caches, &workspace.Cache{Dir: t.TempDir(), Logger: discard()})
	}
	var deads []string
	for _, m := range caches {
		deads = append(deads, deadWorkdir(t, m, "wd-dead"))
	}
	for i, m := range caches {
		cfg := h.d.Config
		cfg.WorkerID, cfg.Mirrors, cfg.PruneEvery = "host-"+string(rune('a'+i)), m, 100*time.Millisecond
		runHousekeeper(t, cfg)
	}
	for _, dead := range deads {
		require.Eventually(t, func() bool { _, err := os.Stat(dead); return os.IsNotExist(err) }, time.Minute, 20*time.Millisecond,
			"%s pruned at start", dead)
	}
	// Later dead cycles are pruned on the next round, on each host.
	for i, m := range caches {
		deads[i] = deadWorkdir(t, m, "wd-dead-later")
	}
	for _, dead := range deads {
		require.Eventually(t, func() bool { _, err := os.Stat(dead); return os.IsNotExist(err) }, time.Minute, 20*time.Millisecond,
			"%s pruned periodically", dead)
	}
}

// TestHousekeeperReaps: a worker died holding a cycle (its session and lock
// are gone, its lease has an hour left). A worker process's Housekeeper
// queues the takeover by itself, without River's leader.
func TestHousekeeperReaps(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig))
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c := h.queued(run.ID, "push")
	claim, fence, err := store.ClaimCycle(h.ctx, h.pool, c.ID, "dead-worker", time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, claim)

	cfg := h.d.Config
	cfg.LeaseTTL = 4 * time.Second
	runHousekeeper(t, cfg)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, h.pool.QueryRow(h.ctx, `SELECT count(*) FROM river_job WHERE kind = 'cycle'
			AND (args->>'cycle_id')::bigint = $1 AND (args->>'takeover')::bigint = $2`, c.ID, fence).Scan(&n))
		return n == 1
	}, time.Minute, 50*time.Millisecond, "the takeover is queued")
}

// TestHousekeeperRescuesDeadWorkersJobs: a worker process died with a job
// running (a cycle it had fetched but not claimed): any live worker's
// Housekeeper makes it available again, without River's hour-long rescue.
func TestHousekeeperRescuesDeadWorkersJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	dead, err := store.HoldWorker(h.ctx, h.pool, RiverClientID("dead-host/1/abcd"))
	require.NoError(t, err)
	dead.Release() // it was SIGKILLed
	var id int64
	require.NoError(t, h.pool.QueryRow(h.ctx, `INSERT INTO river_job (kind, args, max_attempts, state, attempt, attempted_at, attempted_by, queue)
		VALUES ('cycle', '{"cycle_id": 1}', 25, 'running', 1, now() - interval '1 minute', ARRAY[$1], 'cycles') RETURNING id`,
		RiverClientID("dead-host/1/abcd")).Scan(&id))

	cfg := h.d.Config
	cfg.LeaseTTL = 4 * time.Second
	runHousekeeper(t, cfg)
	require.Eventually(t, func() bool {
		var state string
		require.NoError(t, h.pool.QueryRow(h.ctx, `SELECT state::text FROM river_job WHERE id = $1`, id).Scan(&state))
		return state == "available"
	}, time.Minute, 50*time.Millisecond, "the dead worker's job runs again")
}
