package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator/modelapi"
	"github.com/specloop/specloop/internal/agentclis"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// e2eKey is the worker's model credential; it must show nowhere but in
// the requests the proxy sends upstream.
const e2eKey = "sk-e2e-4f1d2c3b5a69788796a5b4c3d2e1f0aa"

// modelAPI starts the model-API stand-in, answering as model (or as the
// model each request names, when ""), and gives the worker the real CLIs
// on its PATH and e2eKey as every preset's credential, with their base
// URLs at the stand-in. The caller must not be parallel (t.Setenv).
func modelAPI(t *testing.T, model string) *modelapi.Server {
	t.Helper()
	clis := agentclis.Dir(t)
	api := modelapi.New()
	api.Model = model
	url, err := api.Start()
	require.NoError(t, err)
	t.Cleanup(api.Close)
	t.Setenv("PATH", filepath.Join(clis, "node_modules", ".bin")+":"+os.Getenv("PATH"))
	t.Setenv("CODEX_API_KEY", e2eKey)
	t.Setenv("OPENAI_BASE_URL", url+"/v1")
	t.Setenv("ANTHROPIC_API_KEY", e2eKey)
	t.Setenv("ANTHROPIC_BASE_URL", url)
	t.Setenv("GEMINI_API_KEY", e2eKey)
	t.Setenv("GEMINI_API_BASE", url)
	t.Setenv("OPENAI_API_KEY", e2eKey)
	return api
}

// botSaid is every comment on issue or PR n of repo, joined.
func botSaid(t *testing.T, st *stack.Stack, repo string, n int) string {
	t.Helper()
	comments, _, err := st.UserClient("maintainer").Issues.ListComments(context.Background(), st.Owner, repo, n, nil)
	require.NoError(t, err)
	var said []string
	for _, c := range comments {
		said = append(said, c.GetBody())
	}
	return strings.Join(said, "\n---\n")
}

