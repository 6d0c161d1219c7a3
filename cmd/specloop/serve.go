package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/handlers"
	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/store"
)

// server is a running specloop: HTTP, workers or both.
type server struct {
	cfg      *app.Config
	logger   *slog.Logger
	pool     *pgxpool.Pool
	river    *river.Client[pgx.Tx]
	http     *http.Server
	addr     string
	appSlug  string
	clients  *app.Clients
	intake   *handlers.Intake
	leaseTTL time.Duration
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func runServe(mode string) func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		fs := flag.NewFlagSet("specloop "+mode, flag.ContinueOnError)
		fs.SetOutput(stderr)
		envFile := fs.String("env-file", "", "read configuration from this file (KEY=value lines) before the environment")
		setup := fs.Bool("setup", false, "with no app configured yet, serve only /setup to register one (writes --env-file)")
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if *setup && mode != "worker" {
			if _, err := os.Stat(*envFile); *envFile != "" && errors.Is(err, os.ErrNotExist) {
				return runSetup(ctx, os.Getenv, *envFile, stderr)
			}
		}
		getenv, err := envWithFile(*envFile)
		if err != nil {
			fmt.Fprintln(stderr, "specloop:", err)
			return 1
		}
		if *setup && mode != "worker" && getenv("APP_ID") == "" {
			return runSetup(ctx, getenv, *envFile, stderr)
		}
		cfg, err := app.Load(getenv, "webhook", "app", "database")
		if err != nil {
			fmt.Fprintln(stderr, "specloop: cannot start:", strings.ReplaceAll(err.Error(), "\n", "; "),
				"(no app yet? `specloop serve --setup --env-file specloop.env` registers one)")
			return 1
		}
		logger := newLogger(stderr, cfg.LogLevel)
		s, err := startServer(ctx, mode, cfg, logger, nil, serverOptions{})
		if err != nil {
			fmt.Fprintln(stderr, "specloop: cannot start:", strings.Join(strings.Fields(err.Error()), " "))
			return 1
		}
		logger.Info("specloop started", "mode", mode, "version", version, "addr", s.addr, "workers", cfg.Workers, "sandbox", cfg.Sandbox)
		<-ctx.Done()
		logger.Info("shutting down")
		if err := s.shutdown(30 * time.Second); err != nil {
			logger.Error("shutdown", "err", err)
			return 1
		}
		return 0
	}
}

// envWithFile layers KEY=value lines of a file (the setup flow writes one)
// under the process environment.
func envWithFile(path string) (app.Getenv, error) {
	if path == "" {
		return os.Getenv, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	vals := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("env file %s line %d: want KEY=value", path, i+1)
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		vals[strings.TrimSpace(k)] = v
	}
	return func(k string) string {
		if v, ok := os.LookupEnv(k); ok {
			return v
		}
		return vals[k]
	}, nil
}

// serverOptions are what the testdrive and tests set beyond the config.
type serverOptions struct {
	ExtraRO  []string      // read-only binds into sandboxes (the scripted agent)
	LeaseTTL time.Duration // cycle lease; 0 = 30 s
}

