package jobs

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// loop comments `/loop <command>` on issue or PR n as sender and runs the
// job the intake would queue for it.
func (h *harness) loop(sender string, n int, isPR bool, command string) (CommandArgs, error) {
	h.t.Helper()
	id := h.comment(sender, n, "/loop "+command)
	a := CommandArgs{Repo: testFull, InstallationID: h.inst, Issue: n, IsPR: isPR, CommentID: id, Command: command, Sender: sender, Delivery: "d"}
	_, err := work(h, h.command(), a)
	return a, err
}

// mustLoop is loop for a command that must succeed; it returns specloop's
// reply, the one new bot comment.
func (h *harness) mustLoop(sender string, n int, isPR bool, command string) string {
	h.t.Helper()
	before := len(h.botComments(n))
	_, err := h.loop(sender, n, isPR, command)
	require.NoError(h.t, err)
	comments := h.botComments(n)
	require.Len(h.t, comments, before+1, "one reply")
	return comments[len(comments)-1]
}

// prRun is an issue run whose PR is open: commands on the PR reach it.
func (h *harness) prRun() (*store.Run, int) {
	h.t.Helper()
	issue := h.createIssue("Widgets", widgetsSpec)
	run := h.issueRun(issue)
	pr := h.openPR(run.Branch)
	require.NoError(h.t, store.SetRunPR(h.ctx, h.pool, run.ID, pr))
	return h.run(run.ID), pr
}

// TestCommandEyes: every accepted command gets 👀 from specloop at once.
func TestCommandEyes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, pr := h.prRun()
	a, err := h.loop("maintainer", pr, true, "status")
	require.NoError(t, err)
	reactions := h.emu.Reactions(testOwner, testRepo, a.CommentID)
	require.Len(t, reactions, 1)
	require.Equal(t, "eyes", reactions[0].GetContent())
	require.Equal(t, botLogin, reactions[0].GetUser().GetLogin())
}

// TestCommandHelpReply: help and unknown commands are answered with the
// registry's help, addressed to whoever asked.
func TestCommandHelpReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	issue := h.createIssue("Widgets", widgetsSpec)
	require.Equal(t, "@maintainer \n\n"+CommandHelp(), h.mustLoop("maintainer", issue, false, "help"))
	require.Equal(t, "@maintainer "+unknownCommand("dance"), h.mustLoop("maintainer", issue, false, "dance"))
	require.Zero(t, h.runCount(), "help starts nothing")
}

// TestCommandStatus: status shows the run, its PR and each cycle with its
// place in the queue.
func TestCommandStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	run, pr := h.prRun()
	done := h.finished(run.ID, "w-1", state.Failure)
	active, _ := h.running(run.ID)
	waiting := h.queued(run.ID, "command")

	want := fmt.Sprintf("@maintainer run %d on `%s` is **active**, PR #%d. [Run page](%s/runs/%d)\n\n"+
		"| cycle | trigger | obligation | state | conclusion |\n| --- | --- | --- | --- | --- |\n"+
		"| %d | command | `w-1` | done | failure |\n"+
		"| %d | command | `(next open)` | running | – |\n"+
		"| %d | command | `(next open)` | queued (position 2 in the queue) | – |\n",
		run.ID, run.Branch, pr, testPublicURL, run.ID, done.ID, active.ID, waiting.ID)
	require.Equal(t, want, h.mustLoop("maintainer", pr, true, "status"))
	require.Len(t, h.cycles(run.ID), 3, "status changes nothing")
}

// TestCommandStatusNoRun: on an issue without a run, status says how to
// start one.
func TestCommandStatusNoRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	issue := h.createIssue("Widgets", widgetsSpec)
	want := "@maintainer there is no specloop run here. Label an issue `specloop` to start one."
	require.Equal(t, want, h.mustLoop("maintainer", issue, false, "status"))
	require.Equal(t, want, h.mustLoop("maintainer", issue, false, "next"))
	require.Equal(t, "@maintainer there is no specloop run here to stop.", h.mustLoop("maintainer", issue, false, "stop"))
	require.Zero(t, h.runCount())
}

