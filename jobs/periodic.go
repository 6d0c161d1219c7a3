package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/store"
)

// ScheduleArgs is the minutely tick that starts the drains whose cron
// schedule is due.
type ScheduleArgs struct{}

func (ScheduleArgs) Kind() string { return "schedule" }

// ReaperArgs finds cycles whose worker died (lease expired) and queues their
// takeover, so a crashed cycle is resumed within seconds, not after River's
// stuck-job rescue.
type ReaperArgs struct{}

func (ReaperArgs) Kind() string { return "reaper" }

// MirrorPruneArgs prunes the worker's mirror cache: what dead cycles left,
// pristine checkouts no cycle used for MirrorUnusedFor, and whatever
// MIRROR_MAX_BYTES leaves no room for.
type MirrorPruneArgs struct{}

func (MirrorPruneArgs) Kind() string { return "mirror_prune" }

// Mirror pruning: a pristine checkout unused for a day is not worth its
// disk; every 10 minutes keeps MIRROR_MAX_BYTES from being overshot long.
const (
	MirrorUnusedFor  = 24 * time.Hour
	MirrorPruneEvery = 10 * time.Minute
	// SandboxReapEvery is how often each worker process deletes the
	// sandbox pods dead workers left (Config.PodReapEvery).
	SandboxReapEvery = 30 * time.Second
)

// ScheduleWorker queues a drain for each repo whose schedule is due in the
// minute the tick was scheduled for (not the one it happens to run in, so
// a late tick misses nothing). The drain job is unique per repo and due
// minute, so several processes ticking at once, or a late tick and the
// next one, queue it once.
type ScheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	d *deps
}

func (w *ScheduleWorker) Work(ctx context.Context, job *river.Job[ScheduleArgs]) error {
	repos, err := store.ActiveRepos(ctx, w.d.Pool)
	if err != nil {
		return err
	}
	minute := job.ScheduledAt.Truncate(time.Minute)
	client := river.ClientFromContext[pgx.Tx](ctx)
	for _, r := range repos {
		rc, err := w.d.repos.open(ctx, r.FullName, r.InstallationID)
		if err != nil {
			w.d.Logger.Warn("schedule: open repo", "repo", r.FullName, "err", err)
			continue
		}
		if !Due(rc.Config.Schedule, minute) {
			continue
		}
		_, err = client.Insert(ctx, DrainArgs{Repo: r.FullName, InstallationID: r.InstallationID, Due: minute}, drainInsertOpts())
		if err != nil {
			return fmt.Errorf("queue drain of %s: %w", r.FullName, err)
		}
	}
	return nil
}

// takeoverOpts make a takeover job unique per cycle and fence, so the
// reaper and a worker handing over queue it once.
func takeoverOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: QueueCycles, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// drainInsertOpts make a drain unique by its args: one per repo and due
// minute, whichever tick queues it.
func drainInsertOpts() *river.InsertOpts {
	return &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Due reports whether a cron schedule fires in the minute starting at t.
func Due(schedule string, minute time.Time) bool {
	if schedule == "" {
		return false
	}
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return false
	}
	return s.Next(minute.Add(-time.Second)).Equal(minute)
}

// RetentionWorker prunes events and artifacts older than RETENTION.
type RetentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	d *deps
}

func (w *RetentionWorker) Work(ctx context.Context, job *river.Job[RetentionArgs]) error {
	keep := w.d.Retention
	events, artifacts, err := store.Prune(ctx, w.d.Pool, time.Now().Add(-keep))
	if err != nil {
		return err
	}
	w.d.Logger.Info("retention", "events_pruned", events, "artifacts_pruned", artifacts, "older_than", keep)
	return nil
}

// ReaperWorker runs reap for a reaper job still queued by a version that
// scheduled it through River (each worker now reaps on its Housekeeper's
// clock). It queues a takeover job for every cycle whose worker is gone:
// its database session ended (the process died: seen at once) or its lease
// expired (alive but cut off, or frozen: seen after the lease TTL).
type ReaperWorker struct {
	river.WorkerDefaults[ReaperArgs]
	d *deps
}

