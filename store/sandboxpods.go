package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// CycleHeld reports whether cycle id is running under a live worker: its
// state is running and some session holds its lock (LockCycle). A sandbox
// pod left by a cycle that is not held belongs to nobody.
func CycleHeld(ctx context.Context, pool *pgxpool.Pool, id int64) (bool, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("is cycle %d held: %w", id, err)
	}
	defer conn.Release()
	var running bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cycles WHERE id = $1 AND state = 'running')`, id).Scan(&running); err != nil {
		return false, fmt.Errorf("is cycle %d held: %w", id, err)
	}
	if !running {
		return false, nil
	}
	var free bool
	err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2::int)`, cycleLockClass, id).Scan(&free)
	if err == nil && free {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2::int)`, cycleLockClass, id)
	}
	if err != nil {
		conn.Conn().Close(context.WithoutCancel(ctx)) // never back to the pool holding a lock
		return false, fmt.Errorf("is cycle %d held: %w", id, err)
	}
	return !free, nil
}
