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

// TestCheckSuiteRerequested: "Re-run all checks" on the suite of a
// cycle's commit retries that cycle's obligation, as "Re-run" does.
func TestCheckSuiteRerequested(t *testing.T) {
	t.Parallel()
	h, runID, _ := checkRunSetup(t)
	args := CheckRunArgs{Repo: testFull, InstallationID: h.inst, HeadSHA: h.mainSHA(), Action: SuiteRerequested, Sender: "maintainer", Delivery: "d"}
	mustWork(h, h.checkRun(), args)
	cycles := h.cycles(runID)
	require.Len(t, cycles, 2)
	require.Equal(t, "rerun", cycles[1].Trigger)
	require.Equal(t, "w-1", cycles[1].ObligationID)

	// A suite on a commit no cycle checked is not specloop's to retry.
	args.HeadSHA = "0123456789abcdef0123456789abcdef01234567"
	res, err := work(h, h.checkRun(), args)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCancelled, res.EventKind)
}

// TestConfigRecheck: "Re-run" on a failing specloop/config check reads the
// config again; once it parses, a passing check replaces the failing one.
func TestConfigRecheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "agent: [unclosed\n"})
	w := &ConfigRecheckWorker{d: h.d}
	mustWork(h, w, ConfigRecheckArgs{Repo: testFull, InstallationID: h.inst})
	var config []string
	for _, cr := range h.checkRuns("") {
		if cr.GetName() == "specloop/config" {
			config = append(config, cr.GetConclusion())
		}
	}
	require.Equal(t, []string{"failure"}, config, "still broken: a fresh failing check")

	sha := h.push("main", map[string]string{repoconfig.Path: passingConfig})
	require.NoError(t, store.InvalidateRepoConfig(h.ctx, h.pool, testFull)) // as the Re-run delivery does
	mustWork(h, w, ConfigRecheckArgs{Repo: testFull, InstallationID: h.inst})
	var last string
	for _, cr := range h.checkRuns(sha) {
		if cr.GetName() == "specloop/config" {
			last = cr.GetConclusion() + ": " + cr.GetOutput().GetTitle()
		}
	}
	require.Equal(t, "success: The config parses", last)
}
