package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/specloop/specloop/internal/stack"
	"github.com/stretchr/testify/require"
)

// waitLimit bounds how long the end-to-end tests wait for something that
// must happen; it is never what an assertion is about.
const waitLimit = 2 * time.Minute

// waitFor polls cond until it holds, failing the test (with what) after
// waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// riverJob is a row of River's job table, as a test reads it.
type riverJob struct {
	ID      int64
	State   string
	Attempt int
	Errors  []string
}

// finalJobStates are River's states a job never leaves.
var finalJobStates = map[string]bool{"completed": true, "cancelled": true, "discarded": true}

// waitJobsDone waits until River has jobs of kind whose args contain args
// and every one of them is in a final state, and returns them. A job that
// failed and is waiting for a retry is not done: a retry has to run (and
// do whatever it does twice) before this returns.
func waitJobsDone(t *testing.T, st *stack.Stack, kind string, args map[string]any) []riverJob {
	t.Helper()
	filter, err := json.Marshal(args)
	require.NoError(t, err)
	var jobs []riverJob
	waitFor(t, fmt.Sprintf("%s jobs with %s done", kind, filter), func() bool {
		jobs = listJobs(t, st, kind, filter)
		for _, j := range jobs {
			if !finalJobStates[j.State] {
				return false
			}
		}
		return len(jobs) > 0
	})
	return jobs
}

func listJobs(t *testing.T, st *stack.Stack, kind string, filter []byte) []riverJob {
	t.Helper()
	rows, err := st.Server.Pool.Query(context.Background(), `SELECT id, state, attempt, COALESCE(errors::text[], '{}') FROM river_job
		WHERE kind = $1 AND args @> $2::jsonb ORDER BY id`, kind, string(filter))
	require.NoError(t, err)
	defer rows.Close()
	var out []riverJob
	for rows.Next() {
		var j riverJob
		require.NoError(t, rows.Scan(&j.ID, &j.State, &j.Attempt, &j.Errors))
		out = append(out, j)
	}
	require.NoError(t, rows.Err())
	return out
}

// requireRanOnce asserts that each job completed on its first attempt: none
// failed and was retried.
func requireRanOnce(t *testing.T, jobs []riverJob) {
	t.Helper()
	for _, j := range jobs {
		require.Equal(t, "completed", j.State, "job %d: %v", j.ID, j.Errors)
		require.Equal(t, 1, j.Attempt, "job %d ran once: %v", j.ID, j.Errors)
	}
}
