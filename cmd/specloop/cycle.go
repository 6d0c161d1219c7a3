package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/attest"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

// runCycle is `specloop cycle --repo DIR [--spec FILE]`: one cycle of the
// same engine on a local checkout, with no GitHub and no database. The
// result is left on a local branch and the evidence printed.
func runCycle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("specloop cycle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repo := fs.String("repo", ".", "the local git checkout")
	specPath := fs.String("spec", "", "the spec file, relative to the repo (default: the first spec with work left)")
	sb := fs.String("sandbox", envOr("SANDBOX", "bwrap"), "sandbox driver: bwrap or none")
	agentCmd := fs.String("agent", "", "agent preset (codex, claude, gemini, opencode) or command (default: agent of .github/specloop.yml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "specloop cycle: "+format+"\n", a...)
		return 1
	}
	dir, err := filepath.Abs(*repo)
	if err != nil {
		return fail("%v", err)
	}
	head, err := gitOut(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return fail("%s is not a git checkout with a commit: %v", dir, err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfgSrc, _ := gitOut(ctx, dir, "show", "HEAD:"+repoconfig.Path)
	cfg, err := repoconfig.Parse([]byte(cfgSrc))
	if err != nil {
		return fail("%v", err)
	}
	if *agentCmd != "" {
		// A preset's name, or any command (which gets the network a plain
		// command gets by default).
		if _, ok := agent.Presets[*agentCmd]; ok {
			cfg.Agent.Preset, cfg.Agent.Command, cfg.Agent.Network = *agentCmd, "", repoconfig.NetworkModel
		} else {
			cfg.Agent.Preset, cfg.Agent.Command, cfg.Agent.Network = "", *agentCmd, repoconfig.NetworkFull
		}
	}
	driver, err := sandbox.New(*sb, logger)
	if err != nil {
		return fail("%v", err)
	}
	if *sb == "bwrap" {
		if err := sandbox.Check(ctx); err != nil {
			return fail("%v (or run with --sandbox none on a machine you trust)", err)
		}
	}
	cacheDir, err := os.MkdirTemp("", "specloop-cycle-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(cacheDir)
	if err := os.Chmod(cacheDir, 0o755); err != nil { // the sandbox user must be able to enter it
		return fail("%v", err)
	}
	cache := &workspace.Cache{Dir: cacheDir, Logger: logger}
	if *sb == "bwrap" {
		cache.TreeOwner = stack.SandboxOwner()
	}
	if _, err := cache.Fetch(ctx, dir, ""); err != nil {
		return fail("%v", err)
	}
	wd, err := cache.Checkout(ctx, dir, head)
	if err != nil {
		return fail("%v", err)
	}
	defer wd.Close()
	sp, err := pickSpec(wd, cfg, *specPath)
	if err != nil {
		return fail("%v", err)
	}
	// This binary is the scripted agent and the model proxy's bridge: the
	// sandbox runs it from a copy it can reach, at the path configs name,
	// whatever directory it was installed in (go install: root's 0700 home).
	bin, err := stack.InstallBinary(filepath.Join(cacheDir, "bin"))
	if err != nil {
		return fail("%v", err)
	}
	memory, err := app.SandboxMemory(os.Getenv)
	if err != nil {
		return fail("%v", err)
	}
	runner := cycle.SandboxRunner{Driver: driver, Limits: stack.SandboxLimits(memory)}
	if exe, err := os.Executable(); err == nil {
		runner.Binds = append(runner.Binds, sandbox.Bind{Src: bin, Dst: exe})
	}
	engine := &cycle.Engine{
		Redactor: agent.NewRedactor(stack.ModelSecrets(os.Getenv)...),
		Logger:   logger,
	}
	if err := stack.AgentSetup(engine, &runner, "", bin, os.Getenv, logger); err != nil {
		return fail("%v", err)
	}
	engine.Runner = runner
	if cache, err := os.UserCacheDir(); err == nil {
		engine.Baselines = cycle.DirCache{Dir: filepath.Join(cache, "specloop", "baselines")}
	}
	keys := &app.Config{}
	if errs := app.LoadEvidenceKeys(keys, os.Getenv); len(errs) > 0 {
		return fail("%v", errors.Join(errs...))
	}
	fmt.Fprintf(stdout, "specloop cycle on %s at %.12s, spec %s\n", dir, head, sp.Path)
	res := engine.Run(ctx, wd, cycle.Input{Config: cfg, Spec: sp, Repo: dir}, printReporter{w: stdout})
	fmt.Fprintf(stdout, "\nconclusion: %s\n%s\n", res.Conclusion, res.Summary)
	if !res.Publish {
		return exitFor(res.Conclusion)
	}
	// The same commit as on GitHub, onto a local branch instead of a PR.
	branch := cfg.SpecBranch(sp.Path)
	change := &publish.Change{
		Spec: sp, Obligation: res.Obligation, Conclusion: res.Conclusion, Ticked: res.Ticked, Draft: res.Draft,
		Context: "a local cycle", Author: workspace.Signature{Name: "specloop", Email: "specloop@localhost"}, Branch: branch,
		Trailers: publish.Trailers("local", res),
		Note: publish.SealNote(keys.EvidenceKeys, publish.StatementInput{Repo: dir, Branch: branch, Run: "local", StartCommit: head,
			AgentCommand: agent.CommandOf(cfg.Agent.Preset, cfg.Agent.Command), AgentPreset: cfg.Agent.Preset,
			AuditorCommand: agent.CommandOf(cfg.AuditorConfig().Preset, cfg.AuditorConfig().Command), AuditorPreset: cfg.AuditorConfig().Preset,
			Now: time.Now()}, res, nil),
	}
	out, err := publish.Publish(ctx, publish.Local{Dir: dir, BranchPrefix: cfg.BranchPrefix}, wd, change)
	if err != nil {
		return fail("%v", err)
	}
	engine.CacheAfter(dir, out.SHA, res)
	fmt.Fprintf(stdout, "result: commit %.12s on local branch %s (git log %s)\n", out.SHA, branch, branch)
	switch {
	case out.NoteErr != nil:
		fmt.Fprintf(stdout, "statement: not attached: %v\n", out.NoteErr)
	case keys.EvidenceKeys.Current == nil:
		fmt.Fprintf(stdout, "statement: attached unsigned in %s (set EVIDENCE_KEY to sign it)\n", attest.NotesRef)
	default:
		fmt.Fprintf(stdout, "statement: signed and attached in %s (specloop verify-evidence --repo %s %.12s)\n", attest.NotesRef, dir, out.SHA)
	}
	return exitFor(res.Conclusion)
}

func exitFor(conclusion state.Conclusion) int {
	switch conclusion {
	case state.Success, state.Neutral:
		return 0
	}
	return 1
}

// pickSpec reads the named spec, or the first spec (in path order) with an
// open obligation.
func pickSpec(wd *workspace.Workdir, cfg *repoconfig.Config, path string) (*spec.Spec, error) {
	if path != "" {
		src, err := wd.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read spec: %w", err)
		}
		return spec.Parse(path, src)
	}
	paths, err := cfg.SpecFiles(wd.Path)
	if err != nil {
		return nil, err
	}
	var first *spec.Spec
	for _, p := range paths {
		src, err := wd.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s, err := spec.Parse(p, src)
		if err != nil {
			return nil, err
		}
		s.IncludeOptional = cfg.IncludeOptional
		if first == nil {
			first = s
		}
		if _, ok := s.Next(); ok {
			return s, nil
		}
	}
	if first == nil {
		where := strings.Join(cfg.Specs, ", ")
		if cfg.Discovers() {
			where = "specs/, .kiro/specs/ or openspec/changes/"
		}
		return nil, errors.New("no spec found under " + where + ": pass --spec FILE")
	}
	return first, nil
}

type printReporter struct{ w io.Writer }

func (p printReporter) Selected(_ context.Context, ob *spec.Obligation) {
	if ob == nil {
		fmt.Fprintln(p.w, "\n== select ==\nno open obligation")
		return
	}
	fmt.Fprintf(p.w, "\n== select ==\n%s: %s\n", ob.ID, ob.Text)
}

func (p printReporter) StepStarted(_ context.Context, step string) {
	fmt.Fprintf(p.w, "\n== %s ==\n", step)
}

func (p printReporter) StepFinished(_ context.Context, step string, ev *cycle.Evidence) {
	fmt.Fprintf(p.w, "%s: %s — %s\n%s\n", step, ev.Conclusion, ev.Title, ev.Summary)
	for _, f := range ev.Findings {
		fmt.Fprintf(p.w, "  %s:%d: %s\n", f.File, f.Line, f.Message)
	}
	// A failed step shows how its log ended: the agent's own error is
	// there, not in its exit code.
	switch ev.Conclusion {
	case state.Success, state.Neutral, state.Skipped, state.Cancelled:
	default:
		if len(ev.Log) > 0 {
			fmt.Fprintf(p.w, "--- %s log (last lines) ---\n%s\n---\n", step, strings.TrimRight(markdown.Tail(string(ev.Log), 4000), "\n"))
		}
	}
}

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