// startServer connects, migrates and starts what mode asks for. listener
// may be given (tests, testdrive); else PORT is used.
func startServer(ctx context.Context, mode string, cfg *app.Config, logger *slog.Logger, listener net.Listener, opts serverOptions) (*server, error) {
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, logger: logger, pool: pool, leaseTTL: opts.LeaseTTL}
	if _, err := store.Migrate(ctx, pool, logger); err != nil {
		pool.Close()
		return nil, err
	}
	metrics := handlers.NewMetrics(pool)
	clients, err := app.NewClients(cfg, app.WithRegisterer(metrics.Registry))
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.clients = clients
	deps := &jobs.Deps{
		Pool: pool, GitHub: clients, Logger: logger, PublicURL: cfg.PublicURL,
		Retention: cfg.Retention, Links: newLinker(cfg), LeaseTTL: opts.LeaseTTL,
	}
	s.appSlug = appSlug(ctx, clients, logger)
	deps.AppSlug = s.appSlug
	workers := 0
	if mode != "web" {
		workers = max(cfg.Workers, 1)
		engine, err := newEngine(ctx, cfg, logger)
		if err != nil {
			pool.Close()
			return nil, err
		}
		if r, ok := engine.Runner.(jobs.SandboxRunner); ok {
			r.ExtraRO = opts.ExtraRO
			engine.Runner = r
		}
		deps.Engine = engine
	}
	s.river, err = jobs.NewClient(deps, jobs.ClientOptions{Workers: workers})
	if err != nil {
		pool.Close()
		return nil, err
	}
	if workers > 0 {
		if err := s.river.Start(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("start workers: %w", err)
		}
	}
	var root http.Handler
	var pages *handlers.RunPages
	r := handlers.Router(nil, pool, metrics)
	if mode != "worker" {
		s.intake = handlers.NewIntake(webhookSecrets(cfg), pool, s.river, handlers.RouteConfig{AppID: cfg.AppID, AppSlug: s.appSlug}, metrics, logger)
		r = handlers.Router(s.intake, pool, metrics)
		pages = &handlers.RunPages{Pool: pool, Links: newLinker(cfg), Logger: logger}
		handlers.RegisterRunPages(r, pages)
		// An app is configured: the registration flow answers 410.
		r.PathPrefix("/setup").Handler(handlers.Setup(handlers.SetupOptions{Configured: true, Logger: logger}))
	}
	root = r
	if listener == nil {
		listener, err = net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
		if err != nil {
			s.stopWorkers(5 * time.Second)
			pool.Close()
			return nil, fmt.Errorf("listen on port %d: %w (set PORT to a free port)", cfg.Port, err)
		}
	}
	s.addr = listener.Addr().String()
	s.http = &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second}
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

func (s *server) stopWorkers(timeout time.Duration) error {
	if s.river == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A soft stop lets running jobs finish; past the timeout they are
	// cancelled, and every cycle still completes its check runs on the way out.
	if err := s.river.Stop(ctx); err != nil {
		hard, cancel2 := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel2()
		return s.river.StopAndCancel(hard)
	}
	return nil
}

// shutdown stops taking requests, finishes in-flight ones, then stops the
// workers and closes the pool.
func (s *server) shutdown(timeout time.Duration) error {
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
	s.pool.Close()
	return errors.Join(errs...)
}

// runSetup serves only the app registration flow (GET /setup) until the
// callback has written the env file; then specloop is restarted with it.
func runSetup(ctx context.Context, getenv app.Getenv, envFile string, stderr io.Writer) int {
	if envFile == "" {
		fmt.Fprintln(stderr, "specloop: --setup needs --env-file: where to write the new app's credentials")
		return 2
	}
	cfg, err := app.Load(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "specloop:", err)
		return 1
	}
	logger := newLogger(stderr, cfg.LogLevel)
	r := http.NewServeMux()
	setup := handlers.Setup(handlers.SetupOptions{
		Manifest: specloop.Manifest, PublicURL: cfg.PublicURL, GitHubURL: getenv("GITHUB_URL"),
		APIURL: getenv("GITHUB_API_URL"), EnvFile: envFile, Logger: logger,
	})
	r.Handle("/setup", setup)
	r.Handle("/setup/", setup)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		fmt.Fprintf(stderr, "specloop: listen on port %d: %v (set PORT to a free port)\n", cfg.Port, err)
		return 1
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	logger.Info("no app configured: open the setup page to register one", "url", cfg.PublicURL+"/setup", "env_file", envFile)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return 0
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := app.Load(os.Getenv, "database")
	if err != nil {
		fmt.Fprintln(stderr, "specloop migrate:", err)
		return 1
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		fmt.Fprintln(stderr, "specloop migrate:", err)
		return 1
	}
	defer pool.Close()
	applied, err := store.Migrate(ctx, pool, newLogger(stderr, cfg.LogLevel))
	if err != nil {
		fmt.Fprintln(stderr, "specloop migrate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "migrations applied: %v\n", applied)
	return 0
}
