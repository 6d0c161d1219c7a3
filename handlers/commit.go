package handlers

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/store"
)

// Group commit: deliveries that arrive together are recorded together, one
// transaction for a batch, so a burst costs a few round trips and one WAL
// flush per batch instead of per delivery. Each delivery still gets its
// reply only after the transaction holding it committed.

const (
	committers = 4  // transactions in flight at once
	maxBatch   = 64 // deliveries per transaction
)

type pending struct {
	d        *delivery
	plan     *Plan
	inserted bool
	err      error
	done     chan struct{}
}

// errIntakeClosed answers deliveries that arrive while the server stops.
var errIntakeClosed = errors.New("intake is shutting down")

type groupCommit struct {
	in   *Intake
	reqs chan *pending

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

func newGroupCommit(in *Intake) *groupCommit {
	g := &groupCommit{in: in, reqs: make(chan *pending, committers*maxBatch)}
	for range committers {
		g.wg.Add(1)
		go g.loop()
	}
	return g
}

// record waits until d is committed (or its batch failed).
func (g *groupCommit) record(d *delivery, plan *Plan) (bool, error) {
	p := &pending{d: d, plan: plan, done: make(chan struct{})}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false, errIntakeClosed
	}
	g.reqs <- p
	g.mu.RUnlock()
	// Wait whatever the client does: once queued, the delivery may commit.
	<-p.done
	return p.inserted, p.err
}

// close stops taking deliveries and waits for the queued ones.
func (g *groupCommit) close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.reqs)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *groupCommit) loop() {
	defer g.wg.Done()
	for first := range g.reqs {
		batch := []*pending{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-g.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.in.deadline)
		err := g.in.commit(ctx, batch)
		cancel()
		for _, p := range batch {
			if err != nil {
				p.inserted, p.err = false, err
			}
			close(p.done)
		}
	}
}

// commit writes a batch of deliveries, their records and their jobs in one
// transaction. A GUID already recorded (or twice in the batch) is recorded
// once; only its first delivery counts as inserted.
func (in *Intake) commit(ctx context.Context, batch []*pending) error {
	if in.Metrics != nil {
		in.Metrics.batch.Observe(float64(len(batch)))
	}
	return pgx.BeginFunc(ctx, in.Pool, func(tx pgx.Tx) error {
		ds := make([]*store.Delivery, len(batch))
		for i, p := range batch {
			ds[i] = &store.Delivery{
				GUID: p.d.GUID, Event: p.d.Event, Action: p.d.Action, RepoFullName: p.d.Repo,
				InstallationID: p.d.Installation, Jobs: len(p.plan.Jobs), Body: p.d.Body,
			}
		}
		inserted, err := store.InsertDeliveries(ctx, tx, ds)
		if err != nil {
			return err
		}
		var params []river.InsertManyParams
		for _, p := range batch {
			p.inserted = inserted[p.d.GUID]
			if !p.inserted {
				continue
			}
			delete(inserted, p.d.GUID) // a repeat later in the batch is a duplicate
			if err := applyRecords(ctx, tx, p.plan); err != nil {
				return err
			}
			for _, a := range p.plan.Jobs {
				params = append(params, river.InsertManyParams{Args: a})
			}
		}
		if len(params) > 0 {
			if _, err := in.Jobs.InsertManyFastTx(ctx, tx, params); err != nil {
				return err
			}
		}
		return nil
	})
}

// applyRecords writes what a delivery says about installations and repos.
func applyRecords(ctx context.Context, tx pgx.Tx, plan *Plan) error {
	for i := range plan.Installations {
		if err := store.UpsertInstallation(ctx, tx, &plan.Installations[i]); err != nil {
			return err
		}
	}
	for i := range plan.Mentioned {
		if err := store.EnsureInstallation(ctx, tx, &plan.Mentioned[i]); err != nil {
			return err
		}
	}
	for i := range plan.Repos {
		if err := store.UpsertRepo(ctx, tx, &plan.Repos[i]); err != nil {
			return err
		}
	}
	for _, repo := range plan.Moved {
		if err := store.InvalidateRepoConfig(ctx, tx, repo); err != nil {
			return err
		}
	}
	for _, id := range plan.Forget {
		if err := store.ForgetInstallationConfigs(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}
