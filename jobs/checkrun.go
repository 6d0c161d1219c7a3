package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/store"
)

// SuiteRerequested is CheckRunArgs.Action for check_suite.rerequested.
const SuiteRerequested = "suite_rerequested"

// CheckRunWorker handles "Re-run" (retry that cycle) and the "Next cycle"
// button on specloop's check runs.
type CheckRunWorker struct {
	river.WorkerDefaults[CheckRunArgs]
	d *deps
}

func (w *CheckRunWorker) Work(ctx context.Context, job *river.Job[CheckRunArgs]) error {
	a := job.Args
	rc, err := w.d.openRepoForJob(ctx, a.Repo, a.InstallationID)
	if err != nil {
		return err
	}
	if ok, err := canDrive(ctx, rc, a.Sender); err != nil {
		return err
	} else if !ok {
		w.d.Logger.Info("check run action by a user without write access", "repo", a.Repo, "sender", a.Sender)
		return nil
	}
	var cr *store.CheckRun
	if a.Action == SuiteRerequested {
		// "Re-run all checks": the suite's newest cycle check names the
		// cycle to retry.
		cr, err = store.LatestCycleCheckRun(ctx, w.d.Pool, a.Repo, a.HeadSHA)
	} else {
		cr, err = store.FindCheckRun(ctx, w.d.Pool, a.CheckRunID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("check run %d (suite on %.12s) was not created by a cycle of this specloop", a.CheckRunID, a.HeadSHA))
	}
	if err != nil {
		return err
	}
	cycle, err := store.GetCycle(ctx, w.d.Pool, cr.CycleID)
	if err != nil {
		return err
	}
	run, err := store.GetRun(ctx, w.d.Pool, cycle.RunID)
	if err != nil {
		return err
	}
	var trigger, obligation string
	switch {
	case a.Action == "rerequested", a.Action == SuiteRerequested:
		trigger, obligation = "rerun", cycle.ObligationID
	case a.Action == "requested_action" && a.Identifier == evidence.ActionNext:
		trigger = "button"
	default:
		w.d.Logger.Info("unknown check run action", "identifier", a.Identifier)
		return nil
	}
	// The buttons are `/loop retry` and `/loop next`: the same limit holds.
	if n, err := cycleCount(ctx, w.d, run.ID); err != nil {
		return err
	} else if n >= rc.Config.Limits.CyclesPerPR {
		return w.limitReached(ctx, rc, run, a.Sender, n)
	}
	_, err = w.d.queueCycle(ctx, run, trigger, obligation)
	return err
}

// limitReached says on the run's PR (or issue) that a button queued
// nothing because of limits.cycles_per_pr.
func (w *CheckRunWorker) limitReached(ctx context.Context, rc *repoContext, run *store.Run, sender string, n int) error {
	target := run.PR
	if target == 0 {
		target = run.Issue
	}
	if target == 0 {
		w.d.Logger.Info("check run action past limits.cycles_per_pr", "repo", run.Repo, "run", run.ID, "cycles", n)
		return nil
	}
	return w.d.reply(ctx, rc, target, fmt.Sprintf("@%s %s", sender, cyclesLimitReached(n)))
}
