package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/store"
)

// Housekeeper is what each worker process does for itself, on its own
// clock: reap cycles whose worker is gone, delete the sandbox pods they
// left (on a slower tick), and prune its own mirror cache.
// These are not River periodic jobs because River queues those from one
// elected leader: a SIGKILLed or frozen leader keeps its leadership until
// River's leader TTL (15 s) runs out, so its own dead cycle waited that long
// to be reaped; and a job the leader queues prunes the MIRROR_DIR of
// whichever host happens to run it, never the others'.
type Housekeeper struct {
	d      *deps
	client *river.Client[pgx.Tx]
	hold   *store.WorkerHold
}

// RiverClientPrefix starts the River client id of every worker process that
// holds a liveness lock (store.HoldWorker), so its jobs can be rescued at
// once when it dies; other clients' jobs (an older version's during a
// rolling deploy) are left to River's own rescue.
const RiverClientPrefix = "specloop/"

// RiverClientID is the River client id of the worker process workerID.
func RiverClientID(workerID string) string {
	id := RiverClientPrefix + workerID
	if len(id) > 100 { // River's limit
		id = id[:100]
	}
	return id
}

// Hold takes this process's liveness lock; call it before the River client
// starts, and Release after it has stopped.
func (h *Housekeeper) Hold(ctx context.Context) error {
	hold, err := store.HoldWorker(ctx, h.d.Pool, RiverClientID(h.d.WorkerID))
	if err != nil {
		return err
	}
	h.hold = hold
	return nil
}

// Release lets go of the liveness lock.
func (h *Housekeeper) Release() {
	if h.hold != nil {
		h.hold.Release()
	}
}

// rescueSettle leaves alone the jobs a worker fetched a moment ago.
const rescueSettle = time.Second

// NewHousekeeper makes the housekeeper of a worker process; client is the
// process's River client, which queues the takeovers.
func NewHousekeeper(cfg Config, client *river.Client[pgx.Tx]) *Housekeeper {
	return &Housekeeper{d: newDeps(cfg), client: client}
}

// reapEvery bounds how long a dead worker's cycle waits to be taken over.
const reapEvery = 2 * time.Second

// ReapEvery is how often a process with this lease reaps: a dead worker's
// session is seen gone at the next reap, so often, and at least twice per
// lease so an expired one is not missed long.
func ReapEvery(leaseTTL time.Duration) time.Duration { return min(leaseTTL/2, reapEvery) }

// Run reaps and prunes at once and then on its tickers, until ctx ends. A
// failed round is logged; the next one tries again.
func (h *Housekeeper) Run(ctx context.Context) {
	d := h.d
	reap := time.NewTicker(ReapEvery(d.LeaseTTL))
	defer reap.Stop()
	prune := time.NewTicker(d.PruneEvery)
	defer prune.Stop()
	pods := time.NewTicker(d.PodReapEvery)
	defer pods.Stop()
	h.reap(ctx)
	h.reapSandboxes(ctx)
	h.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-reap.C:
			h.reap(ctx)
		case <-prune.C:
			h.prune(ctx)
		case <-pods.C:
			h.reapSandboxes(ctx)
		}
	}
}

func (h *Housekeeper) reap(ctx context.Context) {
	if h.hold != nil {
		// A lost session (a database restart) would make this process look
		// dead to the others: take the lock again.
		if err := h.hold.Keep(ctx); err != nil && ctx.Err() == nil {
			h.d.Logger.Warn("keep this worker's liveness lock", "err", err)
		}
	}
	// Reaped first: a rescued job of a dead worker's cycle then finds its
	// lease released and claims it at once.
	if err := h.d.reap(ctx, h.client); err != nil && ctx.Err() == nil {
		h.d.Logger.Warn("reap cycles of dead workers", "err", err)
	}
	// Jobs a dead process had fetched but not finished (a cycle it had not
	// claimed yet, a labelled issue whose cycle it had not queued) run
	// again now, not after River's hour-long stuck-job rescue.
	if n, err := store.RescueDeadWorkersJobs(ctx, h.d.Pool, RiverClientPrefix, rescueSettle); err != nil && ctx.Err() == nil {
		h.d.Logger.Warn("rescue dead workers' jobs", "err", err)
	} else if n > 0 {
		h.d.Logger.Warn("rescued the jobs of a worker process that is gone", "jobs", n)
	}
}

func (h *Housekeeper) reapSandboxes(ctx context.Context) {
	if err := h.d.reapSandboxes(ctx); err != nil && ctx.Err() == nil {
		h.d.Logger.Warn("reap the sandboxes of dead workers", "err", err)
	}
}

func (h *Housekeeper) prune(ctx context.Context) {
	if err := h.d.pruneMirrors(ctx); err != nil && ctx.Err() == nil {
		h.d.Logger.Warn("prune the mirror cache", "dir", h.d.Mirrors.Dir, "err", err)
	}
}

// breakLock frees the lock of a cycle whose holder's session is alive but
// whose lease ran out (a frozen or cut-off worker, which would otherwise
// keep the cycle from every taker for as long as its connection stays
// open), so this worker can take it over. It reports whether it did.
func (d *deps) breakLock(ctx context.Context, id int64) bool {
	ended, err := store.BreakExpiredCycleLock(ctx, d.Pool, id)
	if err != nil {
		d.Logger.Warn("break the lock of a cycle whose lease ran out", "cycle", id, "err", err)
		return false
	}
	if ended {
		d.Logger.Warn("cycle's lease ran out but its worker's session lives on (frozen or cut off): ended that session", "cycle", id)
	}
	return ended
}