// TestCommandNext: next queues a cycle on the PR's run and replies with its
// place in the queue.
func TestCommandNext(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	run, pr := h.prRun()

	reply := h.mustLoop("maintainer", pr, true, "next")
	cycles := h.cycles(run.ID)
	require.Len(t, cycles, 1)
	first := cycles[0]
	require.Equal(t, state.CycleQueued, first.State)
	require.Equal(t, "command", first.Trigger)
	require.Empty(t, first.ObligationID)
	require.Equal(t, []int64{first.ID}, h.cycleJobs())
	require.Equal(t, fmt.Sprintf("@maintainer queued cycle %d for the next obligation (next up). [Run page](%s/runs/%d).", first.ID, testPublicURL, run.ID), reply)

	reply = h.mustLoop("maintainer", pr, true, "next")
	cycles = h.cycles(run.ID)
	require.Len(t, cycles, 2)
	require.Equal(t, []int64{first.ID, cycles[1].ID}, h.cycleJobs())
	require.Equal(t, fmt.Sprintf("@maintainer queued cycle %d for the next obligation (position 2 in the queue). [Run page](%s/runs/%d).", cycles[1].ID, testPublicURL, run.ID), reply)

	// A stopped run is active again once a cycle is queued on it.
	require.NoError(t, store.SetRunState(h.ctx, h.pool, run.ID, state.RunStopped))
	h.mustLoop("maintainer", pr, true, "next")
	require.Equal(t, state.RunActive, h.run(run.ID).State)
}

// TestCommandRetry: retry runs the last failed obligation again, and says
// so when nothing failed.
func TestCommandRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	run, pr := h.prRun()

	require.Equal(t, "@maintainer no failed cycle to retry. Use `/loop next` for the next obligation.", h.mustLoop("maintainer", pr, true, "retry"))
	require.Empty(t, h.cycles(run.ID))
	h.finished(run.ID, "w-1", state.Success)
	require.Equal(t, "@maintainer no failed cycle to retry. Use `/loop next` for the next obligation.", h.mustLoop("maintainer", pr, true, "retry"),
		"the last cycle succeeded")
	require.Len(t, h.cycles(run.ID), 1)
	require.Empty(t, h.cycleJobs())

	h.finished(run.ID, "w-2", state.Failure)
	reply := h.mustLoop("maintainer", pr, true, "retry")
	cycles := h.cycles(run.ID)
	require.Len(t, cycles, 3)
	retry := cycles[2]
	require.Equal(t, "retry", retry.Trigger)
	require.Equal(t, "w-2", retry.ObligationID, "pinned to the failed obligation")
	require.Equal(t, []int64{retry.ID}, h.cycleJobs())
	require.Equal(t, fmt.Sprintf("@maintainer queued cycle %d for `w-2` again (next up). [Run page](%s/runs/%d).", retry.ID, testPublicURL, run.ID), reply)
}

// TestCommandStop: stop cancels the queued cycles, asks the running one to
// stop and stops the run.
func TestCommandStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	run, pr := h.prRun()
	active, _ := h.running(run.ID)
	waiting := h.queued(run.ID, "command")

	require.Equal(t, "@maintainer stopped: 2 cycle(s) cancelled. Nothing more is pushed. `/loop next` starts again.", h.mustLoop("maintainer", pr, true, "stop"))
	w := h.cycle(waiting.ID)
	require.Equal(t, state.CycleDone, w.State)
	require.Equal(t, state.Cancelled, w.Conclusion)
	require.Equal(t, "stopped by @maintainer", w.Summary)
	require.True(t, h.cycle(active.ID).StopRequested)
	require.Equal(t, state.RunStopped, h.run(run.ID).State)
	evs := h.events(run.ID)
	require.Equal(t, "stopped by @maintainer", evs[len(evs)-1].Message)
}

