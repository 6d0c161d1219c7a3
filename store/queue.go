package store

import (
	"context"
	"fmt"
)

// JobCount is how many of River's jobs of one kind are in one state.
type JobCount struct {
	Kind  string
	State string
	N     int64
}

// PendingJobs counts the jobs waiting or running (available, scheduled,
// retryable, running, pending), by kind and state: the queue's depth.
func PendingJobs(ctx context.Context, db DB) ([]JobCount, error) {
	rows, err := db.Query(ctx, `SELECT kind, state::text, count(*) FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') GROUP BY kind, state ORDER BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("count pending jobs: %w", err)
	}
	defer rows.Close()
	var out []JobCount
	for rows.Next() {
		var c JobCount
		if err := rows.Scan(&c.Kind, &c.State, &c.N); err != nil {
			return nil, fmt.Errorf("count pending jobs: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count pending jobs: %w", err)
	}
	return out, nil
}
