package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// workerLockClass is the first key of the session-level advisory lock each
// worker process holds for its lifetime (the second is hashtext of its
// River client id): the lock vanishes when the process dies, which tells
// its River jobs apart from a live process's.
const workerLockClass = 0x53504c57 // "SPLW"

// ErrWorkerHeld means another live session holds the worker id's lock: two
// processes were given one id.
var ErrWorkerHeld = errors.New("worker id is held by another live process")

// WorkerHold is a worker process's liveness lock, on a connection of its
// own.
type WorkerHold struct {
	pool *pgxpool.Pool
	id   string
	mu   sync.Mutex
	conn *pgxpool.Conn
}

// HoldWorker takes the liveness lock of the worker process whose River
// client id is id. Take it before the process's River client starts.
func HoldWorker(ctx context.Context, pool *pgxpool.Pool, id string) (*WorkerHold, error) {
	h := &WorkerHold{pool: pool, id: id}
	if err := h.Keep(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// Keep makes sure the lock is held, taking it again on a new connection if
// its connection was lost (a database restart ends every session).
func (h *WorkerHold) Keep(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := h.conn.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		h.conn.Conn().Close(context.WithoutCancel(ctx))
		h.conn.Release()
		h.conn = nil
	}
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("hold worker %s: %w", h.id, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, workerLockClass, h.id).Scan(&ok); err != nil {
		conn.Release()
		return fmt.Errorf("hold worker %s: %w", h.id, err)
	}
	if !ok {
		conn.Release()
		return fmt.Errorf("hold worker %s: %w", h.id, ErrWorkerHeld)
	}
	h.conn = conn
	return nil
}

// Release lets go of the lock: the process's running jobs are then
// rescued as a dead process's. Call it once they have all returned.
func (h *WorkerHold) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil {
		return
	}
	// Unlocked first, so the lock is gone when Release returns (the server
	// ends a closed session's locks only when it sees the close); then
	// closed, not returned: a failed unlock still ends with the session.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _ = h.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, workerLockClass, h.id)
	cancel()
	h.conn.Conn().Close(context.Background())
	h.conn.Release()
	h.conn = nil
}

// RescueDeadWorkersJobs makes River jobs available again whose last
// attempt is a worker process's that is gone: its River client id starts
// with prefix (a process that holds a WorkerHold) and nobody holds its
// lock. Without this they would stay running until River's stuck-job
// rescue, an hour later: a cycle a killed worker had fetched but not yet
// claimed, a labelled issue whose cycle it had not queued yet. Jobs
// attempted within settle are left alone. It returns how many it rescued.
func RescueDeadWorkersJobs(ctx context.Context, pool *pgxpool.Pool, prefix string, settle time.Duration) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("rescue dead workers' jobs: %w", err)
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, `SELECT DISTINCT attempted_by[array_upper(attempted_by, 1)] FROM river_job
		WHERE state = 'running' AND attempted_at < now() - $2::interval
		  AND starts_with(attempted_by[array_upper(attempted_by, 1)], $1)`, prefix, settle.String())
	if err != nil {
		return 0, fmt.Errorf("rescue dead workers' jobs: %w", err)
	}
	var workers []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			rows.Close()
			return 0, fmt.Errorf("rescue dead workers' jobs: %w", err)
		}
		workers = append(workers, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("rescue dead workers' jobs: %w", err)
	}
	var dead []string
	for _, w := range workers {
		var free bool
		err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, workerLockClass, w).Scan(&free)
		if err == nil && free {
			_, err = conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, workerLockClass, w)
		}
		if err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // never back to the pool holding a lock
			return 0, fmt.Errorf("check worker %s: %w", w, err)
		}
		if free {
			dead = append(dead, w)
		}
	}
	if len(dead) == 0 {
		return 0, nil
	}
	tag, err := conn.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now()
		WHERE state = 'running' AND attempted_at < now() - $2::interval
		  AND attempted_by[array_upper(attempted_by, 1)] = ANY($1)`, dead, settle.String())
	if err != nil {
		return 0, fmt.Errorf("rescue dead workers' jobs: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
