package cycle

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/emulator/modelapi"
	"github.com/specloop/specloop/internal/agentclis"
	"github.com/specloop/specloop/modelproxy"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

// requireCLI fails the test unless the npm prefix holds bin.
func requireCLI(t *testing.T, bin string) {
	t.Helper()
	dir := agentclis.Dir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", bin)); err != nil {
		t.Fatalf("the real %s CLI is not installed under %s: run .ci/run: %v", bin, dir, err)
	}
}

// realSetup is a worker as production wires it: bwrap, the model proxy, the
// bridge, the CLIs' npm prefix as a tool path.
type realSetup struct {
	engine *Engine
	api    *modelapi.Server
	parent string
	owner  *workspace.Owner
}

// realKey is the credential the worker holds: it must never be seen in the
// sandbox, the logs or the evidence.
const realKey = "sk-real-7e3c1a9f0b2d4e6f8a1c3e5b7d9f0a2c"

func newRealSetup(t *testing.T, env map[string]string, script ...modelapi.Step) *realSetup {
	t.Helper()
	clis := agentclis.Dir(t)
	if err := sandbox.Check(t.Context()); err != nil {
		t.Fatalf("bwrap cannot sandbox on this host: %v", err)
	}
	parent := t.TempDir()
	require.NoError(t, os.Chmod(parent, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(parent), 0o755))
	bin := installSelf(t, filepath.Join(parent, "bin"))
	api := modelapi.New(script...)
	url, err := api.Start()
	require.NoError(t, err)
	t.Cleanup(api.Close)
	worker := map[string]string{
		"CODEX_API_KEY": realKey, "OPENAI_BASE_URL": url + "/v1",
		"ANTHROPIC_API_KEY": realKey, "ANTHROPIC_BASE_URL": url,
		"GEMINI_API_BASE": url,
	}
	for k, v := range env {
		worker[k] = v
	}
	prices, err := modelproxy.LoadPrices("")
	require.NoError(t, err)
	driver, err := sandbox.New("bwrap", discardLogger())
	require.NoError(t, err)
	binDir := filepath.Join(clis, "node_modules", ".bin")
	e := &Engine{
		Runner: SandboxRunner{Driver: driver, ExtraRO: []string{clis},
			Limits: sandbox.Limits{CPU: 600e9, Memory: 4 << 30, AddressSpace: sandbox.AgentMemory, Processes: 512, Output: 4 << 20}},
		Redactor: agent.NewRedactor(realKey),
		Logger:   discardLogger(),
		Getenv:   func(k string) string { return worker[k] },
		Proxy:    modelproxy.New("", prices, discardLogger()),
		Bridge:   bin,
		LookPath: func(name string) (string, error) {
			p := filepath.Join(binDir, name)
			_, err := os.Stat(p)
			return p, err
		},
	}
	var owner *workspace.Owner
	if os.Geteuid() == 0 {
		owner = &workspace.Owner{UID: sandbox.SandboxUID, GID: sandbox.SandboxUID}
	}
	return &realSetup{engine: e, api: api, parent: parent, owner: owner}
}

// cycle runs one cycle on a fresh repository whose config is config.
func (r *realSetup) cycle(t *testing.T, config string) (*Result, *workspace.Workdir) {
	t.Helper()
	files := map[string]string{
		"specs/demo.md": demoSpec(""),
		"README.md":     "# demo\n",
		repoconfig.Path: config,
	}
	dir := filepath.Join(r.parent, fmt.Sprintf("repo-%d", len(r.api.Requests())))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	wd := newWorkdir(t, dir, files, r.owner)
	cfg, err := repoconfig.Parse([]byte(config))
	require.NoError(t, err)
	sp, err := spec.Parse("specs/demo.md", []byte(files["specs/demo.md"]))
	require.NoError(t, err)
	return r.engine.Run(t.Context(), wd, Input{Config: cfg, Spec: sp}, &recorder{}), wd
}

