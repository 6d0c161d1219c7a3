package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/handlers"
	"github.com/specloop/specloop/jobs"
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

	cfg    *app.Config
	logger *slog.Logger
	http   *http.Server
	intake *handlers.Intake
}

// ServerOptions are what the testdrive and tests set beyond the config.
type ServerOptions struct {
	ExtraRO []string // read-only binds into sandboxes (the scripted agent)
	// LeaseTTL, when set, overrides cfg.LeaseTTL (LEASE_TTL), for tests
	// that want a lease shorter than LEASE_TTL accepts.
	LeaseTTL time.Duration
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
		Pool: pool, GitHub: s.Clients, Logger: logger, PublicURL: cfg.PublicURL, AppSlug: s.AppSlug,
		Retention: cfg.Retention, Links: NewLinker(cfg), LeaseTTL: s.LeaseTTL,
	}
	if mode != "web" {
		jc.Workers = max(cfg.Workers, 1)
		if jc.Engine, err = NewEngine(ctx, cfg, logger, opts.ExtraRO); err != nil {
			pool.Close()
			return nil, err
		}
		jc.Mirrors = NewMirrors(cfg, logger)
	}
	if s.River, err = jobs.NewClient(jc); err != nil {
		pool.Close()
		return nil, err
	}
	if jc.Workers > 0 {
		if err := s.River.Start(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("start workers: %w", err)
		}
	}
	r := handlers.Router(nil, pool, metrics)
	var pages *handlers.RunPages
	if mode != "worker" {
		s.intake = handlers.NewIntake(webhookSecrets(cfg), pool, s.River, handlers.RouteConfig{AppID: cfg.AppID, AppSlug: s.AppSlug}, metrics, logger)
		r = handlers.Router(s.intake, pool, metrics)
		pages = &handlers.RunPages{Pool: pool, Links: NewLinker(cfg), Logger: logger}
		handlers.RegisterRunPages(r, pages)
		// An app is configured: the registration flow answers 410.
		r.PathPrefix("/setup").Handler(handlers.Setup(handlers.SetupOptions{Configured: true, Logger: logger}))
	}
	if listener == nil {
		listener, err = net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
		if err != nil {
			if serr := s.stopWorkers(5 * time.Second); serr != nil {
				logger.Error("stop workers", "err", serr)
			}
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

func (s *Server) stopWorkers(timeout time.Duration) error {
	if s.River == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A soft stop lets running jobs finish; past the timeout they are
	// cancelled, and every cycle still completes its check runs on the way out.
	if err := s.River.Stop(ctx); err != nil {
		hard, cancel2 := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel2()
		return s.River.StopAndCancel(hard)
	}
	return nil
}

// Shutdown stops taking requests, finishes in-flight ones, then stops the
// workers and closes the pool.
func (s *Server) Shutdown(timeout time.Duration) error {
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
	if err := s.stopWorkers(timeout); err != nil {
		errs = append(errs, fmt.Errorf("stop workers: %w", err))
	}
	s.Pool.Close()
	return errors.Join(errs...)
}
