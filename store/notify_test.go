package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// runningCycle makes a run on branch with one claimed (running) cycle.
func runningCycle(t *testing.T, pool *pgxpool.Pool, branch string) (runID, cycleID int64) {
	t.Helper()
	ctx := context.Background()
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: branch, Kind: "spec", SpecPath: "specs/" + branch + ".md"})
	require.NoError(t, err)
	c, err := store.InsertCycle(ctx, pool, run.ID, "push", "")
	require.NoError(t, err)
	claim, _, err := store.ClaimCycle(ctx, pool, c.ID, "w/job-1", time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, store.Claimed, claim)
	return run.ID, c.ID
}

// startListener runs a StopListener on pool until the test ends and
// waits until it listens.
func startListener(t *testing.T, pool *pgxpool.Pool) *store.StopListener {
	t.Helper()
	l := store.NewStopListener(pool, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitUntil(t, "the listener listens", func() bool { return l.Backend() != 0 })
	return l
}

// waitUntil polls cond; the bound only ends a broken test.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, time.Minute, 10*time.Millisecond, what)
}

// counter counts a watch's calls and signals each.
type counter struct{ calls chan struct{} }

func newCounter() *counter { return &counter{calls: make(chan struct{}, 16)} }

func (c *counter) fn() { c.calls <- struct{}{} }

func (c *counter) await(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.calls:
	case <-time.After(time.Minute):
		t.Fatalf("gave up waiting: %s", what)
	}
}

// TestStopListenerRoutes: a stop reaches the watch of its cycle and no
// other, and an unwatched cycle hears nothing. Notifications arrive in
// commit order on the one connection, so when a later stop has been heard,
// every earlier one has been routed.
func TestStopListenerRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	l := startListener(t, pool)
	runA, a := runningCycle(t, pool, "a")
	runB, b := runningCycle(t, pool, "b")
	runC, c := runningCycle(t, pool, "c")
	ca, cb, cc := newCounter(), newCounter(), newCounter()
	defer l.Watch(a, ca.fn)()
	defer l.Watch(b, cb.fn)()
	l.Watch(c, cc.fn)() // watched and let go at once

	n, err := store.CancelQueuedCycles(ctx, pool, runA, "stopped by @m")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	ca.await(t, "cycle a stopped")
	_, err = store.CancelQueuedCycles(ctx, pool, runC, "stopped by @m")
	require.NoError(t, err)
	_, err = store.CancelQueuedCycles(ctx, pool, runB, "stopped by @m")
	require.NoError(t, err)
	cb.await(t, "cycle b stopped")

	require.Empty(t, ca.calls, "a heard its stop once")
	require.Empty(t, cc.calls, "c was no longer watched")
}

// TestStopListenerReconnects: the listener's session killed, it
// reconnects; a stop committed while nobody was told (no notification)
// is found on reconnect, and notifications reach watches again.
func TestStopListenerReconnects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	l := startListener(t, pool)
	_, missed := runningCycle(t, pool, "missed")
	runLater, later := runningCycle(t, pool, "later")
	cm, cl := newCounter(), newCounter()
	// A stop that no notification announces, as if it had been sent while
	// the listener was away.
	_, err := pool.Exec(ctx, `UPDATE cycles SET stop_requested = true WHERE id = $1`, missed)
	require.NoError(t, err)
	defer l.Watch(missed, cm.fn)()
	defer l.Watch(later, cl.fn)()

	first := l.Backend()
	var killed bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(first)).Scan(&killed))
	require.True(t, killed, "backend %d terminated", first)
	waitUntil(t, "the listener listens on a new session", func() bool {
		b := l.Backend()
		return b != 0 && b != first
	})
	// Backend is set after the reconnect's look-up: the missed stop is
	// already delivered.
	require.Len(t, cm.calls, 1, "the missed stop was found on reconnect")

	_, err = store.CancelQueuedCycles(ctx, pool, runLater, fmt.Sprintf("stopped after reconnect %d", l.Backend()))
	require.NoError(t, err)
	cl.await(t, "a stop after the reconnect")
}