// structuredPass is the auditor's answer through the structured channel.
var structuredPass = map[string]any{"verdict": "pass", "summary": "hello.txt says hello, as the obligation asks", "findings": []any{}}

// TestRealAgentCLIs runs the real Codex and Claude Code CLIs through whole
// cycles in bwrap, against the model-API stand-in through the model proxy.
func TestRealAgentCLIs(t *testing.T) {
	t.Parallel()
	for _, preset := range []string{"codex", "claude", "gemini", "opencode"} {
		t.Run(preset, func(t *testing.T) {
			t.Parallel()
			// Codex and Claude Code hold their final answer to the verdict
			// schema; Gemini CLI and opencode have no such flag: their
			// verdict is a JSON block in the final message.
			verdictStep, channel := modelapi.Step{Structured: structuredPass, Usage: modelapi.Usage{Input: 2000, Cached: 0, Output: 60}}, "structured output"
			if preset == "gemini" || preset == "opencode" {
				requireCLI(t, preset)
				verdictStep = modelapi.Step{Text: "Reviewed.\n\n```json\n{\"verdict\": \"pass\", \"summary\": \"hello.txt says hello, as the obligation asks\", \"findings\": []}\n```\n",
					Usage: modelapi.Usage{Input: 2000, Output: 60}}
				channel = "final message"
			}
			r := newRealSetup(t, map[string]string{"GEMINI_API_KEY": realKey, "OPENAI_API_KEY": realKey},
				modelapi.Step{Shell: "git status --short; echo hello > hello.txt; env > /tmp/env.txt; " +
					"cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' > /tmp/proc.txt; " +
					// The key in two halves, so that the command itself (which the
					// CLI records in its session) does not hold it.
					"A=" + realKey[:10] + "; B=" + realKey[10:] + "; grep -rl \"$A$B\" $HOME /tmp/env.txt /tmp/proc.txt . > leak.txt 2>/dev/null; echo leak-check-done >> leak.txt; " +
					"(curl -sS -m 5 https://example.com || wget -q -T 5 -O- https://example.com || echo other-host-refused) > net.txt 2>&1", Usage: modelapi.Usage{Input: 1200, Cached: 300, Output: 80}},
				modelapi.Step{Text: "I wrote hello.txt.", Usage: modelapi.Usage{Input: 1500, Cached: 1000, Output: 40}},
				verdictStep,
			)
			res, wd := r.cycle(t, "agent: "+preset+"\nverify: {command: \"grep -q hello hello.txt\"}\n")
			impl := res.Step(StepImplement)
			require.NotNil(t, impl, res.Summary)
			require.Equal(t, state.Success, res.Conclusion, "%s\n%s\n%s", res.Summary, impl.Summary, impl.Text)
			require.Contains(t, changeList(res.Changes), "A hello.txt")
			// The tokens shown are those the stand-in reported, counted at
			// the proxy.
			rep := r.api.Reported()
			var implIn, implOut int
			for _, c := range res.ModelCalls {
				if c.Role == agent.Implementer {
					implIn += c.Input
					implOut += c.Output
				}
			}
			require.Equal(t, rep.Input, sumCalls(res.ModelCalls, func(c agent.ModelCall) int { return c.Input }))
			require.Equal(t, rep.Output, sumCalls(res.ModelCalls, func(c agent.ModelCall) int { return c.Output }))
			require.Contains(t, impl.Summary, fmt.Sprintf("| tokens | %d in", implIn), impl.Summary)
			require.Contains(t, impl.Summary, fmt.Sprintf(", %d out,", implOut), impl.Summary)
			require.Contains(t, impl.Summary, "model proxy")
			audit := res.Step(StepAudit)
			require.Equal(t, state.Success, audit.Conclusion, audit.Summary)
			require.Contains(t, audit.Summary, "from the "+channel)
			require.Contains(t, audit.Summary, "hello.txt says hello")

			leak, err := wd.ReadFile("leak.txt")
			require.NoError(t, err)
			require.Equal(t, "leak-check-done\n", string(leak), "the real key is nowhere in the sandbox (env, home, /proc, tree)")
			netOut, err := wd.ReadFile("net.txt")
			require.NoError(t, err)
			require.Contains(t, string(netOut), "other-host-refused")
			for _, ev := range res.Steps {
				require.NotContains(t, string(ev.Log)+ev.Summary+ev.Text, realKey, ev.Step)
			}
			for _, q := range r.api.Requests() {
				if q.Method == "POST" {
					require.Contains(t, q.Header.Get("Authorization")+q.Header.Get("X-Api-Key")+q.Header.Get("X-Goog-Api-Key"), realKey, "the proxy swapped the placeholder for the real key")
				}
			}
		})
	}
}

