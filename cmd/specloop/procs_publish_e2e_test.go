package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/procs"
	"github.com/specloop/specloop/state"
)

// testProcsKillAfterPush: the worker running a cycle is SIGKILLed after its
// push landed and before its PR: the emulator holds the PR lookup that
// follows the push until the kill. The other worker takes the cycle over
// and finishes that publish without running the agent again: one push, one
// PR, the cycle success, its check runs completed on the pushed commit
// saying another worker finished it, the issue ticked.
func testProcsKillAfterPush(t *testing.T, bin string) {
	s := newProcScene(t, bin, "LEASE_TTL=10m")
	issue := s.label(t, "- [ ] [p-1] Survive a crash after the push")
	hold, err := s.c.Emulator.Inject(emulator.Fault{Method: "GET", Login: "specloop[bot]", Path: "/repos/{owner}/{repo}/pulls", Hang: true})
	require.NoError(t, err)
	c, first := s.running(t, issue)
	holder := s.workerOfCycle(t, c)
	first.release()
	// A second agent at the gate would be the agent running again; let it
	// through so the test fails on what it asserts, not on a timeout.
	reran := make(chan struct{}, 1)
	go func() {
		for gc := range s.gate.arrived {
			reran <- struct{}{}
			gc.release()
		}
	}()
	waitFor(t, "the PR lookup after the push held", func() bool { return hold.Fired() > 0 })
	run, _ := s.cycles(t, issue)
	pushed, err := s.c.Emulator.Ref(procs.Owner, s.repo, run.Branch)
	require.NoError(t, err, "the branch is pushed before its PR is looked up")

	require.NoError(t, holder.Signal(syscall.SIGKILL))
	killed := time.Now()
	require.Error(t, holder.Wait(waitLimit), "killed")
	hold.Remove()

	got := s.done(t, c.ID)
	t.Logf("SIGKILL after the push → cycle done on the other worker: %s", time.Since(killed).Round(time.Millisecond))
	require.Equal(t, state.Success, got.Conclusion, got.Summary)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, s.other(holder), s.workerOfCycle(t, got), "the live worker finished it")
	require.Empty(t, reran, "the agent did not run again")
	require.Equal(t, 1, s.implementStarts(t, run.ID, c.ID), "the agent started once")
	require.Len(t, s.pulls(run.Branch), 1, "one PR")
	require.Equal(t, 1, s.pushes(t, run.Branch), "one push")
	head, err := s.c.Emulator.Ref(procs.Owner, s.repo, run.Branch)
	require.NoError(t, err)
	require.Equal(t, pushed, head)
	s.requireAllCompleted(t, c.ID)
	onPushed := map[string]string{}
	for _, cr := range s.checkRuns(c.ID) {
		if cr.GetHeadSHA() == pushed {
			require.NotContains(t, onPushed, cr.GetName(), "one %s on the pushed commit", cr.GetName())
			onPushed[cr.GetName()] = cr.GetConclusion()
			require.Contains(t, cr.GetOutput().GetSummary(), "Finished by another worker after a takeover", cr.GetName())
		}
	}
	require.Equal(t, map[string]string{"specloop/implement": "success", "specloop/audit": "success", "specloop/verify": "success"}, onPushed)
	body := s.c.Emulator.Issue(procs.Owner, s.repo, issue).GetBody()
	require.Contains(t, body, "- [x] [p-1]", "the issue is ticked")
}
