package main

import (
	"context"
	"fmt"
	"testing"

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
		// The app's reply fails, not the maintainer's comment on the same
		// path: injected before the command, so it cannot be too late.
		fault, err := st.Emulator.Inject(emulator.Fault{Method: "POST", Path: fmt.Sprintf("/repos/{owner}/{repo}/issues/%d/comments", run.PR),
			Login: stack.AppSlug + "[bot]", Count: 1, Status: 502})
		require.NoError(t, err)
		defer fault.Remove()
		c := comment(t, st, "maintainer", st.Repo, run.PR, "/loop next")
		_, cycles := waitCycles(t, st, st.Repo, issue, 2)
		require.Equal(t, "f-2", cycles[1].ObligationID)
		// The command's job has finished for good: a retry of it, which
		// would queue a duplicate cycle, has run by now or never will.
		jobs := waitJobsDone(t, st, "command", map[string]any{"comment_id": c.GetID()})
		require.Equal(t, 1, fault.Fired(), "the reply to /loop next failed")
		cycles, err = store.ListCycles(ctx, st.Server.Pool, run.ID)
		require.NoError(t, err)
		require.Len(t, cycles, 2, "one cycle for one command")
		require.Len(t, jobs, 1)
		requireRanOnce(t, jobs)
	})

	t.Run("check run updates fail for a while", func(t *testing.T) {
		fault, err := st.Emulator.Inject(emulator.Fault{Method: "PATCH", Path: "/repos/{owner}/{repo}/check-runs/{id}", Count: 2, Status: 500})
		require.NoError(t, err)
		defer fault.Remove()
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [g-1] Survive flaky GitHub")
		run, cycles := waitCycles(t, st, st.Repo, issue, 1)
		require.Equal(t, 2, fault.Fired(), "two check run updates failed")
		require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
		var open int
		require.NoError(t, st.Server.Pool.QueryRow(ctx, "SELECT count(*) FROM check_runs WHERE cycle_id = $1 AND NOT completed", cycles[0].ID).Scan(&open))
		require.Zero(t, open, "every check run that started is completed")
		checks := checksAt(st, st.Repo, prOf(st, st.Repo, run.Branch).GetHead().GetSHA(), cycles[0].ID)
		require.NotEmpty(t, checks)
		for _, cr := range checks {
			require.Equal(t, "completed", cr.GetStatus(), cr.GetName())
		}
	})
}
