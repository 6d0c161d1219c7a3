package store

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StopChannel is the LISTEN/NOTIFY channel on which a stop requested for a
// running cycle is announced; the payload is the cycle's id.
const StopChannel = "specloop_stop"

// listenerAppName names the listener's session in pg_stat_activity.
const listenerAppName = "specloop-stop-listener"

// StopListener tells a process's running cycles that a stop was requested
// for them, as soon as the request commits: one dedicated connection
// LISTENs on StopChannel and calls the function watching the cycle. A lost
// connection is reopened, and each (re)connect looks up the stops it may
// have missed; the cycles' heartbeats remain the fallback.
type StopListener struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	backend atomic.Uint32 // pid of the listening session; 0 while there is none

	mu      sync.Mutex
	next    uint64
	watches map[int64]map[uint64]func()
}

// NewStopListener makes a listener on pool's database; Run starts it.
func NewStopListener(pool *pgxpool.Pool, logger *slog.Logger) *StopListener {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &StopListener{pool: pool, logger: logger, watches: map[int64]map[uint64]func(){}}
}

// Watch calls stop (once per notification, from the listener's goroutine,
// so it must not block) when a stop of cycle id is announced, until the
// returned function is called. The caller checks the cycle's
// stop_requested once after Watch: a stop committed before it is not
// announced again.
func (l *StopListener) Watch(id int64, stop func()) (unwatch func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	key := l.next
	if l.watches[id] == nil {
		l.watches[id] = map[uint64]func(){}
	}
	l.watches[id][key] = stop
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.watches[id], key)
		if len(l.watches[id]) == 0 {
			delete(l.watches, id)
		}
	}
}

// Backend is the pid of the session listening now, 0 while there is none.
// It is set once the session listens and has looked up missed stops.
func (l *StopListener) Backend() uint32 { return l.backend.Load() }

// Run listens until ctx ends, reconnecting (after 50 ms, doubling to 5 s)
// whenever the connection is lost.
func (l *StopListener) Run(ctx context.Context) {
	const minWait, maxWait = 50 * time.Millisecond, 5 * time.Second
	wait := minWait
	for ctx.Err() == nil {
		listened, err := l.listen(ctx)
		l.backend.Store(0)
		if ctx.Err() != nil {
			return
		}
		if listened {
			wait = minWait
		}
		l.logger.Warn("stop listener lost its connection; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// listen runs one connection until it fails; listened says it got as far
// as listening.
func (l *StopListener) listen(ctx context.Context) (listened bool, err error) {
	cfg := l.pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = listenerAppName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect the stop listener: %w", err)
	}
	defer func() {
		// A dead peer must not hold the reconnect up.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{StopChannel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen on %s: %w", StopChannel, err)
	}
	// Stops committed while no session listened were announced to nobody.
	if err := l.recheck(ctx, conn); err != nil {
		return true, err
	}
	l.backend.Store(conn.PgConn().PID())
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for stops: %w", err)
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			l.logger.Warn("stop notification with a bad payload", "payload", n.Payload)
			continue
		}
		l.fire(id)
	}
}

// recheck fires the watched cycles whose stop is already requested.
func (l *StopListener) recheck(ctx context.Context, db DB) error {
	l.mu.Lock()
	ids := make([]int64, 0, len(l.watches))
	for id := range l.watches {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, `SELECT id FROM cycles WHERE id = ANY($1) AND stop_requested AND state = 'running'`, ids)
	if err != nil {
		return fmt.Errorf("look up missed stops: %w", err)
	}
	stopped, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("look up missed stops: %w", err)
	}
	for _, id := range stopped {
		l.fire(id)
	}
	return nil
}

func (l *StopListener) fire(id int64) {
	l.mu.Lock()
	fns := make([]func(), 0, len(l.watches[id]))
	for _, fn := range l.watches[id] {
		fns = append(fns, fn)
	}
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
