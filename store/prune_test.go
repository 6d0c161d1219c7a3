package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// TestPruneBefore places rows just before, at and after the cutoff. Every
// time comes from the database's clock (created_at defaults to now()), so
// the test does not depend on Go's clock agreeing with the server's.
func TestPruneBefore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "b", Kind: state.RunSpec})
	require.NoError(t, err)
	cycle, err := store.InsertCycle(ctx, pool, run.ID, "push", "")
	require.NoError(t, err)
	var cutoff time.Time
	require.NoError(t, pool.QueryRow(ctx, "SELECT now() - interval '1 day'").Scan(&cutoff))

	offsets := []string{"-1 microsecond", "0", "1 microsecond"} // before, at and after the cutoff
	for i, off := range offsets {
		e := &store.Event{RunID: run.ID, Kind: "note"}
		require.NoError(t, store.AppendEvent(ctx, pool, e))
		a := &store.Artifact{CycleID: cycle.ID, Name: "log", Content: []byte{byte(i)}}
		require.NoError(t, store.InsertArtifact(ctx, pool, a))
		_, err = pool.Exec(ctx, `UPDATE events SET created_at = $2::timestamptz + $3::interval WHERE run_id = $1 AND seq = $4`,
			run.ID, cutoff, off, e.Seq)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `UPDATE artifacts SET created_at = $2::timestamptz + $3::interval WHERE id = $1`, a.ID, cutoff, off)
		require.NoError(t, err)
	}
	fresh := &store.Event{RunID: run.ID, Kind: "note"}
	require.NoError(t, store.AppendEvent(ctx, pool, fresh))

	events, artifacts, err := store.Prune(ctx, pool, cutoff)
	require.NoError(t, err)
	require.EqualValues(t, 1, events, "only the event before the cutoff")
	require.EqualValues(t, 1, artifacts, "only the artifact before the cutoff")
	first, last, err := store.KeptEventSeqs(ctx, pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, [2]int64{2, fresh.Seq}, [2]int64{first, last})
	kept, err := store.ListArtifacts(ctx, pool, cycle.ID)
	require.NoError(t, err)
	require.Len(t, kept, 2)

	events, artifacts, err = store.Prune(ctx, pool, cutoff)
	require.NoError(t, err)
	require.Zero(t, events+artifacts, "pruning again removes nothing")
}

// TestPruneRecorded: each run remembers what retention took from it and
// when, for its page; a run that lost nothing says nothing, and a second
// prune adds to the counts.
func TestPruneRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	mk := func(branch string) (*store.Run, *store.Cycle) {
		run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: branch, Kind: state.RunSpec})
		require.NoError(t, err)
		c, err := store.InsertCycle(ctx, pool, run.ID, "push", "")
		require.NoError(t, err)
		return run, c
	}
	old, oldCycle := mk("old")
	fresh, freshCycle := mk("fresh")
	for i := 0; i < 3; i++ {
		require.NoError(t, store.AppendEvent(ctx, pool, &store.Event{RunID: old.ID, Kind: "note"}))
		require.NoError(t, store.AppendEvent(ctx, pool, &store.Event{RunID: fresh.ID, Kind: "note"}))
	}
	require.NoError(t, store.InsertArtifact(ctx, pool, &store.Artifact{CycleID: oldCycle.ID, Name: "a", Content: []byte("x")}))
	require.NoError(t, store.InsertArtifact(ctx, pool, &store.Artifact{CycleID: freshCycle.ID, Name: "a", Content: []byte("x")}))
	_, err := pool.Exec(ctx, `UPDATE events SET created_at = now() - interval '10 days' WHERE run_id = $1 AND seq <= 2`, old.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE artifacts SET created_at = now() - interval '10 days' WHERE cycle_id = $1`, oldCycle.ID)
	require.NoError(t, err)

	cutoff := time.Now().Add(-24 * time.Hour)
	events, artifacts, err := store.Prune(ctx, pool, cutoff)
	require.NoError(t, err)
	require.EqualValues(t, 2, events)
	require.EqualValues(t, 1, artifacts)
	p, err := store.GetPruned(ctx, pool, old.ID)
	require.NoError(t, err)
	require.EqualValues(t, 2, p.Events)
	require.EqualValues(t, 1, p.Artifacts)
	require.NotNil(t, p.At)
	require.WithinDuration(t, time.Now(), *p.At, time.Minute)
	require.WithinDuration(t, cutoff, *p.Before, time.Second)
	none, err := store.GetPruned(ctx, pool, fresh.ID)
	require.NoError(t, err)
	require.Equal(t, store.Pruned{}, none, "a run that lost nothing")

	_, err = pool.Exec(ctx, `UPDATE events SET created_at = now() - interval '10 days' WHERE run_id = $1`, old.ID)
	require.NoError(t, err)
	_, _, err = store.Prune(ctx, pool, cutoff)
	require.NoError(t, err)
	p, err = store.GetPruned(ctx, pool, old.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, p.Events, "counts add up over prunes")
}
