package stack

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/store"
)

// Check is one line of `specloop doctor`.
type Check struct {
	Name string
	// Level is "ok", "warn" (works, but something a preset needs is
	// missing) or "fail" (cycles cannot run as configured).
	Level  string
	Detail string
	// Fix says what to do; "" when Level is ok.
	Fix string
}

// Doctor checks a worker host: each preset's CLI and its version, the
// credentials (named, never printed), the tool paths, the sandbox, the
// database and GitHub. getenv is the worker's environment.
func Doctor(ctx context.Context, getenv func(string) string) []Check {
	var out []Check
	add := func(name, level, detail, fix string) { out = append(out, Check{name, level, detail, fix}) }
	look := lookPathIn(getenv("PATH"))

	found := 0
	for _, name := range agent.PresetNames() {
		p := agent.Presets[name]
		path, err := look(p.Binary)
		if err != nil {
			add("agent "+name, "warn", p.Binary+" not found on PATH", "install it ("+installCmd(name)+") if repos use agent: "+name)
			continue
		}
		found++
		version, err := cliVersion(ctx, path)
		if err != nil {
			add("agent "+name, "fail", fmt.Sprintf("%s at %s does not run: %v", p.Binary, path, err), "reinstall it ("+installCmd(name)+")")
			continue
		}
		add("agent "+name, "ok", version+" at "+path, "")
		if cred, _ := p.Credential(getenv); cred != "" {
			detail := cred + " is set"
			if base := getenv(p.BaseEnv); base != "" {
				detail += "; API base " + base + " (" + p.BaseEnv + ")"
			}
			add("credential "+name, "ok", detail, "")
		} else {
			add("credential "+name, "warn", "none of "+strings.Join(p.Credentials, ", ")+" is set",
				"set one in the worker's environment (see docs/agents.md); the sandbox never sees it, the model proxy does")
		}
	}
	if found == 0 {
		add("agents", "fail", "no preset's CLI is installed", "install Codex or Claude Code (deploy/Dockerfile does), or give repos a command:")
	}

	var left []string
	logger := slog.New(slog.DiscardHandler)
	tools := ToolPaths(getenv, look, logger)
	for _, p := range candidatesLeftOut(getenv, look, tools) {
		left = append(left, p)
	}
	switch {
	case len(left) > 0:
		add("tool paths", "fail", "not reachable by the sandbox user: "+strings.Join(left, ", "),
			"install the CLIs where other users can search (/opt, /usr/local, /var/cache), or chmod o+x the directories on the way")
	case len(tools) == 0:
		add("tool paths", "ok", "the CLIs live under /usr: nothing more to bind", "")
	default:
		add("tool paths", "ok", "bound read-only: "+strings.Join(tools, ", "), "")
	}

	driver := getenv("SANDBOX")
	if driver == "" {
		driver = "bwrap"
	}
	switch driver {
	case "bwrap":
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := sandbox.Check(cctx)
		cancel()
		if err != nil {
			add("sandbox", "fail", err.Error(), "see docs/deploy.md")
		} else {
			add("sandbox", "ok", "bwrap creates user, PID and network namespaces", "")
		}
		add(memoryCheck(getenv))
	case "none":
		add("sandbox", "warn", "SANDBOX=none: agents run without isolation", "use bwrap outside development")
	default:
		add("sandbox", "ok", "driver "+driver, "")
	}

	if db := getenv("DATABASE_URL"); db == "" {
		add("database", "fail", "DATABASE_URL is not set", "set it to a PostgreSQL URL")
	} else {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pool, err := store.Open(cctx, db)
		if err == nil {
			err = pool.Ping(cctx)
			pool.Close()
		}
		cancel()
		if err != nil {
			add("database", "fail", "cannot connect: "+err.Error(), "check DATABASE_URL and that PostgreSQL is up")
		} else {
			add("database", "ok", "connected", "")
		}
	}

	cfg, err := app.Load(getenv, "app")
	if err != nil {
		add("github", "fail", strings.ReplaceAll(err.Error(), "\n", "; "), "set APP_ID and PRIVATE_KEY or PRIVATE_KEY_PATH")
		return out
	}
	clients, err := app.NewClients(cfg)
	if err != nil {
		add("github", "fail", err.Error(), "check APP_ID and the private key")
		return out
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a, _, err := clients.App().Apps.Get(cctx, "")
	if err != nil {
		add("github", "fail", "GET /app at "+cfg.GitHubAPIURL+": "+err.Error(), "check APP_ID, the private key and GITHUB_API_URL")
	} else {
		add("github", "ok", "app "+a.GetSlug()+" at "+cfg.GitHubAPIURL, "")
	}
	return out
}

// candidatesLeftOut are the tool paths ToolPaths had to leave out.
func candidatesLeftOut(getenv func(string) string, look func(string) (string, error), kept []string) []string {
	var out []string
	var cands []string
	if v := getenv("SANDBOX_TOOLS"); v != "" {
		cands = strings.Split(v, ":")
	} else {
		for _, name := range append(agent.PresetNames(), "node") {
			bin := name
			if p, ok := agent.Presets[name]; ok {
				bin = p.Binary
			}
			if p, err := look(bin); err == nil {
				cands = append(cands, toolRoots(p)...)
			}
		}
	}
	for _, p := range cands {
		if p == "" || systemPath(p) {
			continue
		}
		if err := searchable(p); err != nil && !contains(kept, p) && !contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// cliVersion runs `path --version` and returns its first line.
func cliVersion(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w: %s", path, err, strings.TrimSpace(string(b)))
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line, nil
}

func installCmd(preset string) string {
	switch preset {
	case "codex":
		return "npm install -g @openai/codex@" + CodexVersion
	case "claude":
		return "npm install -g @anthropic-ai/claude-code@" + ClaudeCodeVersion
	case "gemini":
		return "npm install -g @google/gemini-cli@" + GeminiCLIVersion
	case "opencode":
		return "npm install -g opencode-ai@" + OpencodeVersion
	}
	return "see docs/agents.md"
}

// The CLI releases the presets are tested against (.ci/run installs them,
// deploy/Dockerfile ships them).
const (
	CodexVersion      = "0.171.0"
	ClaudeCodeVersion = "2.1.197"
	GeminiCLIVersion  = "0.61.0"
	OpencodeVersion   = "1.18.33"
)

// memoryCheck says how bwrap will bound a run's memory on this host: a
// cgroup v2 limit of SANDBOX_MEMORY, or only an address-space limit.
func memoryCheck(getenv func(string) string) (name, status, detail, fix string) {
	name = "sandbox memory"
	memory, err := app.SandboxMemory(getenv)
	if err != nil {
		return name, "fail", err.Error(), "give a size such as 4GiB"
	}
	d, err := sandbox.NewFromEnv("bwrap", getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		return name, "fail", err.Error(), "fix SANDBOX_CGROUP, or unset it to use the worker's own cgroup"
	}
	cgroup, how := sandbox.MemoryBound(d)
	if cgroup {
		return name, "ok", fmt.Sprintf("%d MiB per run (SANDBOX_MEMORY), as %s", memory>>20, how), ""
	}
	return name, "warn", fmt.Sprintf("%s; %d GiB of address space per process instead", how, sandbox.AgentMemory>>30),
		"run the worker in a cgroup v2 delegated to it (systemd: Delegate=yes; see docs/deploy.md) or set SANDBOX_CGROUP"
}
