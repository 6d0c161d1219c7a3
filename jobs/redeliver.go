package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/store"
)

// GitHub does not redeliver a webhook it failed to deliver (specloop
// answered 503 while its database was down, or was being deployed): the
// app must ask. RedeliverWorker lists the app's recent deliveries through
// its JWT, at start and every DeliveriesEvery, and asks once for each
// failed one that specloop never recorded. A redelivery shows in the same
// list (same GUID, redelivery true), so no delivery is asked for twice;
// if two workers race, the intake's GUID dedupe absorbs the repeat.
// ReconcileWorker then covers what no delivery can: a labelled open issue
// with no run gets one.

// DeliveriesEvery is how often missed deliveries are looked for.
const DeliveriesEvery = 5 * time.Minute

// deliveriesWindow is how far back missed deliveries are looked for: the
// period plus slack, so a delivery is seen by at least two passes.
const deliveriesWindow = 3 * DeliveriesEvery

// maxDeliveryPages bounds one pass (100 deliveries a page).
const maxDeliveryPages = 10

// RedeliverArgs asks for missed webhook deliveries again.
type RedeliverArgs struct{}

func (RedeliverArgs) Kind() string { return "redeliver" }

// RedeliverWorker asks GitHub to redeliver missed deliveries.
type RedeliverWorker struct {
	river.WorkerDefaults[RedeliverArgs]
	d *deps
}

func (w *RedeliverWorker) Work(ctx context.Context, job *river.Job[RedeliverArgs]) error {
	gh := w.d.GitHub.App()
	since := time.Now().Add(-deliveriesWindow)
	type attempts struct {
		ok, redelivered bool
		latest          *github.HookDelivery
	}
	byGUID := map[string]*attempts{}
	var order []string
	opts := &github.ListCursorOptions{PerPage: 100}
	for range maxDeliveryPages {
		list, res, err := gh.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return fmt.Errorf("list the app's webhook deliveries: %w", err)
		}
		old := false
		for _, d := range list {
			if d.GetDeliveredAt().Before(since) {
				old = true
				continue
			}
			a := byGUID[d.GetGUID()]
			if a == nil {
				a = &attempts{}
				byGUID[d.GetGUID()] = a
				order = append(order, d.GetGUID())
			}
			code := d.GetStatusCode()
			a.ok = a.ok || (code >= 200 && code < 300)
			a.redelivered = a.redelivered || d.GetRedelivery()
			if a.latest == nil || d.GetID() > a.latest.GetID() {
				a.latest = d
			}
		}
		if old || res.Cursor == "" {
			break
		}
		opts.Cursor = res.Cursor
	}
	asked := 0
	for _, guid := range order {
		a := byGUID[guid]
		if a.ok || a.redelivered || a.latest.GetStatus() == "pending" {
			continue
		}
		if _, err := store.GetDelivery(ctx, w.d.Pool, guid); err == nil {
			continue // recorded, though GitHub saw no answer in time
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, res, err := gh.Apps.RedeliverHookDelivery(ctx, a.latest.GetID())
		var accepted *github.AcceptedError
		if err != nil && !errors.As(err, &accepted) && (res == nil || res.StatusCode != http.StatusAccepted) {
			return fmt.Errorf("redeliver %s (%s): %w", guid, a.latest.GetEvent(), err)
		}
		asked++
		w.d.Logger.Info("asked GitHub to redeliver a missed webhook", "guid", guid, "event", a.latest.GetEvent(),
			"action", a.latest.GetAction(), "status", a.latest.GetStatus())
	}
	if asked > 0 {
		w.d.Logger.Info("redeliveries requested", "count", asked)
	}
	return nil
}

// reconcileAfter is how long an issue is left to its own webhooks before
// the reconcile looks at it.
const reconcileAfter = 2 * time.Minute

// ReconcileArgs gives labelled open issues without a run their run.
type ReconcileArgs struct{}

func (ReconcileArgs) Kind() string { return "reconcile" }

// ReconcileWorker lists each active repo's open issues carrying its label
// and queues the label's job for those with no run, as if the labeled
// delivery had arrived.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	d *deps
}

func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	repos, err := store.ActiveRepos(ctx, w.d.Pool)
	if err != nil {
		return err
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	for _, r := range repos {
		rc, err := w.d.repos.open(ctx, r.FullName, r.InstallationID)
		if err != nil {
			w.d.Logger.Warn("reconcile: open repo", "repo", r.FullName, "err", err)
			continue
		}
		opts := &github.IssueListByRepoOptions{State: "open", Labels: []string{rc.Config.Label}, ListOptions: github.ListOptions{PerPage: 100}}
		for {
			issues, res, err := rc.GH.Issues.ListByRepo(ctx, rc.Owner, rc.Name, opts)
			if err != nil {
				return fmt.Errorf("reconcile: list %s's labelled issues: %w", r.FullName, err)
			}
			for _, is := range issues {
				// A label put on in the last minutes may still be on its
				// way as a webhook: that delivery starts the run.
				if is.IsPullRequest() || is.GetUpdatedAt().After(time.Now().Add(-reconcileAfter)) {
					continue
				}
				branch := fmt.Sprintf("%sissue-%d", rc.Config.BranchPrefix, is.GetNumber())
				if _, err := store.FindRunByBranch(ctx, w.d.Pool, r.FullName, branch); err == nil {
					continue
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				_, err := client.Insert(ctx, IssueLabelArgs{Repo: r.FullName, InstallationID: rc.InstallationID, Issue: is.GetNumber(),
					Label: rc.Config.Label, Labeled: true, Sender: "specloop-reconcile", Reconcile: true}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: DeliveriesEvery}})
				if err != nil {
					return fmt.Errorf("reconcile: queue the run of %s#%d: %w", r.FullName, is.GetNumber(), err)
				}
				w.d.Logger.Info("reconcile: a labelled issue had no run", "repo", r.FullName, "issue", is.GetNumber())
			}
			if res.NextPage == 0 {
				break
			}
			opts.Page = res.NextPage
		}
	}
	return nil
}
