package cycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
)

// ModelProxy opens a session of specloop's model API proxy for one agent
// run; modelproxy.Server implements it.
type ModelProxy interface {
	Open(ctx context.Context, o agent.ProxyOptions) (agent.ProxySession, error)
}

// Where the model proxy appears inside the sandbox: a Unix socket bound in,
// and a loopback port the bridge (the specloop binary, `model-bridge`)
// listens on and forwards to it.
const (
	proxySocketIn = "/run/specloop/model.sock"
	proxyPortIn   = "127.0.0.1:41100"
)

// ErrNoBridge means a cycle wants network: model on an engine with no
// bridge binary to carry it into the sandbox.
var ErrNoBridge = errors.New("network: model needs the model proxy, which this worker does not run")

// runAgent runs the agent of role on prompt: its preset's command (or the
// configured one), its credentials swapped for a placeholder behind the
// model proxy, a private git directory and the cycle's home.
func (p *pass) runAgent(ctx context.Context, role agent.Role, prompt string, live io.Writer) (*agent.Outcome, error) {
	e := p.e
	ac := &p.cfg.Agent
	if role == agent.Auditor {
		ac = p.cfg.AuditorConfig()
	}
	preset, hasPreset := agent.Presets[ac.Preset]
	command := ac.Command
	if command == "" {
		command = preset.Command
	}
	env := map[string]string{}
	maps.Copy(env, p.env)
	if ac != &p.cfg.Agent {
		env = e.agentEnv(&repoconfig.Config{Agent: *ac})
	}
	home, err := p.home()
	if err != nil {
		return nil, fmt.Errorf("agent: making its home: %w", err)
	}
	if role == agent.Auditor && hasPreset && ac.Command == "" && preset.AuditFlags != nil {
		if err := os.WriteFile(filepath.Join(home, ".specloop-verdict-schema.json"), []byte(agent.VerdictSchema), 0o644); err != nil {
			return nil, fmt.Errorf("agent: writing the verdict schema: %w", err)
		}
		command += " " + preset.AuditFlags(`"$HOME/.specloop-verdict-schema.json"`)
	}
	var mounts []agent.Mount
	if gv, err := p.wd.GitView(); err != nil {
		e.Logger.Warn("git view for the sandbox", "err", err)
	} else {
		defer gv.Close()
		mounts = append(mounts, agent.Mount{Src: gv.Dir, Dst: gv.At, Writable: true})
		for _, o := range gv.Objects {
			mounts = append(mounts, agent.Mount{Src: o})
		}
	}
	if hasPreset {
		// The CLI's own directory first, so the preset's binary is the one
		// the worker resolved.
		env["PATH"] = e.toolPath(preset.Binary)
	}

	network := ac.Network != repoconfig.NetworkNone
	var session agent.ProxySession
	if ac.Network == repoconfig.NetworkModel && hasPreset {
		network = false
		if e.Proxy == nil || e.Bridge == "" {
			return nil, ErrNoBridge
		}
		name, cred := preset.Credential(e.getenv)
		if cred == "" {
			return nil, fmt.Errorf("agent: %w", &MissingCredentialError{Preset: preset})
		}
		basePath := ""
		if preset.BaseEnv == "OPENAI_BASE_URL" {
			basePath = "/v1"
		}
		session, err = e.Proxy.Open(ctx, agent.ProxyOptions{
			Preset: preset, CredentialName: name, Credential: cred, Upstream: preset.APIBase(e.getenv),
			BasePath: basePath, Budget: p.budget(),
		})
		if err != nil {
			return nil, fmt.Errorf("agent: opening the model proxy: %w", err)
		}
		defer session.Close()
		// A runner that cannot mount (the none driver, development only)
		// shares the host's paths and network: the socket where it is, and
		// a free loopback port of the host's.
		sockIn, portIn := proxySocketIn, proxyPortIn
		if m, ok := e.Runner.(interface{ Mounts() bool }); ok && !m.Mounts() {
			sockIn = session.Socket()
			if portIn, err = freeLoopbackPort(); err != nil {
				return nil, fmt.Errorf("agent: a port for the model proxy's bridge: %w", err)
			}
		}
		base := "http://" + portIn + basePath
		maps.Copy(env, preset.SandboxEnv(base, session.Key()))
		if preset.Setup != nil {
			if err := preset.Setup(home, base); err != nil {
				return nil, err
			}
		}
		mounts = append(mounts, agent.Mount{Src: session.Socket(), Dst: sockIn}, agent.Mount{Src: e.Bridge})
		command = e.Bridge + " model-bridge --listen " + portIn + " --socket " + sockIn + " -- /bin/sh -c " + shellQuote(command)
	}

	out, err := agent.Run(ctx, e.Runner, command, role, prompt, agent.RunOptions{
		Dir: p.wd.Path, Env: env, Network: network, Timeout: time.Duration(ac.Timeout), LogCap: e.LogCap,
		Redactor: e.Redactor, Mounts: mounts, Home: home, Output: live,
	})
	if out != nil && !out.Cancelled && !out.TimedOut {
		var pp *agent.Preset
		if hasPreset {
			pp = &preset
		}
		out.Failure = agent.Diagnose(pp, out.Log, out.ExitCode)
	}
	if session != nil && out != nil {
		calls := session.Calls()
		for i := range calls {
			calls[i].Role = role
		}
		p.calls = append(p.calls, calls...)
		if u, cost, ok := agent.SumCalls(calls); ok {
			// The proxy saw every token: its count beats the agent's own.
			out.Tokens, out.CostUSD, out.TokensFrom = &u, cost, "model proxy"
		}
		if lim := session.Exceeded(); lim != "" {
			out.BudgetHit = lim
		}
	}
	p.tokens(out)
	return out, err
}

