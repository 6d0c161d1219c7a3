package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// PullClosedWorker stops the run of a PR that was closed or merged: its
// queued cycles are cancelled and its running one is told to stop.
type PullClosedWorker struct {
	river.WorkerDefaults[PullClosedArgs]
	d *deps
}

func (w *PullClosedWorker) Work(ctx context.Context, job *river.Job[PullClosedArgs]) error {
	a := job.Args
	run, err := store.FindRunByBranch(ctx, w.d.Pool, a.Repo, a.Branch)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// The branch alone is not enough: someone's own PR from a run's branch
	// is not the run's.
	if run.PR != a.PR {
		return nil
	}
	how := "closed"
	if a.Merged {
		how = "merged"
	}
	reason := fmt.Sprintf("PR #%d %s by @%s", a.PR, how, a.Sender)
	n, err := store.CancelQueuedCycles(ctx, w.d.Pool, run.ID, reason)
	if err != nil {
		return err
	}
	if err := store.SetRunState(ctx, w.d.Pool, run.ID, state.RunStopped); err != nil {
		return err
	}
	w.d.event(ctx, run.ID, 0, "note", "", string(state.Cancelled), fmt.Sprintf("%s: %d cycle(s) cancelled", reason, n))
	return nil
}
