package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestFaults: GitHub failing under specloop loses nothing and duplicates
// nothing.
func TestFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{})

	t.Run("reply to /loop next fails", func(t *testing.T) {
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [f-1] One\n- [ ] [f-2] Two")
		run, _ := waitCycles(t, st, st.Repo, issue, 1)
		comment(t, st, "maintainer", st.Repo, run.PR, "/loop next")
		remove, err := st.Emulator.Inject(emulator.Fault{Method: "POST", Path: fmt.Sprintf("/repos/{owner}/{repo}/issues/%d/comments", run.PR), Count: 1, Status: 502})
		require.NoError(t, err)
		defer remove()
		_, cycles := waitCycles(t, st, st.Repo, issue, 2)
		require.Equal(t, "f-2", cycles[1].ObligationID)
		require.NoError(t, st.Emulator.WaitDeliveries(ctx))
		time.Sleep(2 * time.Second) // a retried job would have queued its duplicate by now
		cycles, err = store.ListCycles(ctx, st.Server.Pool, run.ID)
		require.NoError(t, err)
		require.Len(t, cycles, 2, "one cycle for one command")
	})

	t.Run("check run updates fail for a while", func(t *testing.T) {
		remove, err := st.Emulator.Inject(emulator.Fault{Method: "PATCH", Path: "/repos/{owner}/{repo}/check-runs/{id}", Count: 2, Status: 500})
		require.NoError(t, err)
		defer remove()
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [g-1] Survive flaky GitHub")
		run, cycles := waitCycles(t, st, st.Repo, issue, 1)
		require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
		var open int
		require.NoError(t, st.Server.Pool.QueryRow(ctx, "SELECT count(*) FROM check_runs WHERE cycle_id = $1 AND NOT completed", cycles[0].ID).Scan(&open))
		require.Zero(t, open, "every check run that started is completed")
		for _, cr := range checksAt(st, st.Repo, prOf(st, st.Repo, run.Branch).GetHead().GetSHA(), cycles[0].ID) {
			require.Equal(t, "completed", cr.GetStatus(), cr.GetName())
		}
	})
}
