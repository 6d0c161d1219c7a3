package stack

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/workspace"
)

// SandboxLimits bound every sandboxed command of a cycle: memory bytes for
// all its processes where the sandbox has a memory cgroup, else an
// address-space limit per process high enough for V8 and Bun (see
// sandbox.AgentMemory).
func SandboxLimits(memory int64) sandbox.Limits {
	return sandbox.Limits{CPU: time.Hour, Memory: memory, AddressSpace: sandbox.AgentMemory, Processes: 512, Output: 4 << 20}
}

// NewEngine builds the cycle engine for cfg; extraRO are more read-only
// binds into every sandbox (the scripted agent). With SANDBOX=bwrap on a
// host where bubblewrap cannot create user namespaces it says so in one
// line and every cycle fails with that line: it never falls back to no
// sandbox.
func NewEngine(ctx context.Context, cfg *app.Config, logger *slog.Logger, extraRO []string) (*cycle.Engine, error) {
	driver, err := sandbox.NewFromEnv(cfg.Sandbox, func(k string) string {
		if k == "SANDBOX_CGROUP" {
			return cfg.SandboxCgroup
		}
		return os.Getenv(k)
	}, logger)
	if err != nil {
		return nil, err
	}
	if cgroup, how := sandbox.MemoryBound(driver); cgroup {
		logger.Info("sandbox memory bounded", "per_run", cfg.SandboxMemory, "by", how)
	} else {
		logger.Warn("sandbox memory bounded by address space only", "by", how,
			"fix", "run the worker in a cgroup v2 delegated to it (systemd Delegate=yes) or set SANDBOX_CGROUP")
	}
	// Baselines older than RETENTION go at start, like the artifacts.
	baselines := cycle.DirCache{Dir: filepath.Join(cfg.MirrorDir, "baselines")}
	if n := baselines.Prune(max(cfg.Retention, time.Hour)); n > 0 {
		logger.Info("pruned old verify baselines", "count", n)
	}
	runner := cycle.SandboxRunner{Driver: driver, Limits: SandboxLimits(cfg.SandboxMemory), ExtraRO: extraRO}
	e := &cycle.Engine{
		Redactor: agent.NewRedactor(append(cfg.Secrets(), ModelSecrets(os.Getenv)...)...),
		Logger:   logger,
		Getenv:   os.Getenv,
		// The baselines outlive the process beside the mirrors, so a chain
		// of cycles on one commit pays once even across restarts.
		Baselines: baselines,
	}
	// The stack's scripted agent binary doubles as the bridge; a server
	// copies its own binary next to the mirrors.
	bridge := ""
	if len(extraRO) > 0 && filepath.Base(extraRO[0]) == "specloop" {
		bridge = extraRO[0]
	}
	if err := AgentSetup(e, &runner, filepath.Join(cfg.MirrorDir, "bin"), bridge, os.Getenv, logger); err != nil {
		return nil, err
	}
	e.Runner = runner
	if cfg.Sandbox == "bwrap" {
		if err := sandbox.Check(ctx); err != nil {
			logger.Error("sandbox unavailable: cycles will fail until this is fixed", "err", err)
			e.SandboxErr = err
		}
	}
	return e, nil
}

// NewMirrors is the per-repo mirror cache of cfg's MIRROR_DIR, its working
// copies owned by the sandbox user when bwrap runs them.
func NewMirrors(cfg *app.Config, logger *slog.Logger) *workspace.Cache {
	m := &workspace.Cache{Dir: cfg.MirrorDir, Logger: logger, MaxBytes: cfg.MirrorMaxBytes}
	if cfg.Sandbox == "bwrap" {
		m.TreeOwner = SandboxOwner()
	}
	return m
}

// SweepMirrors removes what dead cycles left in m's directory (their
// mounts, working copies and half-built checkouts) before a worker starts
// its own; the cache logs what it removed. A failure is logged, not fatal:
// what it could not remove costs disk, not correctness.
func SweepMirrors(ctx context.Context, m *workspace.Cache, logger *slog.Logger) {
	if _, err := m.Sweep(ctx); err != nil {
		logger.Error("workspace: could not remove everything dead cycles left", "dir", m.Dir, "err", err)
	}
}

// SandboxOwner is who owns working copies: as root, bwrap runs commands as
// sandbox.SandboxUID, and trees made for that user need no handing over.
func SandboxOwner() *workspace.Owner {
	if os.Geteuid() != 0 {
		return nil
	}
	return &workspace.Owner{UID: sandbox.SandboxUID, GID: sandbox.SandboxUID}
}

// NewLinker signs run-page links with the webhook secret for a week.
func NewLinker(cfg *app.Config) *app.Links {
	return app.NewLinks(cfg.PublicURL, cfg.WebhookSecret, 7*24*time.Hour)
}
