package jobs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/sandbox"
)

// fakeSandboxes records what the reaper says of each pod owner.
type fakeSandboxes struct {
	owners []sandbox.PodOwner
	mu     sync.Mutex
	alive  map[int64]bool
	n      int
}

func (f *fakeSandboxes) Reap(ctx context.Context, alive func(context.Context, sandbox.PodOwner) (bool, error)) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alive = map[int64]bool{}
	f.n++
	for _, o := range f.owners {
		ok, err := alive(ctx, o)
		if err != nil {
			return 0, err
		}
		f.alive[o.Cycle] = ok
	}
	return 0, nil
}

// The periodic reaper asks the sandbox driver to delete the pods of
// cycles that no live worker holds: a cycle running under a held lock
// keeps its pod, a finished or unheld one does not.
func TestReaperSandboxPods(t *testing.T) {
	t.Parallel()
	fake := &fakeSandboxes{}
	h := newHarness(t, nil, func(c *Config) { c.Sandboxes = fake })
	held, _ := h.running(h.specRun("specs/a.md", "specloop/spec/a").ID)
	unheld, _, release := h.claim(h.specRun("specs/b.md", "specloop/spec/b").ID)
	release() // its worker's session let go of it
	fake.owners = []sandbox.PodOwner{{Owner: "w/job-1", Cycle: held.ID}, {Owner: "w/job-2", Cycle: unheld.ID}, {Owner: "w/job-3", Cycle: 987654}, {Owner: "cli"}}

	mustWork(h, h.reaper(), ReaperArgs{})
	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Equal(t, map[int64]bool{held.ID: true, unheld.ID: false, 987654: false, 0: true}, fake.alive)
}

// rounds counts the reaper's rounds of the pods.
func (f *fakeSandboxes) rounds() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// The Housekeeper deletes a dead worker's pods at start and then on its
// own PodReapEvery tick, not on the cycle reap's (every LeaseTTL/2 here,
// 50 ms): listing pods from the apiserver every 2 s per worker is load
// for nothing.
func TestHousekeeperReapsPodsOnItsOwnTick(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	t.Run("slow tick", func(t *testing.T) {
		fake := housekeepPods(t, h, "slow", time.Hour)
		// Ten cycle reap rounds, each seen by the dead worker's job it
		// rescues, list the pods not once more.
		for i := range 10 {
			reapRound(t, h, fmt.Sprintf("specloop/gone-%d", i))
		}
		require.Equal(t, 1, fake.rounds(), "pods listed on the cycle reap's tick")
	})
	t.Run("fast tick", func(t *testing.T) {
		fake := housekeepPods(t, h, "fast", 50*time.Millisecond)
		require.Eventually(t, func() bool { return fake.rounds() >= 5 }, time.Minute, 10*time.Millisecond, "pods listed on their own tick")
	})
}

// housekeepPods runs a Housekeeper whose pods are reaped every podsEvery,
// and waits for its first round, at start.
func housekeepPods(t *testing.T, h *harness, name string, podsEvery time.Duration) *fakeSandboxes {
	t.Helper()
	fake := &fakeSandboxes{owners: []sandbox.PodOwner{{Owner: "w/job-9", Cycle: 987654}}}
	cfg := h.d.Config
	cfg.WorkerID, cfg.Sandboxes, cfg.LeaseTTL, cfg.PodReapEvery = "host-"+name, fake, 100*time.Millisecond, podsEvery
	runHousekeeper(t, cfg)
	require.Eventually(t, func() bool { return fake.rounds() >= 1 }, time.Minute, 10*time.Millisecond, "pods reaped at start")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Equal(t, map[int64]bool{987654: false}, fake.alive, "the pod of a cycle nobody holds goes")
	return fake
}

// reapRound waits for one cycle reap round of the running Housekeeper: a
// running job of a dead worker process (by, which holds no liveness lock)
// is rescued by the next round.
func reapRound(t *testing.T, h *harness, by string) {
	t.Helper()
	ctx := context.Background()
	var id int64
	require.NoError(t, h.d.Pool.QueryRow(ctx, `INSERT INTO river_job (kind, args, max_attempts, state, attempt, attempted_at, attempted_by, queue)
		VALUES ('reap_probe', '{}', 25, 'running', 1, now() - interval '1 minute', ARRAY[$1], 'probe') RETURNING id`, by).Scan(&id))
	require.Eventually(t, func() bool {
		var state string
		return h.d.Pool.QueryRow(ctx, `SELECT state::text FROM river_job WHERE id = $1`, id).Scan(&state) == nil && state == "available"
	}, time.Minute, 5*time.Millisecond, "the dead worker's job is rescued by a reap round")
}
