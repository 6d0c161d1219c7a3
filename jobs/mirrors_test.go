package jobs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// localRepo makes a repository with one commit and returns its path and
// the commit.
func (h *harness) localRepo(name string) (dir, sha string) {
	h.t.Helper()
	dir = filepath.Join(h.t.TempDir(), name)
	h.git(h.t.TempDir(), "init", "-q", "-b", "main", dir)
	require.NoError(h.t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# "+name+"\n"), 0o644))
	h.git(dir, "add", "-A")
	h.git(dir, "commit", "-q", "-m", "first")
	return dir, h.git(dir, "rev-parse", "HEAD")
}

func (h *harness) checkoutLocal(dir, sha string) *workspace.Workdir {
	h.t.Helper()
	_, err := h.d.Mirrors.Fetch(h.ctx, dir, "")
	require.NoError(h.t, err)
	w, err := h.d.Mirrors.Checkout(h.ctx, dir, sha)
	require.NoError(h.t, err)
	h.t.Cleanup(func() { w.Close() })
	return w
}

// TestMirrorPrune: the periodic job removes a dead cycle's working copy
// and, past MIRROR_MAX_BYTES, the mirror no cycle holds, and leaves a live
// cycle's working copy and mirror alone. Without a cache (the web
// process) it does nothing.
func TestMirrorPrune(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxBytes int64
		evicted  bool // the unused repo's mirror is gone
	}{
		{"unbounded", 0, false},
		{"bounded", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil, func(c *Config) { c.Mirrors.MaxBytes = tt.maxBytes })
			unused, unusedSHA := h.localRepo("unused")
			used, usedSHA := h.localRepo("used")
			require.NoError(t, h.checkoutLocal(unused, unusedSHA).Close())
			live := h.checkoutLocal(used, usedSHA)
			// A dead worker's working copy: its lock file stays, no process
			// holds the lock.
			dead := filepath.Join(h.d.Mirrors.Dir, "work", "wd-dead")
			require.NoError(t, os.MkdirAll(filepath.Join(dead, "tree"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dead, "lock"), nil, 0o644))

			mustWork(h, &MirrorPruneWorker{d: h.d}, MirrorPruneArgs{})
			require.NoDirExists(t, dead)
			b, err := live.ReadFile("README.md")
			require.NoError(t, err)
			require.Equal(t, "# used\n", string(b))
			w, err := h.d.Mirrors.Checkout(h.ctx, used, usedSHA)
			require.NoError(t, err, "the live cycle's mirror stays")
			require.NoError(t, w.Close())
			w, err = h.d.Mirrors.Checkout(h.ctx, unused, unusedSHA)
			if tt.evicted {
				require.ErrorIs(t, err, workspace.ErrNotFetched)
			} else {
				require.NoError(t, err)
				require.NoError(t, w.Close())
			}
		})
	}
	t.Run("no cache", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, func(c *Config) { c.Mirrors = nil })
		mustWork(h, &MirrorPruneWorker{d: h.d}, MirrorPruneArgs{})
	})
}

// TestCycleTakeoverSweeps: taking over a dead worker's cycle removes the
// working copy that worker left on this host.
func TestCycleTakeoverSweeps(t *testing.T) {
	t.Parallel()
	h := newHarness(t, specRepo(passingConfig))
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c := h.queued(run.ID, "push")
	claim, fence, err := store.ClaimCycle(h.ctx, h.pool, c.ID, "dead-worker", time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, claim)
	_, err = h.pool.Exec(h.ctx, `UPDATE cycles SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, c.ID)
	require.NoError(t, err)
	dead := filepath.Join(h.d.Mirrors.Dir, "work", "wd-dead")
	require.NoError(t, os.MkdirAll(filepath.Join(dead, "tree"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dead, "lock"), nil, 0o644))

	mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID, Takeover: fence})
	require.NoDirExists(t, dead)
	got := h.cycle(c.ID)
	require.Equal(t, state.Success, got.Conclusion, got.Summary)
}
