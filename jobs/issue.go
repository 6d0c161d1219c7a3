package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// IssueLabelWorker starts an issue's run when it gets the repo's label, and
// cancels the run's cycles when the label goes.
type IssueLabelWorker struct {
	river.WorkerDefaults[IssueLabelArgs]
	d *deps
}

func (w *IssueLabelWorker) Work(ctx context.Context, job *river.Job[IssueLabelArgs]) error {
	a := job.Args
	rc, err := w.d.openRepoForJob(ctx, a.Repo, a.InstallationID)
	if err != nil {
		return err
	}
	if !strings.EqualFold(a.Label, rc.Config.Label) {
		w.d.Logger.Debug("label is not specloop's", "repo", a.Repo, "issue", a.Issue, "label", a.Label)
		return nil
	}
	branch := fmt.Sprintf("%sissue-%d", rc.Config.BranchPrefix, a.Issue)
	if !a.Labeled {
		run, err := store.FindRunByBranch(ctx, w.d.Pool, a.Repo, branch)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := store.CancelQueuedCycles(ctx, w.d.Pool, run.ID, fmt.Sprintf("label %q removed by @%s", a.Label, a.Sender))
		if err != nil {
			return err
		}
		if err := store.SetRunState(ctx, w.d.Pool, run.ID, state.RunStopped); err != nil {
			return err
		}
		w.d.event(ctx, run.ID, 0, "note", "", string(state.Cancelled), fmt.Sprintf("label removed by @%s: %d cycle(s) cancelled", a.Sender, n))
		return nil
	}
	issue, _, err := rc.GH.Issues.Get(ctx, rc.Owner, rc.Name, a.Issue)
	if err != nil {
		return fmt.Errorf("get issue %s#%d: %w", a.Repo, a.Issue, err)
	}
	if issue.IsPullRequest() {
		return nil
	}
	if a.Reconcile {
		// The labeled delivery may have come after all: then its run is
		// there, and the reconcile has nothing to add.
		if _, err := store.FindRunByBranch(ctx, w.d.Pool, a.Repo, branch); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	run, err := store.UpsertRun(ctx, w.d.Pool, &store.Run{
		Repo: a.Repo, InstallationID: rc.InstallationID, Branch: branch, Kind: state.RunIssue, Issue: a.Issue,
	})
	if err != nil {
		return err
	}
	active, err := activeCycles(ctx, w.d.Pool, run.ID)
	if err != nil {
		return err
	}
	if active > 0 {
		// Re-adding the label while a cycle is queued or running adds nothing.
		return nil
	}
	// This job ran before on a worker that died before finishing it, and
	// its cycle may be done already: the delivery queues one cycle, not two.
	if a.Delivery != "" {
		if queued, err := store.CycleQueuedSince(ctx, w.d.Pool, run.ID, a.Delivery); err != nil {
			return err
		} else if queued {
			return nil
		}
	}
	if n, err := cycleCount(ctx, w.d, run.ID); err != nil {
		return err
	} else if n >= rc.Config.Limits.CyclesPerPR {
		return w.d.reply(ctx, rc, a.Issue, fmt.Sprintf("@%s %s", a.Sender, cyclesLimitReached(n)))
	}
	c, err := w.d.queueCycle(ctx, run, "label", "")
	if err != nil {
		return err
	}
	body := fmt.Sprintf("specloop picked this up: cycle %d of run %d is queued on `%s`.\n\nFollow it on the [run page](%s). Comment `/loop help` on the PR for commands.",
		c.ID, run.ID, branch, w.d.runURL(run.ID))
	if _, _, err := rc.GH.Issues.CreateComment(ctx, rc.Owner, rc.Name, a.Issue, &github.IssueComment{Body: &body}); err != nil {
		w.d.Logger.Warn("comment on issue", "repo", a.Repo, "issue", a.Issue, "err", err)
	}
	return nil
}

func activeCycles(ctx context.Context, db store.DB, runID int64) (int, error) {
	cycles, err := store.ListCycles(ctx, db, runID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cycles {
		if c.State != state.CycleDone {
			n++
		}
	}
	return n, nil
}

// queueCycle records a cycle and its job in one transaction.
func (d *deps) queueCycle(ctx context.Context, run *store.Run, trigger, obligationID string, also ...func(pgx.Tx, *store.Cycle) error) (*store.Cycle, error) {
	var c *store.Cycle
	err := pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		var err error
		if c, err = store.InsertCycle(ctx, tx, run.ID, trigger, obligationID); err != nil {
			return err
		}
		// What the cycle is fed (a fix request, an answer) commits with it.
		for _, f := range also {
			if err := f(tx, c); err != nil {
				return err
			}
		}
		if err := store.SetRunState(ctx, tx, run.ID, state.RunActive); err != nil {
			return err
		}
		client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
		if err != nil {
			return fmt.Errorf("queue cycle: %w", err)
		}
		_, err = client.InsertTx(ctx, tx, CycleArgs{CycleID: c.ID}, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue cycle on run %d: %w", run.ID, err)
	}
	d.event(ctx, run.ID, c.ID, "cycle", "", string(state.CycleQueued), fmt.Sprintf("cycle %d queued (%s)", c.ID, trigger))
	return c, nil
}
