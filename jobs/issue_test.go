package jobs

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

func labelArgs(h *harness, issue int, label string, labeled bool) IssueLabelArgs {
	return IssueLabelArgs{Repo: testFull, InstallationID: h.inst, Issue: issue, Label: label, Labeled: labeled, Sender: "maintainer", Delivery: "d-1"}
}

// TestIssueLabeled: labelling an issue starts its run on
// specloop/issue-<n>, queues the first cycle and says so on the issue.
func TestIssueLabeled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	issue := h.createIssue("Widgets", widgetsSpec)

	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))

	branch := fmt.Sprintf("specloop/issue-%d", issue)
	run, err := store.FindRunByBranch(h.ctx, h.pool, testFull, branch)
	require.NoError(t, err)
	require.Equal(t, state.RunIssue, run.Kind)
	require.Equal(t, issue, run.Issue)
	require.Equal(t, h.inst, run.InstallationID)
	require.Equal(t, state.RunActive, run.State)

	cycles := h.cycles(run.ID)
	require.Len(t, cycles, 1)
	c := cycles[0]
	require.Equal(t, state.CycleQueued, c.State)
	require.Equal(t, "label", c.Trigger)
	require.Empty(t, c.ObligationID, "the cycle selects the next open obligation")

	job := rivertest.RequireInserted(h.ctx, t, riverpgxv5.New(h.pool), CycleArgs{}, &rivertest.RequireInsertedOpts{Queue: QueueCycles})
	require.Equal(t, CycleArgs{CycleID: c.ID}, job.Args)

	require.Equal(t, []string{fmt.Sprintf("specloop picked this up: cycle %d of run %d is queued on `%s`.\n\n"+
		"Follow it on the [run page](%s/runs/%d). Comment `/loop help` on the PR for commands.", c.ID, run.ID, branch, testPublicURL, run.ID)},
		h.botComments(issue))
	evs := h.events(run.ID)
	require.Len(t, evs, 1)
	require.Equal(t, "queued", evs[0].Outcome)
}

// TestIssueLabelConfigured: the repo's own label (in any case) and branch
// prefix are used; the default label then means nothing.
func TestIssueLabelConfigured(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "label: Loop-Me\nbranch_prefix: bots/\n"})
	issue := h.createIssue("Widgets", widgetsSpec)

	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))
	require.Zero(t, h.runCount(), "not this repo's label")

	mustWork(h, h.issueLabel(), labelArgs(h, issue, "loop-me", true))
	run, err := store.FindRun(h.ctx, h.pool, testFull, issue)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("bots/issue-%d", issue), run.Branch)
	require.Len(t, h.cycleJobs(), 1)
}

// TestIssueLabelStartsNothing: a label that is not specloop's, added or
// removed, does nothing; nor does specloop's on a PR, for which GitHub
// sends issues events too: a PR is not a spec.
func TestIssueLabelStartsNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		open   func(*harness) int
		label  string
		labels []bool // labeled, then unlabeled, ...
	}{
		{"another label", func(h *harness) int { return h.createIssue("Widgets", widgetsSpec) }, "bug", []bool{true, false}},
		{"specloop's label on a PR", func(h *harness) int { return h.openPR("feature") }, "specloop", []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			n := tc.open(h)
			for _, labeled := range tc.labels {
				mustWork(h, h.issueLabel(), labelArgs(h, n, tc.label, labeled))
			}
			require.Zero(t, h.runCount())
			require.Empty(t, h.cycleJobs())
			require.Empty(t, h.botComments(n))
		})
	}
}

// TestIssueUnlabeled: removing the label cancels the run's queued cycles,
// asks its running one to stop, and stops the run.
func TestIssueUnlabeled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	issue := h.createIssue("Widgets", widgetsSpec)
	run := h.issueRun(issue)
	active, _ := h.running(run.ID)
	waiting := h.queued(run.ID, "command")

	mustWork(h, h.issueLabel(), IssueLabelArgs{Repo: testFull, InstallationID: h.inst, Issue: issue, Label: "specloop", Labeled: false, Sender: "maintainer"})

	w := h.cycle(waiting.ID)
	require.Equal(t, state.CycleDone, w.State)
	require.Equal(t, state.Cancelled, w.Conclusion)
	require.Equal(t, `label "specloop" removed by @maintainer`, w.Summary)
	a := h.cycle(active.ID)
	require.Equal(t, state.CycleRunning, a.State, "its worker is told to stop it")
	require.True(t, a.StopRequested)
	require.Equal(t, state.RunStopped, h.run(run.ID).State)
	evs := h.events(run.ID)
	require.Equal(t, "label removed by @maintainer: 2 cycle(s) cancelled", evs[len(evs)-1].Message)
	require.Empty(t, h.botComments(issue))

	// Unlabelling an issue that never had a run does nothing.
	other := h.createIssue("Other", widgetsSpec)
	mustWork(h, h.issueLabel(), labelArgs(h, other, "specloop", false))
	require.Equal(t, 1, h.runCount())
}

