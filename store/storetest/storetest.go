// Package storetest gives each test its own migrated database on a real
// PostgreSQL server: the one TEST_DATABASE_URL names (scripts/pgtemp sets
// it), or else a throw-away cluster the test binary starts and removes.
package storetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/specloop/specloop/internal/pgtemp"
	"github.com/specloop/specloop/store"
)

// server is the test binary's database server, set up once by Main.
type server struct {
	adminURL string
	template string
	cluster  *pgtemp.Cluster
	seq      atomic.Int64
	err      error
	once     sync.Once
}

var srv server // one per test binary: the tests of a package share a server

// Main runs the package's tests and removes what it started. Call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if srv.template != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if conn, err := pgx.Connect(ctx, srv.adminURL); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{srv.template}.Sanitize()+" WITH (FORCE)")
			conn.Close(ctx)
		}
		cancel()
	}
	if srv.cluster != nil {
		srv.cluster.Stop()
	}
	os.Exit(code)
}

func (s *server) setup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.adminURL = os.Getenv("TEST_DATABASE_URL")
	if s.adminURL == "" {
		c, err := pgtemp.Start(ctx)
		if err != nil {
			s.err = fmt.Errorf("start a throw-away PostgreSQL (or set TEST_DATABASE_URL): %w", err)
			return
		}
		s.cluster = c
		s.adminURL = c.URL("postgres")
	}
	s.template = fmt.Sprintf("specloop_tmpl_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		s.err = fmt.Errorf("connect to test server: %w", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.template}.Sanitize()); err != nil {
		s.err = fmt.Errorf("create template database: %w", err)
		return
	}
	pool, err := pgxpool.New(ctx, WithDatabase(s.adminURL, s.template))
	if err != nil {
		s.err = err
		return
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		s.err = err
	}
}

// WithDatabase returns u with its database name replaced.
func WithDatabase(u, db string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	parsed.Path = "/" + db
	return parsed.String()
}

// URL creates a fresh, migrated database for t and returns its URL. The
// database is dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	return create(t, "t", true)
}

// create makes a database for t, from the migrated template or empty, and
// drops it when t ends.
func create(t testing.TB, kind string, migrated bool) string {
	t.Helper()
	srv.once.Do(srv.setup)
	if srv.err != nil {
		t.Fatalf("test database: %v", srv.err)
	}
	name := fmt.Sprintf("%s_%s%d", srv.template, kind, srv.seq.Add(1))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if migrated {
		sql += " TEMPLATE " + pgx.Identifier{srv.template}.Sanitize()
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.adminURL)
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), srv.adminURL)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return WithDatabase(srv.adminURL, name)
}

// Pool returns a pool on a fresh, migrated database for t.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("open test pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// EmptyURL creates a fresh database with nothing migrated, for tests of
// the migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return create(t, "e", false)
}
