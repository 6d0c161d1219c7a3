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

	"github.com/specloop/specloop"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/handlers"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/store"
)

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
		s, err := stack.StartServer(ctx, mode, cfg, logger, nil, stack.ServerOptions{})
		if err != nil {
			fmt.Fprintln(stderr, "specloop: cannot start:", strings.Join(strings.Fields(err.Error()), " "))
			return 1
		}
		logger.Info("specloop started", "mode", mode, "version", version, "addr", s.Addr, "workers", cfg.Workers, "sandbox", cfg.Sandbox)
		<-ctx.Done()
		logger.Info("shutting down")
		if err := s.Shutdown(30 * time.Second); err != nil {
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