// budget is what is left of the repo's limits for this cycle's next run.
func (p *pass) budget() agent.Budget {
	l := p.cfg.Limits
	b := agent.Budget{Tokens: l.TokensPerRun, USD: l.USDPerRun, USDDay: l.USDPerDay,
		SpentTokens: p.in.Spent.RunTokens, SpentUSD: p.in.Spent.RunUSD, SpentToday: p.in.Spent.DayUSD}
	if u, cost, ok := agent.SumCalls(p.calls); ok {
		b.SpentTokens += int64(u.Total)
		b.SpentUSD += cost
		b.SpentToday += cost
	}
	return b
}

// home is the cycle's home directory, shared by its agent runs and made
// on first use; Run removes it.
func (p *pass) home() (string, error) {
	if p.homeDir != "" {
		return p.homeDir, nil
	}
	dir, err := os.MkdirTemp("", "specloop-home-")
	if err != nil {
		return "", err
	}
	p.homeDir = dir
	return dir, nil
}

// toolPath is the PATH inside the sandbox: the directory the worker finds
// binary in, then the worker's tool paths' bin directories, then the
// system's.
func (e *Engine) toolPath(binary string) string {
	var dirs []string
	if e.LookPath != nil {
		if p, err := e.LookPath(binary); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	return strings.Join(append(dirs, "/usr/local/bin", "/usr/bin", "/bin"), ":")
}

func (e *Engine) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// MissingCredentialError is a preset run on a worker that holds none of
// its credentials.
type MissingCredentialError struct{ Preset agent.Preset }

func (m *MissingCredentialError) Error() string {
	return fmt.Sprintf("no credential for the %s preset on this worker: set %s in the worker's environment (see docs/agents.md)",
		m.Preset.Name, strings.Join(m.Preset.Credentials, " or "))
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cleanup removes what the cycle's agent runs left on the host.
func (p *pass) cleanup() {
	if p.homeDir != "" {
		if err := os.RemoveAll(p.homeDir); err != nil {
			p.e.Logger.Warn("remove the agents' home", "dir", p.homeDir, "err", err)
		}
	}
}

// tokensCell says what a run used, and who counted it; never invented.
func tokensCell(out *agent.Outcome) string {
	if out.Tokens == nil {
		return "not reported by the agent"
	}
	t := out.Tokens
	cached := ""
	if t.Cached > 0 {
		cached = fmt.Sprintf(" (%d cached)", t.Cached)
	}
	from := ""
	switch out.TokensFrom {
	case "model proxy":
		from = ", counted at the model proxy"
	case "agent":
		from = ", as the agent reported"
	}
	return fmt.Sprintf("%d in%s, %d out, %d total%s", t.Input, cached, t.Output, t.Total, from)
}

// costCell is the run's cost in US dollars, "" when unknown.
func costCell(out *agent.Outcome) string {
	if out.CostUSD <= 0 {
		return ""
	}
	return fmt.Sprintf("$%.4f", out.CostUSD)
}

// budgetSpent ends the cycle action_required: the model proxy refused the
// agent's requests because a limit of the repo's config is spent. ev is
// the step it happened in.
func (p *pass) budgetSpent(ev *Evidence, limit string) {
	markBudget(ev, limit)
	p.res.BudgetHit = limit
	p.conclude(state.ActionRequired, BudgetMessage(limit))
}

func markBudget(ev *Evidence, limit string) {
	ev.Conclusion, ev.Title = state.ActionRequired, "Model budget spent: "+limit
	ev.Summary += "\n" + BudgetMessage(limit) + "\n"
}

// BudgetMessage says which limit stopped a cycle and how to go on; the
// workers post it on the PR.
func BudgetMessage(limit string) string {
	key, _, _ := strings.Cut(limit, " ")
	how := "raise `" + key + "` in `.github/specloop.yml` (or remove it) and comment `/loop retry`"
	if key == "limits.usd_per_day" {
		how += ", or wait until tomorrow (UTC), when the day's budget starts again"
	}
	return "The model budget " + limit + " is spent: the model proxy refused the agent's next request, so this cycle stopped and nothing was pushed. To go on, " + how + "."
}

// freeLoopbackPort is a loopback address with a port free a moment ago.
func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
