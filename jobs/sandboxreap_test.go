package jobs

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/sandbox"
)

// fakeSandboxes records what the reaper says of each pod owner.
type fakeSandboxes struct {
	owners []sandbox.PodOwner
	mu     sync.Mutex
	alive  map[int64]bool
}

func (f *fakeSandboxes) Reap(ctx context.Context, alive func(context.Context, sandbox.PodOwner) (bool, error)) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alive = map[int64]bool{}
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
