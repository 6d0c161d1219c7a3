package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/workspace"
)

// sandboxLimits bound every sandboxed command of a cycle.
var sandboxLimits = sandbox.Limits{CPU: time.Hour, Memory: 8 << 30, Processes: 512, Output: 4 << 20}

// newEngine builds the cycle engine for cfg. With SANDBOX=bwrap on a host
// where bubblewrap cannot create user namespaces it says so in one line and
// every cycle fails with that line: it never falls back to no sandbox.
func newEngine(ctx context.Context, cfg *app.Config, logger *slog.Logger) (*jobs.Engine, error) {
	driver, err := sandbox.New(cfg.Sandbox, logger)
	if err != nil {
		return nil, err
	}
	e := &jobs.Engine{
		Runner:   jobs.SandboxRunner{Driver: driver, Limits: sandboxLimits},
		Mirrors:  &workspace.Cache{Dir: cfg.MirrorDir, Logger: logger},
		Redactor: agent.NewRedactor(cfg.Secrets()...),
		Logger:   logger,
		Getenv:   os.Getenv,
	}
	if cfg.Sandbox == "bwrap" {
		e.Mirrors.TreeOwner = sandboxOwner()
		if err := sandbox.Check(ctx); err != nil {
			logger.Error("sandbox unavailable: cycles will fail until this is fixed", "err", err)
			e.SandboxErr = err
		}
	}
	return e, nil
}

// sandboxOwner is who owns working copies: as root, bwrap runs commands as
// sandbox.SandboxUID, and trees made for that user need no handing over.
func sandboxOwner() *workspace.Owner {
	if os.Geteuid() != 0 {
		return nil
	}
	return &workspace.Owner{UID: sandbox.SandboxUID, GID: sandbox.SandboxUID}
}

func newLinker(cfg *app.Config) *app.Links {
	return app.NewLinks(cfg.PublicURL, cfg.WebhookSecret, 7*24*time.Hour)
}