func (w *ReaperWorker) Work(ctx context.Context, job *river.Job[ReaperArgs]) error {
	return errors.Join(w.d.reap(ctx, river.ClientFromContext[pgx.Tx](ctx)), w.d.reapSandboxes(ctx))
}

// reap queues a takeover for every cycle whose worker is gone. Each worker
// process runs it on its own clock (Housekeeper); several reaping at once
// queue one takeover, since takeover jobs are unique per cycle and fence.
func (d *deps) reap(ctx context.Context, client *river.Client[pgx.Tx]) error {
	orphans, err := store.OrphanedCycles(ctx, d.Pool)
	if err != nil {
		return err
	}
	for _, c := range orphans {
		// The lease says nothing once the session is gone: end it, so the
		// takeover's claim succeeds now, under a new fence.
		if err := store.ReleaseCycle(ctx, d.Pool, c.ID, c.Fence); err != nil && !errors.Is(err, store.ErrFenced) {
			return err
		}
		d.Logger.Warn("cycle's worker is gone (its session ended)", "cycle", c.ID, "owner", c.LeaseOwner)
	}
	expired, err := store.ExpiredCycles(ctx, d.Pool)
	if err != nil {
		return err
	}
	for _, c := range expired {
		_, err := client.Insert(ctx, CycleArgs{CycleID: c.ID, Takeover: c.Fence}, takeoverOpts())
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("queue takeover of cycle %d: %w", c.ID, err)
		}
		d.Logger.Warn("cycle lease expired: queued takeover", "cycle", c.ID, "owner", c.LeaseOwner)
	}
	return nil
}

// reapSandboxes deletes the sandboxes (kubernetes pods) whose cycle no live
// worker's session holds. The Housekeeper runs it on its own, slower tick
// (PodReapEvery): it lists the pods from the apiserver.
func (d *deps) reapSandboxes(ctx context.Context) error {
	if d.Sandboxes == nil {
		return nil
	}
	// A pod is live while a worker's session holds its cycle; one started
	// outside a cycle lives until its deadline.
	if _, err := d.Sandboxes.Reap(ctx, func(ctx context.Context, o sandbox.PodOwner) (bool, error) {
		if o.Cycle == 0 {
			return true, nil
		}
		return store.CycleHeld(ctx, d.Pool, o.Cycle)
	}); err != nil {
		return fmt.Errorf("reaping sandbox pods: %w", err)
	}
	return nil
}

// MirrorPruneWorker prunes the mirror cache of the worker that runs it
// (workspace.Cache.Prune), for a mirror_prune job still queued by a version
// that scheduled it through River; each worker now prunes its own on its
// Housekeeper's clock. It also cleans after a dead worker whose cycle
// a worker of the same host took over: the dead one's locks are free.
type MirrorPruneWorker struct {
	river.WorkerDefaults[MirrorPruneArgs]
	d *deps
}

func (w *MirrorPruneWorker) Work(ctx context.Context, job *river.Job[MirrorPruneArgs]) error {
	return w.d.pruneMirrors(ctx)
}

// pruneMirrors prunes this process's mirror cache; each worker process runs
// it on its own clock (Housekeeper), since each has a MIRROR_DIR of its
// own host.
func (d *deps) pruneMirrors(ctx context.Context) error {
	if d.Mirrors == nil {
		return nil // runs no cycles, so has no cache
	}
	if err := d.Mirrors.Prune(ctx, MirrorUnusedFor); err != nil {
		return fmt.Errorf("prune mirrors: %w", err)
	}
	return nil
}

// sweepMirrors cleans after a dead worker before taking its cycle over:
// when it ran on this host, its working copy (and mount) is removed now
// rather than at the next prune. A failure costs disk, not the cycle.
func (d *deps) sweepMirrors(ctx context.Context) {
	if d.Mirrors == nil {
		return
	}
	if _, err := d.Mirrors.Sweep(ctx); err != nil {
		d.Logger.WarnContext(ctx, "takeover: could not remove everything dead cycles left", "err", err)
	}
}