// TestRealAgentsOnGitHub runs the real Codex, Claude Code, Gemini CLI and
// opencode through whole cycles of the stack on the GitHub emulator,
// against the model-API stand-in through the model proxy: the change lands
// on the PR, verify runs, the auditor's verdict comes through the CLI's
// structured output (a JSON block in the final message for the CLIs
// without one), the check run's tokens are those the stand-in reported,
// the key is nowhere in the sandbox, the logs or the artifacts, other hosts
// are refused, and a budget stops a run with a comment naming the limit.
func TestRealAgentsOnGitHub(t *testing.T) {
	// Not parallel: the worker's environment is the process's (t.Setenv).
	api := modelAPI(t, "")
	st := newStack(t, stack.Options{})
	ctx := context.Background()

	// The key in two halves, so that the command (which the CLIs record
	// in their sessions) does not hold it.
	probe := "echo hello > hello.txt; A=" + e2eKey[:8] + "; B=" + e2eKey[8:] + "; " +
		"(env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n') > /tmp/seen.txt; " +
		// Files over 2 MiB are left out: Codex links or copies its own
		// binaries (hundreds of MiB) into a home that is not under /tmp, as
		// the pod's is, and grepping them outlasts its command timeout.
		"find /tmp/seen.txt \"$HOME\" . -type f -size -2048k -exec grep -l \"$A$B\" {} + > leak.txt 2>/dev/null; echo checked >> leak.txt; " +
		"(curl -sS -m 5 https://example.com/ 2>&1 || echo direct-refused) > net.txt; " +
		// A sandbox image without curl (the kubernetes one: busybox) asks
		// the proxy with nc.
		"if command -v curl >/dev/null; then curl -sS -m 5 -x http://127.0.0.1:41100 http://example.com/; " +
		"else (printf 'GET http://example.com/ HTTP/1.0\\r\\nHost: example.com\\r\\n\\r\\n'; sleep 2) | nc 127.0.0.1 41100; fi >> net.txt 2>&1"
	verdict := map[string]any{"verdict": "pass", "summary": "hello.txt holds the greeting", "findings": []any{}}

	presets := []string{"codex", "claude", "gemini", "opencode"}
	if testSandbox() == "kubernetes" {
		// The cluster's sandbox image (scripts/kube/image.sh) holds these
		// two; the pod runs the very files the worker resolves.
		presets = presets[:2]
	}
	for _, preset := range presets {
		t.Run(preset, func(t *testing.T) {
			repo := "real-" + preset
			addRepo(t, st, repo, map[string]string{
				"README.md":            "# " + repo + "\n",
				".github/specloop.yml": "agent: " + preset + "\nverify: {command: \"grep -q hello hello.txt\"}\n",
			})
			before := api.Reported()
			api.Append(
				modelapi.Step{Shell: probe, Usage: modelapi.Usage{Input: 3000, Cached: 1000, Output: 120}},
				modelapi.Step{Text: "Wrote hello.txt.", Usage: modelapi.Usage{Input: 3400, Cached: 3000, Output: 30}},
			)
			// Codex and Claude Code answer the verdict schema; Gemini CLI and
			// opencode give it as a JSON block in their final message.
			channel := "structured output"
			if preset == "gemini" || preset == "opencode" {
				channel = "final message"
				b, err := json.Marshal(verdict)
				require.NoError(t, err)
				api.Append(modelapi.Step{Text: "Reviewed.\n\n```json\n" + string(b) + "\n```\n", Usage: modelapi.Usage{Input: 5000, Output: 70}})
			} else {
				api.Append(modelapi.Step{Structured: verdict, Usage: modelapi.Usage{Input: 5000, Output: 70}})
			}
			issue := openLabelledIssue(t, st, repo, "- [ ] [hello-1] Write hello.txt with a greeting")
			run, cycles := waitCycles(t, st, repo, issue, 1)
			require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
			require.Zero(t, api.Remaining(), "the CLIs went through the whole script")

			hello, ok := fileAt(t, st, repo, run.Branch, "hello.txt")
			require.True(t, ok, "the change landed on the PR's branch")
			require.Equal(t, "hello\n", hello)
			leak, _ := fileAt(t, st, repo, run.Branch, "leak.txt")
			require.Equal(t, "checked\n", leak, "the real key is nowhere in the sandbox: environment, /proc, home, tree")
			netOut, _ := fileAt(t, st, repo, run.Branch, "net.txt")
			require.Contains(t, netOut, "direct-refused", "no network but the proxy")
			require.Contains(t, netOut, "only the model API is reachable", "the proxy forwards to the model API alone")

			checks := map[string]*github.CheckRun{}
			for _, cr := range st.Emulator.CheckRuns(st.Owner, repo) {
				checks[cr.GetName()] = cr
			}
			// What the check run shows is what the stand-in reported for
			// the implementer's requests (a CLI's side questions, such as
			// Gemini's model routing, included), as the run's events record
			// them; and the events add up to all the stand-in reported.
			events, err := store.ListEvents(ctx, st.Server.Pool, run.ID, 0, 1000)
			require.NoError(t, err)
			var impl, all modelapi.Usage
			var requests int
			for _, e := range events {
				require.NotContains(t, e.Message, e2eKey)
				if e.Kind != "model_request" {
					continue
				}
				requests++
				var c struct {
					Role                  string
					Input, Cached, Output int
				}
				require.NoError(t, json.Unmarshal([]byte(strings.NewReplacer("input_tokens", "input", "cached_tokens", "cached", "output_tokens", "output").Replace(e.Message)), &c))
				all.Input, all.Cached, all.Output = all.Input+c.Input, all.Cached+c.Cached, all.Output+c.Output
				if c.Role == "implementer" {
					impl.Input, impl.Cached, impl.Output = impl.Input+c.Input, impl.Cached+c.Cached, impl.Output+c.Output
				}
			}
			require.GreaterOrEqual(t, requests, 3, "each model request is a cycle event")
			got := api.Reported()
			require.Equal(t, modelapi.Usage{Input: got.Input - before.Input, Cached: got.Cached - before.Cached, Output: got.Output - before.Output}, all)
			require.GreaterOrEqual(t, impl.Input, 6400)
			implSummary := checks["specloop/implement"].GetOutput().GetSummary()
			require.Contains(t, implSummary, fmt.Sprintf("| tokens | %d in (%d cached), %d out, %d total, counted at the model proxy |",
				impl.Input, impl.Cached, impl.Output, impl.Input+impl.Output), implSummary)
			require.Equal(t, "success", checks["specloop/verify"].GetConclusion())
			audit := checks["specloop/audit"].GetOutput().GetSummary()
			require.Equal(t, "success", checks["specloop/audit"].GetConclusion(), audit)
			require.Contains(t, audit, "from the "+channel)
			require.Contains(t, audit, "hello.txt holds the greeting")

			// The stand-in got the real key; nothing specloop kept has it.
			for _, q := range api.Requests() {
				if q.Method == "POST" {
					require.Contains(t, q.Header.Get("Authorization")+q.Header.Get("X-Api-Key")+q.Header.Get("X-Goog-Api-Key"), e2eKey)
				}
			}
			arts, err := store.ListArtifacts(ctx, st.Server.Pool, cycles[0].ID)
			require.NoError(t, err)
			for _, a := range arts {
				full, err := store.GetArtifact(ctx, st.Server.Pool, a.ID)
				require.NoError(t, err)
				require.NotContains(t, string(full.Content), e2eKey, a.Name)
			}
			for _, cr := range checks {
				require.NotContains(t, cr.GetOutput().GetSummary()+cr.GetOutput().GetText(), e2eKey, cr.GetName())
			}
		})
	}

	t.Run("budget", func(t *testing.T) {
		repo := "real-budget"
		addRepo(t, st, repo, map[string]string{
			"README.md":            "# budget\n",
			".github/specloop.yml": "agent: claude\nlimits: {tokens_per_run: 1000}\nverify: {command: \"true\"}\n",
		})
		api.Append(modelapi.Step{Shell: "echo hello > hello.txt", Usage: modelapi.Usage{Input: 1500, Output: 100}},
			modelapi.Step{Text: "never asked for"})
		issue := openLabelledIssue(t, st, repo, "- [ ] [b-1] Write hello.txt")
		_, cycles := waitCycles(t, st, repo, issue, 1)
		require.Equal(t, state.ActionRequired, cycles[0].Conclusion, cycles[0].Summary)
		said := botSaid(t, st, repo, issue)
		require.Contains(t, said, "The model budget limits.tokens_per_run (1000 tokens) is spent", "the run's issue says which limit stopped it")
		require.Contains(t, said, "raise `limits.tokens_per_run` in `.github/specloop.yml`")
		require.Equal(t, 1, api.Remaining(), "the refused request never reached the API")
	})
}
