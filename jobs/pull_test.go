package jobs

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/state"
)

// TestPullClosed: closing or merging a run's PR cancels its queued cycles,
// asks its running one to stop and stops the run; a PR that is not the
// run's, or a branch with no run, changes nothing.
func TestPullClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    func(branch string, pr int) PullClosedArgs
		stopped bool
		summary string
	}{
		{"closed", func(b string, pr int) PullClosedArgs {
			return PullClosedArgs{Repo: testFull, PR: pr, Branch: b, Sender: "maintainer"}
		}, true, "PR #%d closed by @maintainer"},
		{"merged", func(b string, pr int) PullClosedArgs {
			return PullClosedArgs{Repo: testFull, PR: pr, Branch: b, Merged: true, Sender: "maintainer"}
		}, true, "PR #%d merged by @maintainer"},
		{"another PR from the run's branch", func(b string, pr int) PullClosedArgs {
			return PullClosedArgs{Repo: testFull, PR: pr + 100, Branch: b, Sender: "maintainer"}
		}, false, ""},
		{"a branch with no run", func(_ string, pr int) PullClosedArgs {
			return PullClosedArgs{Repo: testFull, PR: pr, Branch: "feature", Sender: "maintainer"}
		}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			run, pr := h.prRun()
			active, _ := h.running(run.ID)
			waiting := h.queued(run.ID, "command")
			mustWork(h, &PullClosedWorker{d: h.d}, tt.args(run.Branch, pr))

			w, a := h.cycle(waiting.ID), h.cycle(active.ID)
			require.Equal(t, state.CycleRunning, a.State, "its worker stops it")
			if !tt.stopped {
				require.Equal(t, state.CycleQueued, w.State)
				require.False(t, a.StopRequested)
				require.NotEqual(t, state.RunStopped, h.run(run.ID).State)
				return
			}
			require.Equal(t, state.CycleDone, w.State)
			require.Equal(t, state.Cancelled, w.Conclusion)
			require.Equal(t, fmt.Sprintf(tt.summary, pr), w.Summary)
			require.True(t, a.StopRequested)
			require.Equal(t, state.RunStopped, h.run(run.ID).State)
			evs := h.events(run.ID)
			require.Equal(t, fmt.Sprintf(tt.summary, pr)+": 2 cycle(s) cancelled", evs[len(evs)-1].Message)
		})
	}
}