func sumCalls(calls []agent.ModelCall, f func(agent.ModelCall) int) int {
	n := 0
	for _, c := range calls {
		n += f(c)
	}
	return n
}

// TestRealAgentBudget stops real CLIs at limits.tokens_per_run: the
// proxy refuses the request past it in the API's error shape, the CLI
// shows it, and the cycle ends action_required naming the limit.
func TestRealAgentBudget(t *testing.T) {
	t.Parallel()
	for _, preset := range []string{"codex", "claude", "gemini"} {
		t.Run(preset, func(t *testing.T) {
			t.Parallel()
			r := newRealSetup(t, map[string]string{"GEMINI_API_KEY": realKey},
				modelapi.Step{Shell: "echo hello > hello.txt", Usage: modelapi.Usage{Input: 1500, Output: 100}},
				modelapi.Step{Text: "Done.", Usage: modelapi.Usage{Input: 1600, Output: 10}},
			)
			res, _ := r.cycle(t, "agent: "+preset+"\nlimits: {tokens_per_run: 1000}\nverify: {command: \"true\"}\n")
			impl := res.Step(StepImplement)
			require.NotNil(t, impl, res.Summary)
			require.Equal(t, state.ActionRequired, res.Conclusion, "%s\n%s", res.Summary, impl.Text)
			require.Equal(t, "limits.tokens_per_run (1000 tokens)", res.BudgetHit)
			require.Contains(t, res.Summary, "The model budget limits.tokens_per_run (1000 tokens) is spent")
			require.Contains(t, res.Summary, "raise `limits.tokens_per_run` in `.github/specloop.yml`")
			require.Equal(t, "Model budget spent: limits.tokens_per_run (1000 tokens)", impl.Title)
			// The CLI printed the proxy's refusal: the user sees why.
			require.Contains(t, string(impl.Log), "budget limits.tokens_per_run (1000 tokens) is spent")
			require.False(t, res.Publish)
			last := res.ModelCalls[len(res.ModelCalls)-1]
			require.Equal(t, "limits.tokens_per_run (1000 tokens)", last.Refused)
			forwarded := 0
			for _, c := range res.ModelCalls {
				if c.Refused == "" {
					forwarded++
				}
			}
			require.Len(t, r.api.Requests(), forwarded, "no refused request reached the API")
			require.Positive(t, r.api.Remaining())
		})
	}
}

