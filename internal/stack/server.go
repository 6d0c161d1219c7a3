package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/handlers"
	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/store"
)

// Server is a running specloop: HTTP, workers or both.
type Server struct {
	Pool     *pgxpool.Pool
	River    *river.Client[pgx.Tx]
	Clients  *app.Clients
	Addr     string // where HTTP listens
	AppSlug  string
	LeaseTTL time.Duration
	WorkerID string // this process in cycle leases ("<WorkerID>/job-<id>")

	cfg      *app.Config
	logger   *slog.Logger
	stopOnce sync.Once
	stopErr  error
	http     *http.Server
	intake   *handlers.Intake
	// stopListen ends the stop listener, and listenDone closes when it has.
	stopListen context.CancelFunc
	listenDone chan struct{}
	// stopUI ends the queue UI's background services.
	stopUI context.CancelFunc
	// stopHouse ends the process's Housekeeper, and houseDone closes when
	// it has.
	stopHouse context.CancelFunc
	houseDone chan struct{}
	house     *jobs.Housekeeper
}

// ServerOptions are what the testdrive and tests set beyond the config.
type ServerOptions struct {
	// WorkerID names this process in cycle leases; "" makes one up.
	WorkerID string
	ExtraRO  []string // read-only binds into sandboxes (the scripted agent)
	// LeaseTTL, when set, overrides cfg.LeaseTTL (LEASE_TTL), for tests
	// that want a lease shorter than LEASE_TTL accepts.
	LeaseTTL time.Duration
	// Keepalive, LiveEvery and ProgressEvery override the event stream's
	// keepalive (15 s), the live log's chunk interval and the progress
	// comment's edit interval, for tests.
	Keepalive     time.Duration
	LiveEvery     time.Duration
	ProgressEvery time.Duration
}

// StartServer connects, migrates and starts what mode asks for ("serve",
// "web" or "worker"). listener may be given (tests, testdrive); else PORT
// is used.
func StartServer(ctx context.Context, mode string, cfg *app.Config, logger *slog.Logger, listener net.Listener, opts ServerOptions) (*Server, error) {
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger, Pool: pool, LeaseTTL: cfg.LeaseTTL}
	if opts.LeaseTTL > 0 {
		s.LeaseTTL = opts.LeaseTTL
	}
	if _, err := store.Migrate(ctx, pool, logger); err != nil {
		pool.Close()
		return nil, err
	}
	metrics := handlers.NewMetrics(pool)
	if s.Clients, err = app.NewClients(cfg, app.WithRegisterer(metrics.Registry)); err != nil {
		pool.Close()
		return nil, err
	}
	s.AppSlug = appSlug(ctx, s.Clients, logger)
	jc := jobs.Config{
		WorkerID: opts.WorkerID,
		Pool:     pool, GitHub: s.Clients, Logger: logger, PublicURL: cfg.PublicURL, AppSlug: s.AppSlug,
		Retention: cfg.Retention, Links: NewLinker(cfg), LeaseTTL: s.LeaseTTL, EvidenceKeys: cfg.EvidenceKeys,
		LiveEvery: opts.LiveEvery, ProgressEvery: opts.ProgressEvery, PodReapEvery: cfg.KubeReapEvery, SandboxImages: cfg.KubeImages,
	}
	if mode != "web" {
		jc.Workers = max(cfg.Workers, 1)
		if jc.Engine, err = NewEngine(ctx, cfg, logger, append(slices.Clone(cfg.SandboxTools), opts.ExtraRO...)); err != nil {
			pool.Close()
			return nil, err
		}
		if cfg.EvidenceKeys == nil || cfg.EvidenceKeys.Current == nil {
			logger.Warn("EVIDENCE_KEY is not set: statements of what ran are pushed unsigned, and the check runs say so")
		}
		// Sandboxes that outlive a dead worker (kubernetes pods) are the
		// reaper's to delete.
		if sr, ok := jc.Engine.Runner.(cycle.SandboxRunner); ok {
			jc.Sandboxes, _ = sr.Driver.(sandbox.Reaper)
		}
		jc.Mirrors = NewMirrors(cfg, logger)
		SweepMirrors(ctx, jc.Mirrors, logger)
		// One session per process tells its running cycles of a stop at
		// once; it outlives the workers, which Shutdown stops first.
		stops := store.NewStopListener(pool, logger)
		jc.Stops = stops
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.stopListen, s.listenDone = cancel, make(chan struct{})
		go func() {
			defer close(s.listenDone)
			stops.Run(lctx)
		}()
	}
	jc = jc.WithDefaults()
	s.WorkerID = jc.WorkerID
	if s.River, err = jobs.NewClient(jc); err != nil {
		s.endStopListener()
		pool.Close()
		return nil, err
	}
	if jc.Workers > 0 {
		// This process reaps dead workers' cycles and jobs and prunes its
		// own MIRROR_DIR itself, whichever process River elected leader;
		// its liveness lock is held before it fetches any job.
		hk := jobs.NewHousekeeper(jc, s.River)
		if err := hk.Hold(ctx); err != nil {
			s.endStopListener()
			pool.Close()
			return nil, fmt.Errorf("start workers: %w", err)
		}
		s.house = hk
		// River cancels running jobs when its start context ends, and the
		// signal's context ends at SIGTERM: the workers get one of their
		// own, so a stop lets cycles finish (Shutdown) instead.
		if err := s.River.Start(context.WithoutCancel(ctx)); err != nil {
			hk.Release()
			s.endStopListener()
			pool.Close()
			return nil, fmt.Errorf("start workers: %w", err)
		}
		hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.stopHouse, s.houseDone = cancel, make(chan struct{})
		go func() {
			defer close(s.houseDone)
			hk.Run(hctx)
		}()
	}
	r := handlers.Router(nil, pool, metrics)
	var pages *handlers.RunPages
	if mode != "worker" {
		s.intake = handlers.NewIntake(webhookSecrets(cfg), pool, s.River, handlers.RouteConfig{AppID: cfg.AppID, AppSlug: s.AppSlug}, metrics, logger)
		r = handlers.Router(s.intake, pool, metrics)
		pages = &handlers.RunPages{Pool: pool, Links: NewLinker(cfg), Logger: logger, Keepalive: opts.Keepalive}
		handlers.RegisterRunPages(r, pages)
		if err := s.mountOperator(ctx, r, cfg, logger); err != nil {
			s.endStopListener()
			pool.Close()
			return nil, err
		}
		handlers.RegisterTrigger(r, &handlers.Trigger{Pool: pool, Jobs: s.River, Links: NewLinker(cfg), Logger: logger})
		// An app is configured: the registration flow answers 410.
		r.PathPrefix("/setup").Handler(handlers.Setup(handlers.SetupOptions{Configured: true, Logger: logger}))
	}
	if listener == nil {
		listener, err = net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
		if err != nil {
			if serr := s.stopWorkers(5 * time.Second); serr != nil {
				logger.Error("stop workers", "err", serr)
			}
			s.endHousekeeper()
			s.endStopListener()
			pool.Close()
			return nil, fmt.Errorf("listen on port %d: %w (set PORT to a free port)", cfg.Port, err)
		}
	}
	s.Addr = listener.Addr().String()
	s.http = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second}
	if pages != nil {
		s.http.RegisterOnShutdown(pages.Shutdown)
	}
	go func() {
		if err := s.http.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "err", err)
		}
	}()
	return s, nil
}

