package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

func TestRepoConfigCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	_, err := store.GetRepoConfig(ctx, pool, "acme/widgets")
	require.ErrorIs(t, err, store.ErrNotFound)

	in := &store.RepoConfig{Repo: "acme/widgets", InstallationID: 7, DefaultBranch: "main", CloneURL: "http://x/acme/widgets.git",
		HeadSHA: "abc", Config: []byte("label: bot\n")}
	require.NoError(t, store.SaveRepoConfig(ctx, pool, in))
	got, err := store.GetRepoConfig(ctx, pool, "acme/widgets")
	require.NoError(t, err)
	require.Equal(t, "abc", got.HeadSHA)
	require.Equal(t, "label: bot\n", string(got.Config))
	require.False(t, got.Stale)

	require.NoError(t, store.InvalidateRepoConfig(ctx, pool, "acme/widgets"))
	got, err = store.GetRepoConfig(ctx, pool, "acme/widgets")
	require.NoError(t, err)
	require.True(t, got.Stale, "a push to the default branch makes the read stale")

	in.HeadSHA, in.Config = "def", nil
	require.NoError(t, store.SaveRepoConfig(ctx, pool, in))
	got, err = store.GetRepoConfig(ctx, pool, "acme/widgets")
	require.NoError(t, err)
	require.False(t, got.Stale, "a fresh read is not stale")
	require.Nil(t, got.Config, "no config file is remembered as none")

	require.NoError(t, store.ForgetInstallationConfigs(ctx, pool, 7))
	_, err = store.GetRepoConfig(ctx, pool, "acme/widgets")
	require.ErrorIs(t, err, store.ErrNotFound)
}
