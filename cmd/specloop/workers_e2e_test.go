package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestTwoWorkers: a second `specloop worker` against the same database
// shares the cycles; none runs twice, none is lost.
func TestTwoWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{Workers: 2})
	_, err := st.AddWorker(ctx)
	require.NoError(t, err)

	var issues []int
	for i := range 6 {
		issues = append(issues, openLabelledIssue(t, st, st.Repo, fmt.Sprintf("- [ ] [w-%d] Parallel work %d", i, i)))
	}
	owners := map[string]int{}
	for _, issue := range issues {
		run, cycles := waitCycles(t, st, st.Repo, issue, 1)
		require.Len(t, cycles, 1)
		c := cycles[0]
		require.Equal(t, state.Success, c.Conclusion, c.Summary)
		require.Equal(t, 1, c.Attempts, "claimed once")
		worker, _, _ := strings.Cut(c.LeaseOwner, "/job-")
		owners[worker]++
		evs, err := store.ListEvents(ctx, st.Server.Pool, run.ID, 0, 100)
		require.NoError(t, err)
		started := 0
		for _, e := range evs {
			if e.Step == "implement" && e.Outcome == "started" {
				started++
			}
		}
		require.Equal(t, 1, started, "issue #%d: the agent ran once", issue)
		require.NotNil(t, prOf(st, st.Repo, run.Branch))
	}
	t.Logf("cycles per worker: %v", owners)
}
