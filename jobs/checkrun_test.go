package jobs

import (
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// checkRunSetup is a run whose cycle failed on w-1 and left its
// specloop/verify check run on the default branch's head.
func checkRunSetup(t *testing.T, files ...map[string]string) (*harness, int64, int64) {
	var repo map[string]string
	if len(files) > 0 {
		repo = files[0]
	}
	h := newHarness(t, repo)
	run := h.specRun("specs/widgets.md", "specloop/spec/widgets")
	failed := h.finished(run.ID, "w-1", state.Failure)
	id := h.createCheckRun(failed.ID, "specloop/verify", h.mainSHA(), "completed")
	return h, run.ID, id
}

func clickArgs(h *harness, checkRunID int64, action, identifier, sender string) CheckRunArgs {
	return CheckRunArgs{Repo: testFull, InstallationID: h.inst, CheckRunID: checkRunID, Name: "specloop/verify",
		HeadSHA: h.mainSHA(), Action: action, Identifier: identifier, Sender: sender, Delivery: "d"}
}

// TestCheckRunRerequested: "Re-run" on a check run retries that cycle's
// obligation.
func TestCheckRunRerequested(t *testing.T) {
	t.Parallel()
	h, runID, id := checkRunSetup(t)
	mustWork(h, h.checkRun(), clickArgs(h, id, "rerequested", "", "maintainer"))
	cycles := h.cycles(runID)
	require.Len(t, cycles, 2)
	rerun := cycles[1]
	require.Equal(t, state.CycleQueued, rerun.State)
	require.Equal(t, "rerun", rerun.Trigger)
	require.Equal(t, "w-1", rerun.ObligationID)
	require.Equal(t, []int64{rerun.ID}, h.cycleJobs())
}

// TestCheckRunNextButton: the "Next cycle" button queues the next cycle,
// not pinned to an obligation.
func TestCheckRunNextButton(t *testing.T) {
	t.Parallel()
	h, runID, id := checkRunSetup(t)
	mustWork(h, h.checkRun(), clickArgs(h, id, "requested_action", evidence.ActionNext, "maintainer"))
	cycles := h.cycles(runID)
	require.Len(t, cycles, 2)
	require.Equal(t, "button", cycles[1].Trigger)
	require.Empty(t, cycles[1].ObligationID)
	require.Equal(t, []int64{cycles[1].ID}, h.cycleJobs())

	// A button specloop does not know does nothing.
	mustWork(h, h.checkRun(), clickArgs(h, id, "requested_action", "dance", "maintainer"))
	require.Len(t, h.cycles(runID), 2)
}

// TestCheckRunNotOurs: a check run specloop never created (another app's,
// or another installation's) cancels the job: retrying cannot help.
func TestCheckRunNotOurs(t *testing.T) {
	t.Parallel()
	h, runID, _ := checkRunSetup(t)
	res, err := work(h, h.checkRun(), clickArgs(h, 999999, "rerequested", "", "maintainer"))
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCancelled, res.EventKind)
	require.Len(t, h.cycles(runID), 1)
	require.Empty(t, h.cycleJobs())
}

// TestCheckRunReader: a click by someone without write access is ignored.
func TestCheckRunReader(t *testing.T) {
	t.Parallel()
	h, runID, id := checkRunSetup(t)
	mustWork(h, h.checkRun(), clickArgs(h, id, "rerequested", "", "reader"))
	mustWork(h, h.checkRun(), clickArgs(h, id, "requested_action", evidence.ActionNext, "reader"))
	require.Len(t, h.cycles(runID), 1)
	require.Empty(t, h.cycleJobs())
}

// TestCheckRunCyclesPerPR: the buttons obey limits.cycles_per_pr as
// `/loop next` and `/loop retry` do, and say so on the run's PR.
func TestCheckRunCyclesPerPR(t *testing.T) {
	t.Parallel()
	h, runID, id := checkRunSetup(t, map[string]string{repoconfig.Path: "limits: {cycles_per_pr: 1}\n"})
	pr := h.openPR("specloop/spec/widgets")
	require.NoError(t, store.SetRunPR(h.ctx, h.pool, runID, pr))

	want := "@maintainer this run has had 1 cycles, the limit (`limits.cycles_per_pr`). Raise it in `.github/specloop.yml` to go on."
	mustWork(h, h.checkRun(), clickArgs(h, id, "requested_action", evidence.ActionNext, "maintainer"))
	require.Len(t, h.cycles(runID), 1, "no cycle past the limit")
	require.Equal(t, []string{want}, h.botComments(pr))
	mustWork(h, h.checkRun(), clickArgs(h, id, "rerequested", "", "maintainer"))
	require.Len(t, h.cycles(runID), 1)
	require.Equal(t, []string{want, want}, h.botComments(pr))
	require.Empty(t, h.cycleJobs())
}