// TestRealAgentFailsLoudly checks that a CLI that rejects its flags, is
// missing or is not logged in fails implement with the CLI's own error line
// and the fix, never "no change".
func TestRealAgentFailsLoudly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, config string
		env          map[string]string
		line, fix    string
		notOnWorker  string // a CLI the worker does not have
	}{
		{"codex given a removed flag", "agent: {preset: codex, command: \"codex exec --full-auto -\"}\n", nil,
			"error: unexpected argument '--full-auto' found", "the codex CLI rejected its flags", ""},
		{"claude given an unknown flag", "agent: {preset: claude, command: \"claude -p --bogus\"}\n", nil,
			"error: unknown option '--bogus'", "the claude CLI rejected its flags", ""},
		{"opencode not installed", "agent: opencode\n", map[string]string{"OPENAI_API_KEY": realKey},
			"opencode: not found", "the opencode CLI is not found inside the sandbox: install it on the worker (npm install -g opencode-ai)", "opencode"},
		{"claude not logged in", "agent: {preset: claude, network: none}\n", nil,
			"Not logged in", "the model API refused the credential: check the worker's key (ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN)", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRealSetup(t, tc.env)
			if tc.notOnWorker != "" {
				look := r.engine.LookPath
				r.engine.LookPath = func(name string) (string, error) {
					if name == tc.notOnWorker {
						return "", os.ErrNotExist
					}
					return look(name)
				}
			}
			res, _ := r.cycle(t, tc.config+"verify: {command: \"true\"}\n")
			impl := res.Step(StepImplement)
			require.NotNil(t, impl, res.Summary)
			require.Equal(t, state.Failure, res.Conclusion, "%s\n%s", res.Summary, impl.Text)
			require.Contains(t, res.Summary, tc.line, impl.Text)
			require.Contains(t, res.Summary, tc.fix)
			require.Contains(t, impl.Summary, "**Error:** `")
			require.NotContains(t, res.Summary, "no change")
		})
	}
}

// TestAnyCLIThroughThePreset: a command of one's own, given the preset of
// the API it speaks, reaches that API through the proxy with the
// placeholder key, and its usage is counted there.
func TestAnyCLIThroughThePreset(t *testing.T) {
	t.Parallel()
	r := newRealSetup(t, nil, modelapi.Step{Text: "hi", Usage: modelapi.Usage{Input: 70, Output: 7}})
	agentCmd := `curl -sS -H "Authorization: Bearer $OPENAI_API_KEY" -H "Content-Type: application/json" ` +
		`-d '{"model":"gpt-5","stream":false,"tools":[{"type":"function","name":"x"}]}' "$OPENAI_BASE_URL/responses" > answer.json`
	res, wd := r.cycle(t, fmt.Sprintf("agent: {preset: codex, command: %q}\naudit: false\nverify: {command: \"true\"}\n", agentCmd))
	require.Equal(t, state.Success, res.Conclusion, "%s\n%s", res.Summary, res.Step(StepImplement).Text)
	answer, err := wd.ReadFile("answer.json")
	require.NoError(t, err)
	require.Contains(t, string(answer), `"output_text"`)
	require.Len(t, res.ModelCalls, 1)
	require.Equal(t, 70, res.ModelCalls[0].Input)
	require.Contains(t, res.Step(StepImplement).Summary, "| tokens | 70 in, 7 out, 77 total, counted at the model proxy |")
	require.Contains(t, r.api.Requests()[0].Header.Get("Authorization"), realKey)
}

// TestProxyWithoutSandbox: with the none driver (development only) the
// bridge runs on the host, on a free port, with the socket where it is.
func TestProxyWithoutSandbox(t *testing.T) {
	t.Parallel()
	r := newRealSetup(t, nil, modelapi.Step{Text: "hi", Usage: modelapi.Usage{Input: 70, Output: 7}})
	d, err := sandbox.New("none", discardLogger())
	require.NoError(t, err)
	r.engine.Runner = SandboxRunner{Driver: d}
	agentCmd := `curl -sS -H "Authorization: Bearer $OPENAI_API_KEY" -d '{"model":"gpt-5","tools":[{"type":"function","name":"x"}]}' "$OPENAI_BASE_URL/responses" > answer.json`
	res, wd := r.cycle(t, fmt.Sprintf("agent: {preset: codex, command: %q}\naudit: false\nverify: {command: \"true\"}\n", agentCmd))
	require.Equal(t, state.Success, res.Conclusion, "%s\n%s", res.Summary, res.Step(StepImplement).Text)
	answer, err := wd.ReadFile("answer.json")
	require.NoError(t, err)
	require.Contains(t, string(answer), `"output_text"`)
	require.Contains(t, res.Step(StepImplement).Summary, "| tokens | 70 in, 7 out, 77 total, counted at the model proxy |")
}
