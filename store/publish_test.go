package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// TestRecordPublished: a cycle's publish is recorded under its fence and
// read back by whoever takes the cycle over; a worker that lost the cycle
// records nothing.
func TestRecordPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	c, err := store.InsertCycle(ctx, pool, run.ID, "label", "")
	require.NoError(t, err)

	got, err := store.GetPublished(ctx, pool, c.ID)
	require.NoError(t, err)
	require.Nil(t, got, "nothing published yet")

	_, fence, err := store.ClaimCycle(ctx, pool, c.ID, "w1", time.Minute, 0)
	require.NoError(t, err)
	require.NoError(t, store.RecordPublished(ctx, pool, c.ID, fence, "abc123", []byte(`{"conclusion":"success"}`)))
	require.ErrorIs(t, store.RecordPublished(ctx, pool, c.ID, fence+1, "def456", []byte(`{}`)), store.ErrFenced)

	got, err = store.GetPublished(ctx, pool, c.ID)
	require.NoError(t, err)
	require.Equal(t, "abc123", got.SHA)
	require.JSONEq(t, `{"conclusion":"success"}`, string(got.Result))
}
