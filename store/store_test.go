package store_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

func TestMain(m *testing.M) {
	if url := os.Getenv("SPECLOOP_MIGRATE_CHILD"); url != "" {
		os.Exit(migrateChild(url))
	}
	storetest.Main(m)
}

// migrateChild is the body of the second process in TestMigrateTwoProcesses.
func migrateChild(url string) int {
	ctx := context.Background()
	pool, err := store.Open(ctx, url)
	if err != nil {
		return 3
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool, discard()); err != nil {
		os.Stderr.WriteString(err.Error())
		return 1
	}
	return 0
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, storetest.EmptyURL(t))
	require.NoError(t, err)
	defer pool.Close()

	pending, err := store.Pending(ctx, pool)
	require.NoError(t, err)
	require.NotEmpty(t, pending, "an empty database has every migration pending")

	first, err := store.Migrate(ctx, pool, discard())
	require.NoError(t, err)
	require.NotEmpty(t, first)
	second, err := store.Migrate(ctx, pool, discard())
	require.NoError(t, err)
	require.Empty(t, second, "the second run applies nothing")

	pending, err = store.Pending(ctx, pool)
	require.NoError(t, err)
	require.Empty(t, pending)
	var riverTable bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('river_job') IS NOT NULL").Scan(&riverTable))
	require.True(t, riverTable, "River's tables are migrated too")
}

func TestMigrateTwoProcesses(t *testing.T) {
	t.Parallel()
	url := storetest.EmptyURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([][]byte, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "SPECLOOP_MIGRATE_CHILD="+url)
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range 2 {
		require.NoError(t, errs[i], "process %d: %s", i, outs[i])
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	var n, distinct int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM specloop_migrations").Scan(&n, &distinct))
	require.Equal(t, distinct, n, "each version applied once")
	pending, err := store.Pending(ctx, pool)
	require.NoError(t, err)
	require.Empty(t, pending)
}

func TestInsertDeliveryOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.Pool(t)
	d := &store.Delivery{GUID: "g-1", Event: "ping", Body: []byte(`{}`)}
	inserted, err := store.InsertDeliveries(ctx, pool, []*store.Delivery{d})
	require.NoError(t, err)
	require.True(t, inserted["g-1"])
	other := &store.Delivery{GUID: "g-2", Event: "ping", Body: []byte(`{}`), InstallationID: 7}
	inserted, err = store.InsertDeliveries(ctx, pool, []*store.Delivery{d, other, other})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"g-2": true}, inserted, "a repeated GUID, recorded or in the batch, is not inserted again")
	got, err := store.GetDelivery(ctx, pool, "g-1")
	require.NoError(t, err)
	require.Equal(t, "ping", got.Event)
	require.Zero(t, got.InstallationID)
}