// appSlug asks GitHub who the app is, so its own comments are recognised;
// without an answer, comments by any bot are ignored anyway.
func appSlug(ctx context.Context, clients *app.Clients, logger *slog.Logger) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a, _, err := clients.App().Apps.Get(ctx, "")
	if err != nil {
		logger.Warn("could not read the app from GitHub (check APP_ID and the private key)", "err", err)
		return ""
	}
	return a.GetSlug()
}

func webhookSecrets(cfg *app.Config) []string {
	return []string{cfg.WebhookSecret, cfg.WebhookSecretPrevious}
}

// stopWorkers claims nothing new and lets running cycles finish for grace;
// past it their jobs are cancelled, and each cycle hands itself over to
// another worker (jobs.CycleWorker), completing its check runs on the way.
func (s *Server) stopWorkers(grace time.Duration) error {
	if s.River == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.River.Stop(ctx); err != nil {
		hard, cancel2 := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel2()
		return s.River.StopAndCancel(hard)
	}
	return nil
}

// Shutdown stops taking requests and finishes in-flight ones within
// timeout, then stops the workers within SHUTDOWN_GRACE and closes the
// pool.
func (s *Server) Shutdown(timeout time.Duration) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(timeout) })
	return s.stopErr
}

func (s *Server) shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if s.intake != nil {
		s.intake.Close()
	}
	if s.stopUI != nil {
		s.stopUI()
	}
	if err := s.stopWorkers(s.cfg.ShutdownGrace); err != nil {
		errs = append(errs, fmt.Errorf("stop workers: %w", err))
	}
	s.endHousekeeper()
	s.endStopListener()
	s.Pool.Close()
	return errors.Join(errs...)
}

func (s *Server) endStopListener() {
	if s.stopListen != nil {
		s.stopListen()
		<-s.listenDone
	}
}

// endHousekeeper stops the Housekeeper and lets go of the liveness lock:
// call it once the workers have stopped.
func (s *Server) endHousekeeper() {
	if s.stopHouse != nil {
		s.stopHouse()
		<-s.houseDone
	}
	if s.house != nil {
		s.house.Release()
	}
}
