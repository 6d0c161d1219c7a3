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

// BreakExpiredCycleLock ends the database session that holds the lock of a
// cycle whose lease ran out: its worker is alive as far as Postgres knows
// but not beating (frozen, or cut off from the database with its
// connection still open), and would otherwise keep everyone else from
// taking the cycle over for as long as that connection stays open: only a
// lock held since before the lease ran out is the lease owner's. The fence
// keeps out whatever that worker writes if it wakes up. (A worker
// handing its cycle over releases the lease a moment before the lock; a
// session ended in that moment costs it only that connection.) It reports
// whether a session was ended; Postgres has let go of the lock when it
// returns true.
func BreakExpiredCycleLock(ctx context.Context, db DB, id int64) (bool, error) {
	// The holder's lock session has done nothing since before the lease
	// ran out (it idles from its lock on): the frozen owner of that lease.
	// A taker that took the lock a moment ago, after the lease ran out and
	// before its claim, is left alone; ending its session would let a
	// third worker in beside it.
	rows, err := db.Query(ctx, `SELECT pg_terminate_backend(l.pid, 5000)
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid JOIN cycles c ON c.id = $2
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::oid AND l.objsubid = 2
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.pid <> pg_backend_pid()
		  AND c.state = 'running' AND c.lease_expires_at < now()
		  AND a.state = 'idle' AND a.state_change < c.lease_expires_at`, cycleLockClass, id)
	if err != nil {
		return false, fmt.Errorf("break the lock of cycle %d: %w", id, err)
	}
	defer rows.Close()
	ended := false
	for rows.Next() {
		var ok bool
		if err := rows.Scan(&ok); err != nil {
			return false, fmt.Errorf("break the lock of cycle %d: %w", id, err)
		}
		ended = ended || ok
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("break the lock of cycle %d: %w", id, err)
	}
	return ended, nil
}
