package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/store"
)

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
	cr, err := store.FindCheckRun(ctx, w.d.Pool, a.CheckRunID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("check run %d was not created by this specloop", a.CheckRunID))
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
	switch {
	case a.Action == "rerequested":
		_, err = w.d.queueCycle(ctx, run, "rerun", cycle.ObligationID)
	case a.Action == "requested_action" && a.Identifier == evidence.ActionNext:
		_, err = w.d.queueCycle(ctx, run, "button", "")
	default:
		w.d.Logger.Info("unknown check run action", "identifier", a.Identifier)
	}
	return err
}