// TestCommandReader: someone without write access gets one polite refusal
// per issue, no 👀, and nothing happens.
func TestCommandReader(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	run, pr := h.prRun()

	a, err := h.loop("reader", pr, true, "next")
	require.NoError(t, err)
	require.Equal(t, []string{"@reader sorry, only people with write access to this repository can drive specloop. " +
		"A maintainer can run the command for you.\n<!-- specloop:refused:reader -->"}, h.botComments(pr))
	require.Empty(t, h.emu.Reactions(testOwner, testRepo, a.CommentID))
	require.Empty(t, h.cycles(run.ID))

	_, err = h.loop("reader", pr, true, "stop")
	require.NoError(t, err)
	require.Len(t, h.botComments(pr), 1, "no second refusal")
	require.Equal(t, state.RunActive, h.run(run.ID).State)

	// The maintainer's command on the same PR still works.
	h.mustLoop("maintainer", pr, true, "next")
	require.Len(t, h.cycles(run.ID), 1)
}

// TestCommandCyclesPerPR: limits.cycles_per_pr stops next and retry with a
// reply that names the limit.
func TestCommandCyclesPerPR(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "limits: {cycles_per_pr: 2}\n"})
	run, pr := h.prRun()
	h.finished(run.ID, "w-1", state.Failure)
	h.mustLoop("maintainer", pr, true, "next")
	require.Len(t, h.cycles(run.ID), 2)

	want := "@maintainer this run has had 2 cycles, the limit (`limits.cycles_per_pr`). Raise it in `.github/specloop.yml` to go on."
	require.Equal(t, want, h.mustLoop("maintainer", pr, true, "next"))
	require.Equal(t, want, h.mustLoop("maintainer", pr, true, "retry"))
	require.Len(t, h.cycles(run.ID), 2)
	require.Len(t, h.cycleJobs(), 1)
}

// TestCommandForkPR: specloop never pushes to a fork, so next on a PR from
// one queues nothing.
func TestCommandForkPR(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	run, pr := h.prRun()
	require.NoError(t, h.emu.MarkFork(testOwner, testRepo, pr, "mallory"))

	require.Equal(t, "@maintainer this PR comes from a fork; specloop never pushes to forks.", h.mustLoop("maintainer", pr, true, "next"))
	require.Equal(t, "@maintainer this PR comes from a fork; specloop never pushes to forks.", h.mustLoop("maintainer", pr, true, "retry"))
	require.Empty(t, h.cycles(run.ID))
	require.Empty(t, h.cycleJobs())
}

// TestCommandOnIssue: commands on the issue of an issue run reach the run
// too (no PR yet).
func TestCommandOnIssue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	issue := h.createIssue("Widgets", widgetsSpec)
	run := h.issueRun(issue)
	reply := h.mustLoop("maintainer", issue, false, "next")
	cycles := h.cycles(run.ID)
	require.Len(t, cycles, 1)
	require.Equal(t, fmt.Sprintf("@maintainer queued cycle %d for the next obligation (next up). [Run page](%s/runs/%d).", cycles[0].ID, testPublicURL, run.ID), reply)
}

// TestCommandReplyFails: when the reply to next cannot be posted after
// the cycle was queued, the job is not retried, since a retry would queue a
// second cycle; a reply that queued nothing is retried.
func TestCommandReplyFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	run, pr := h.prRun()
	next := h.comment("maintainer", pr, "/loop next")
	status := h.comment("maintainer", pr, "/loop status")
	remove, err := h.emu.Inject(emulator.Fault{Method: "POST", Path: "/repos/{owner}/{repo}/issues/{n}/comments", Status: http.StatusBadGateway})
	require.NoError(t, err)
	defer remove.Remove()

	mustWork(h, h.command(), CommandArgs{Repo: testFull, InstallationID: h.inst, Issue: pr, IsPR: true, CommentID: next, Command: "next", Sender: "maintainer"})
	require.Len(t, h.cycles(run.ID), 1, "queued once")
	require.Len(t, h.cycleJobs(), 1)

	_, err = work(h, h.command(), CommandArgs{Repo: testFull, InstallationID: h.inst, Issue: pr, IsPR: true, CommentID: status, Command: "status", Sender: "maintainer"})
	require.ErrorContains(t, err, fmt.Sprintf("reply on #%d", pr))
	require.Empty(t, h.botComments(pr))
}
