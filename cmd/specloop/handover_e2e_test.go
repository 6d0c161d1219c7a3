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

// TestShutdownHandsOver: a worker that stops while its cycle runs (a
// deploy, an eviction) hands the cycle to a live worker, which resumes it
// at once: the maintainer sees one result and one PR, not a cancelled
// cycle to retry, and the interrupted attempt's check runs say why they
// ended.
func TestShutdownHandsOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{WebOnly: true})
	a, err := st.AddWorker(ctx)
	require.NoError(t, err)
	b, err := st.AddWorker(ctx)
	require.NoError(t, err)

	// The first implementer waits until a second one arrives: the one the
	// taker runs. No timing is involved.
	barrier := newBarrier(t, 2)
	files := stack.SampleRepo(st.AgentBin())
	files[".github/specloop.yml"] = heldAgentConfig(st, files[".github/specloop.yml"], barrier.addr) +
		fmt.Sprintf("auditor:\n  command: %s agent-script\n", st.AgentBin())
	const repo = "handover"
	addRepo(t, st, repo, files)
	issue := openLabelledIssue(t, st, repo, "- [ ] [h-1] Survive a deploy")

	var held *store.Cycle
	waitFor(t, "the first attempt in its agent", func() bool {
		if barrier.arrived() < 1 {
			return false
		}
		run, err := store.FindRun(ctx, st.Server.Pool, st.Owner+"/"+repo, issue)
		if err != nil {
			return false
		}
		cycles, err := store.ListCycles(ctx, st.Server.Pool, run.ID)
		require.NoError(t, err)
		if len(cycles) == 1 && cycles[0].State == state.CycleRunning {
			held = cycles[0]
		}
		return held != nil
	})
	holder, other := a, b
	if workerOf(held.LeaseOwner) == b.WorkerID {
		holder, other = b, a
	}
	require.Equal(t, holder.WorkerID, workerOf(held.LeaseOwner), "a worker of the test holds the cycle")
	require.Equal(t, 1, held.Attempts)

	// SIGTERM's path: the worker stops; its grace (0 here) is over at once.
	require.NoError(t, holder.Shutdown(waitLimit))

	run, cycles := waitCycles(t, st, repo, issue, 1)
	require.Len(t, cycles, 1, "the same cycle resumed, not a new one")
	c := cycles[0]
	require.Equal(t, state.Success, c.Conclusion, c.Summary)
	require.Equal(t, 2, c.Attempts)
	require.Equal(t, other.WorkerID, workerOf(c.LeaseOwner), "the live worker finished it")
	require.Equal(t, 2, barrier.arrived(), "the agent ran once per attempt")

	var prs int
	for _, pr := range st.Emulator.PullRequests(st.Owner, repo) {
		if pr.GetHead().GetRef() == run.Branch {
			prs++
		}
	}
	require.Equal(t, 1, prs, "one PR")

	interrupted := 0
	for _, cr := range st.Emulator.CheckRuns(st.Owner, repo) {
		if cr.GetExternalID() != fmt.Sprintf("cycle:%d", c.ID) {
			continue
		}
		require.Equal(t, "completed", cr.GetStatus(), "%s: every check run that started completes", cr.GetName())
		if strings.Contains(cr.GetOutput().GetSummary(), "Interrupted by a worker shutdown") {
			interrupted++
		}
	}
	require.Equal(t, 3, interrupted, "the first attempt's three check runs say it was interrupted")
	evs, err := store.ListEvents(ctx, st.Server.Pool, run.ID, 0, 1000)
	require.NoError(t, err)
	var handed bool
	for _, e := range evs {
		handed = handed || (e.CycleID == c.ID && e.Outcome == "interrupted")
	}
	require.True(t, handed, "the run page shows the handover")
}
