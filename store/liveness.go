package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// cycleLockClass is the first key of the session-level advisory lock a
// worker holds for each cycle it runs (the second is the cycle id): the
// two-key form keeps these apart from the single-key locks of migrations
// and claims.
const cycleLockClass = 0x53504c43 // "SPLC"

// ErrCycleLocked means another live session holds the cycle's lock: a
// worker is running it.
var ErrCycleLocked = errors.New("cycle is held by a live worker")

// LockCycle takes the cycle's advisory lock on a connection of its own,
// held until release is called. The lock lives as long as the worker's
// database session: when the process dies, Postgres ends the session and
// the lock is free at once, which is how a dead worker is told apart from
// a slow one (OrphanedCycles). Take it before claiming the cycle.
func LockCycle(ctx context.Context, pool *pgxpool.Pool, id int64) (release func(), err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock cycle %d: %w", id, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2::int)`, cycleLockClass, id).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("lock cycle %d: %w", id, err)
	}
	if !ok {
		conn.Release()
		return nil, ErrCycleLocked
	}
	return func() {
		// A connection whose unlock failed is closed rather than returned
		// with the lock still held.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2::int)`, cycleLockClass, id); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}, nil
}

// OrphanedCycles lists running cycles whose worker's session is gone
// (nobody holds their lock), whatever their lease says.
func OrphanedCycles(ctx context.Context, pool *pgxpool.Pool) ([]*Cycle, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("list orphaned cycles: %w", err)
	}
	defer conn.Release()
	running, err := queryCycles(ctx, conn, `SELECT `+cycleColumns+` FROM cycles WHERE state = 'running' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list orphaned cycles: %w", err)
	}
	var orphans []*Cycle
	for _, c := range running {
		// A lock that is free is taken by trying it: let it go at once, on
		// this same session.
		var free bool
		err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2::int)`, cycleLockClass, c.ID).Scan(&free)
		if err == nil && free {
			_, err = conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2::int)`, cycleLockClass, c.ID)
		}
		if err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // never back to the pool holding a lock
			return nil, fmt.Errorf("check the worker of cycle %d: %w", c.ID, err)
		}
		if free {
			orphans = append(orphans, c)
		}
	}
	return orphans, nil
}
