package jobs

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// crashAfterPush is what the test's afterPush panics with: the worker
// dies right after its push landed, before the PR, check runs and tick.
type crashAfterPush struct{}

// TestCycleTakeoverAfterPush: a worker that dies right after its cycle's
// push is taken over, and the taker finishes that publish rather than
// running the agent again: the maintainer sees one push, one PR, the
// cycle's checks completed on the pushed commit, the obligation ticked and
// the cycle concluded success.
func TestCycleTakeoverAfterPush(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		issue bool
	}{
		{name: "issue run", issue: true},
		{name: "spec run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var run *store.Run
			var h *harness
			issue := 0
			if tc.issue {
				h = newHarness(t, map[string]string{repoconfig.Path: passingConfig})
				issue = h.createIssue("Widgets", widgetsSpec)
				run = h.issueRun(issue)
			} else {
				h = newHarness(t, specRepo(passingConfig))
				run = h.specRun("specs/widgets.md", widgetsBranch)
			}
			var pushes atomic.Int32
			h.d.afterPush = func(_ context.Context, sha string) {
				if pushes.Add(1) == 1 {
					panic(crashAfterPush{})
				}
			}
			c := h.queued(run.ID, "label")
			// The first worker pushes and dies; River's recovery of the
			// panic is not the point, what it left behind is.
			_, _ = work(h, h.cycleW(), CycleArgs{CycleID: c.ID})
			require.EqualValues(t, 1, pushes.Load())
			dead := h.cycle(c.ID)
			require.Equal(t, state.CycleRunning, dead.State, "the dead worker concluded nothing")
			pushed, err := h.ref(run.Branch)
			require.NoError(t, err)
			require.Empty(t, h.emu.PullRequests(testOwner, testRepo), "the dead worker opened no PR")
			require.Empty(t, h.checksByName(pushed))

			// Its lease runs out; the reaper's takeover job runs.
			_, err = h.pool.Exec(h.ctx, `UPDATE cycles SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, c.ID)
			require.NoError(t, err)
			mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID, Takeover: dead.Fence})

			require.EqualValues(t, 1, pushes.Load(), "pushed once")
			got := h.cycle(c.ID)
			require.Equal(t, state.CycleDone, got.State)
			require.Equal(t, state.Success, got.Conclusion, got.Summary)
			require.Equal(t, "w-1", got.ObligationID)
			head, err := h.ref(run.Branch)
			require.NoError(t, err)
			require.Equal(t, pushed, head, "the branch is where the dead worker pushed it")
			require.Equal(t, "built\n", h.fileAt("built.txt", head), "the agent ran once")
			prs := h.emu.PullRequests(testOwner, testRepo)
			require.Len(t, prs, 1)
			require.Equal(t, prs[0].GetNumber(), h.run(run.ID).PR)
			require.Contains(t, prs[0].GetBody(), "**success** (this push)")
			checks := h.checksByName(head)
			require.Len(t, checks, 3)
			for name, cr := range checks {
				require.Equal(t, "completed", cr.GetStatus(), name)
				require.Equal(t, string(state.Success), cr.GetConclusion(), name)
				require.Contains(t, cr.GetOutput().GetSummary(), resumedTakeover, name)
			}
			h.requireAllChecksCompleted(c.ID)
			if tc.issue {
				body := h.emu.Issue(testOwner, testRepo, issue).GetBody()
				require.Contains(t, body, "- [x] [w-1] Build the widget")
				require.Contains(t, body, "- [ ] [w-2] Paint the widget")
			} else {
				require.True(t, strings.Contains(h.fileAt("specs/widgets.md", head), "- [x] [w-1] Build the widget"))
			}
		})
	}
}
