package jobs

import (
	"context"
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
	for _, tc := range []struct {
		name            string
		every           time.Duration
		atLeast, atMost int
	}{
		{name: "slow tick", every: time.Hour, atLeast: 1, atMost: 1},
		{name: "fast tick", every: 50 * time.Millisecond, atLeast: 5, atMost: 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeSandboxes{owners: []sandbox.PodOwner{{Owner: "w/job-9", Cycle: 987654}}}
			cfg := h.d.Config
			cfg.WorkerID, cfg.Sandboxes, cfg.LeaseTTL, cfg.PodReapEvery = "host-"+tc.name, fake, 100*time.Millisecond, tc.every
			runHousekeeper(t, cfg)
			require.Eventually(t, func() bool { return fake.rounds() >= 1 }, time.Minute, 10*time.Millisecond, "pods reaped at start")
			fake.mu.Lock()
			require.Equal(t, map[int64]bool{987654: false}, fake.alive, "the pod of a cycle nobody holds goes")
			fake.mu.Unlock()
			time.Sleep(600 * time.Millisecond) // a dozen cycle reap rounds
			n := fake.rounds()
			require.GreaterOrEqual(t, n, tc.atLeast)
			require.LessOrEqual(t, n, tc.atMost, "pods listed on the cycle reap's tick")
		})
	}
}
