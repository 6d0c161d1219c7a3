package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// A cycle always completes its check runs, but when GitHub fails to
// answer at the end (502s for longer than the client layer retries), a
// check would stay in_progress for good. CheckSweepWorker completes each
// one left open by a cycle that ended, once GitHub answers again, with
// the cycle's conclusion and the reason in its summary. It runs every
// SweepEvery, so none stays open much more than that past its cycle.

// SweepEvery is how often stranded check runs are looked for. A cycle
// tries to complete its checks before it is recorded done, so any check
// of a done cycle is one its own attempt failed on: no grace is needed.
const SweepEvery = time.Minute

// CheckSweepArgs completes check runs ended cycles left open.
type CheckSweepArgs struct{}

func (CheckSweepArgs) Kind() string { return "check_sweep" }

// CheckSweepWorker completes stranded check runs.
type CheckSweepWorker struct {
	river.WorkerDefaults[CheckSweepArgs]
	d *deps
}

func (w *CheckSweepWorker) Work(ctx context.Context, job *river.Job[CheckSweepArgs]) error {
	stranded, err := store.StrandedCheckRuns(ctx, w.d.Pool, time.Now())
	if err != nil {
		return err
	}
	var errs []error
	for _, cr := range stranded {
		owner, name := splitRepo(cr.Repo)
		conclusion := state.Conclusion(cr.Conclusion)
		if conclusion == "" {
			conclusion = state.Cancelled
		}
		summary := fmt.Sprintf("Cycle %d ended **%s** at %s, but GitHub did not answer when specloop completed this check, so it stayed in progress. "+
			"specloop's sweeper completed it once GitHub answered again; the [run page](%s) has the cycle's evidence.",
			cr.CycleID, conclusion, cr.FinishedAt.UTC().Format(time.RFC3339), w.d.runURLOfCycle(ctx, cr.CycleID))
		err := evidence.NewCheckRuns(w.d.GitHub.Installation(cr.InstallationID), owner, name).
			Complete(ctx, cr.ID, cr.Name, conclusion, "Cycle ended: "+string(conclusion)+" (completed late)", summary)
		if err != nil {
			errs = append(errs, fmt.Errorf("complete stranded check run %d (%s): %w", cr.ID, cr.Name, err))
			continue
		}
		if err := store.CompleteCheckRun(ctx, w.d.Pool, cr.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		w.d.Logger.Info("completed a check run its cycle left open", "check_run", cr.ID, "name", cr.Name, "cycle", cr.CycleID)
	}
	// The next sweep tries again; failing the job only says so in River.
	return errors.Join(errs...)
}

// runURLOfCycle links the run page of a cycle's run.
func (d *deps) runURLOfCycle(ctx context.Context, cycleID int64) string {
	c, err := store.GetCycle(ctx, d.Pool, cycleID)
	if err != nil {
		return d.PublicURL
	}
	return d.runURL(c.RunID)
}