// claimQueued claims queued cycle id for a worker, as the cycle job does
// first (without the liveness lock that claim takes); it returns the
// fence the worker holds.
func (h *harness) claimQueued(id int64) int64 {
	h.t.Helper()
	res, fence, err := store.ClaimCycle(h.ctx, h.pool, id, "w", DefaultLeaseTTL, 0)
	require.NoError(h.t, err)
	require.Equal(h.t, store.Claimed, res)
	return fence
}

// TestIssueRelabel: labelling again while a cycle is queued or running adds
// no second cycle; once it is done, labelling again starts the next one
// on the same run.
func TestIssueRelabel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	issue := h.createIssue("Widgets", widgetsSpec)
	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))
	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))

	run, err := store.FindRun(h.ctx, h.pool, testFull, issue)
	require.NoError(t, err)
	cycles := h.cycles(run.ID)
	require.Len(t, cycles, 1, "no second cycle while one is active")
	require.Equal(t, []int64{cycles[0].ID}, h.cycleJobs())
	require.Len(t, h.botComments(issue), 1)

	// The cycle is claimed and finishes; a relabel (after the label was
	// removed, say) queues the next one on the same run.
	fence := h.claimQueued(cycles[0].ID)
	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))
	require.Len(t, h.cycles(run.ID), 1, "running is active too")
	require.NoError(t, store.FinishCycle(h.ctx, h.pool, cycles[0].ID, fence, state.Success, "done"))
	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))
	cycles = h.cycles(run.ID)
	require.Len(t, cycles, 2)
	require.Equal(t, []int64{cycles[0].ID, cycles[1].ID}, h.cycleJobs())
	require.Equal(t, 1, h.runCount(), "one run per issue")
}

// TestIssueCommentFails: the cycle is queued even when the comment saying
// so cannot be posted, and the job is not retried into a second cycle.
func TestIssueCommentFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	issue := h.createIssue("Widgets", widgetsSpec)
	remove, err := h.emu.Inject(emulator.Fault{Method: "POST", Path: "/repos/{owner}/{repo}/issues/{n}/comments", Status: http.StatusBadGateway})
	require.NoError(t, err)
	defer remove.Remove()
	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))
	require.Len(t, h.cycleJobs(), 1)
	require.Empty(t, h.botComments(issue))
}

// TestIssueRelabelAtLimit: a relabel never takes a run past
// limits.cycles_per_pr; the maintainer is told which limit it hit.
func TestIssueRelabelAtLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "limits: {cycles_per_pr: 1}\n"})
	issue := h.createIssue("Widgets", widgetsSpec)
	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))
	run, err := store.FindRun(h.ctx, h.pool, testFull, issue)
	require.NoError(t, err)
	first := h.cycles(run.ID)[0]
	fence := h.claimQueued(first.ID)
	require.NoError(t, store.FinishCycle(h.ctx, h.pool, first.ID, fence, state.Success, "done"))

	mustWork(h, h.issueLabel(), labelArgs(h, issue, "specloop", true))
	require.Len(t, h.cycles(run.ID), 1, "no cycle past the limit")
	comments := h.botComments(issue)
	require.Contains(t, comments[len(comments)-1], "limits.cycles_per_pr")
}

// TestIssueLabelRunsAgain: the worker running a labelled issue's job died
// after queueing its cycle and before River heard the job finish, so the
// job runs again once the cycle is done: the delivery still queues one
// cycle. A later labelling (a new delivery) queues the next.
func TestIssueLabelRunsAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	issue := h.createIssue("Widgets", widgetsSpec)
	deliver := func(guid string) IssueLabelArgs {
		_, err := store.InsertDeliveries(h.ctx, h.pool, []*store.Delivery{{GUID: guid, Event: "issues", Action: "labeled", RepoFullName: testFull, Body: []byte("{}")}})
		require.NoError(t, err)
		a := labelArgs(h, issue, "specloop", true)
		a.Delivery = guid
		return a
	}
	first := deliver("label-1")
	mustWork(h, h.issueLabel(), first)
	run, err := store.FindRunByBranch(h.ctx, h.pool, testFull, fmt.Sprintf("specloop/issue-%d", issue))
	require.NoError(t, err)
	require.Len(t, h.cycles(run.ID), 1)
	_, err = h.pool.Exec(h.ctx, `UPDATE cycles SET state = 'done', conclusion = 'success', finished_at = now() WHERE run_id = $1`, run.ID)
	require.NoError(t, err)

	mustWork(h, h.issueLabel(), first)
	require.Len(t, h.cycles(run.ID), 1, "the same delivery queues no second cycle")

	mustWork(h, h.issueLabel(), deliver("label-2"))
	require.Len(t, h.cycles(run.ID), 2, "a new labelling queues the next cycle")
}
