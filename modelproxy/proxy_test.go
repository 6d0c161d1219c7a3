package modelproxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/emulator/modelapi"
	"github.com/specloop/specloop/modelproxy"
)

const realKey = "sk-real-proxy-test-0123456789abcdef"

// client talks to a session's socket, as the bridge in the sandbox does.
func client(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func open(t *testing.T, preset string, upstream string, b agent.Budget) agent.ProxySession {
	t.Helper()
	prices, err := modelproxy.LoadPrices("")
	require.NoError(t, err)
	p := agent.Presets[preset]
	base := ""
	if p.BaseEnv == "OPENAI_BASE_URL" {
		base = "/v1"
	}
	cred := p.Credentials[0]
	se, err := modelproxy.New("", prices, nil).Open(context.Background(), agent.ProxyOptions{
		Preset: p, CredentialName: cred, Credential: realKey, Upstream: upstream, BasePath: base, Budget: b})
	require.NoError(t, err)
	t.Cleanup(func() { se.Close() })
	return se
}

func post(t *testing.T, se agent.ProxySession, path, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:41100"+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client(se.Socket()).Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(b)
}

// TestProxyCountsWhatTheAPIReports sends each API's streamed and plain
// requests through a session to the stand-in and reads back the calls.
func TestProxyCountsWhatTheAPIReports(t *testing.T) {
	t.Parallel()
	tools := `"tools":[{"type":"function","name":"shell"}]`
	cases := []struct {
		name, preset, path, body string
		auth                     map[string]string
		model                    string
	}{
		{"responses stream", "codex", "/v1/responses", `{"model":"gpt-5","stream":true,` + tools + `}`, nil, "gpt-5"},
		{"responses plain", "codex", "/v1/responses", `{"model":"gpt-5-mini","stream":false,` + tools + `}`, nil, "gpt-5-mini"},
		{"messages stream", "claude", "/v1/messages", `{"model":"claude-sonnet-4-5","stream":true,"tools":[{"name":"Bash"}]}`, map[string]string{"X-Api-Key": ""}, "claude-sonnet-4-5"},
		{"messages plain", "claude", "/v1/messages", `{"model":"claude-haiku-4-5","stream":false,"tools":[{"name":"Bash"}]}`, map[string]string{"X-Api-Key": ""}, "claude-haiku-4-5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := modelapi.New(modelapi.Step{Shell: "ls", Usage: modelapi.Usage{Input: 4000, Cached: 1000, Output: 200}})
			url, err := api.Start()
			require.NoError(t, err)
			t.Cleanup(api.Close)
			upstream := url
			if tc.preset == "codex" {
				upstream += "/v1"
			}
			se := open(t, tc.preset, upstream, agent.Budget{})
			hdr := map[string]string{"Authorization": "Bearer " + se.Key()}
			if _, ok := tc.auth["X-Api-Key"]; ok {
				hdr = map[string]string{"X-Api-Key": se.Key()}
			}
			resp, body := post(t, se, tc.path, tc.body, hdr)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			calls := se.Calls()
			require.Len(t, calls, 1)
			c := calls[0]
			require.Equal(t, tc.path, c.Path)
			require.Equal(t, 200, c.Status)
			require.Equal(t, tc.model, c.Model)
			require.Equal(t, [3]int{4000, 1000, 200}, [3]int{c.Input, c.Cached, c.Output}, "input counts cached tokens, whatever the API's convention")
			require.Greater(t, c.CostUSD, 0.0, "a model of the price table has a cost")
			// The API saw the real key, never the placeholder.
			q := api.Requests()[0]
			require.Contains(t, q.Header.Get("Authorization")+q.Header.Get("X-Api-Key"), realKey)
			require.NotContains(t, q.Header.Get("Authorization")+q.Header.Get("X-Api-Key"), se.Key())
		})
	}
}

// TestProxyRefuses: other hosts, paths outside the API, requests without
// the run's key, and requests past a budget.
func TestProxyRefuses(t *testing.T) {
	t.Parallel()
	api := modelapi.New(modelapi.Step{Text: "a", Usage: modelapi.Usage{Input: 900, Output: 200}}, modelapi.Step{Text: "b"})
	url, err := api.Start()
	require.NoError(t, err)
	t.Cleanup(api.Close)
	tools := `{"model":"gpt-5","stream":false,"tools":[{"type":"function","name":"shell"}]}`

	se := open(t, "codex", url+"/v1", agent.Budget{Tokens: 1000})
	auth := map[string]string{"Authorization": "Bearer " + se.Key()}

	// An absolute URL through the proxy, as `curl -x` sends it.
	conn, err := net.Dial("unix", se.Socket())
	require.NoError(t, err)
	_, err = io.WriteString(conn, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	conn.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, string(b), "only the model API is reachable")

	resp2, body := post(t, se, "/admin", "{}", auth)
	require.Equal(t, http.StatusNotFound, resp2.StatusCode, body)
	resp2, body = post(t, se, "/v1/responses", tools, map[string]string{"Authorization": "Bearer " + realKey})
	require.Equal(t, http.StatusUnauthorized, resp2.StatusCode, "only the run's placeholder opens the proxy: %s", body)
	require.Empty(t, api.Requests(), "nothing refused reached the API")

	resp2, _ = post(t, se, "/v1/responses", tools, auth)
	require.Equal(t, http.StatusOK, resp2.StatusCode)
	require.Empty(t, se.Exceeded())
	resp2, body = post(t, se, "/v1/responses", tools, auth)
	require.Equal(t, http.StatusBadRequest, resp2.StatusCode)
	require.Contains(t, body, "specloop: the budget limits.tokens_per_run (1000 tokens) is spent")
	require.Contains(t, body, `"code":"specloop_budget_exceeded"`)
	require.Equal(t, "limits.tokens_per_run (1000 tokens)", se.Exceeded())
	require.Len(t, api.Requests(), 1, "the refused request never reached the API")
	calls := se.Calls()
	require.Equal(t, "limits.tokens_per_run (1000 tokens)", calls[len(calls)-1].Refused)
}

// TestProxyBudgets names each limit, counting what was spent before.
func TestProxyBudgets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		b    agent.Budget
		want string
	}{
		{"run tokens spent by earlier cycles", agent.Budget{Tokens: 5000, SpentTokens: 5000}, "limits.tokens_per_run (5000 tokens)"},
		{"run dollars", agent.Budget{USD: 10, SpentUSD: 10}, "limits.usd_per_run (10 USD)"},
		{"the repo's day", agent.Budget{USDDay: 2.5, SpentToday: 3}, "limits.usd_per_day (2.5 USD)"},
		{"under every limit", agent.Budget{Tokens: 5000, USD: 10, USDDay: 50, SpentTokens: 10, SpentUSD: 1, SpentToday: 1}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := modelapi.New()
			url, err := api.Start()
			require.NoError(t, err)
			t.Cleanup(api.Close)
			se := open(t, "claude", url, tc.b)
			resp, body := post(t, se, "/v1/messages", `{"model":"claude-sonnet-4","messages":[]}`, map[string]string{"X-Api-Key": se.Key()})
			require.Equal(t, tc.want, se.Exceeded())
			if tc.want == "" {
				require.Equal(t, http.StatusOK, resp.StatusCode, body)
				return
			}
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Contains(t, body, `"type":"error"`, "Anthropic's error shape, which Claude Code prints")
			require.Contains(t, body, tc.want)
		})
	}
}

// TestProxyStreamsWithoutBuffering: each SSE event reaches the client as
// the API sends it, not when the response ends.
func TestProxyStreamsWithoutBuffering(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\n\n")
	}))
	t.Cleanup(up.Close)
	se := open(t, "claude", up.URL, agent.Budget{})
	req, _ := http.NewRequest(http.MethodPost, "http://x/v1/messages", strings.NewReader(`{}`))
	req.Header.Set("X-Api-Key", se.Key())
	resp, err := client(se.Socket()).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	first := make(chan string, 1)
	go func() {
		r := bufio.NewReader(resp.Body)
		line, _ := r.ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		require.Equal(t, "event: message_start\n", line)
	case <-time.After(10 * time.Second):
		t.Fatal("the first event did not come through before the stream ended: the proxy buffers")
	}
	close(release)
	_, _ = io.ReadAll(resp.Body)
	require.Eventually(t, func() bool { return len(se.Calls()) == 1 }, 5*time.Second, 10*time.Millisecond)
	c := se.Calls()[0]
	require.Equal(t, [2]int{10, 7}, [2]int{c.Input, c.Output}, "message_delta's output_tokens is the running total")
}

// TestPrices: the built-in table by longest prefix, and an override file.
func TestPrices(t *testing.T) {
	t.Parallel()
	p, err := modelproxy.LoadPrices("")
	require.NoError(t, err)
	cost, ok := p.Cost("gpt-5-mini-2025-08-07", 1_000_000, 0, 1_000_000)
	require.True(t, ok)
	require.InDelta(t, 2.25, cost, 1e-9, "gpt-5-mini, not gpt-5")
	cost, ok = p.Cost("claude-sonnet-4-5", 2_000_000, 1_000_000, 0)
	require.True(t, ok)
	require.InDelta(t, 3.30, cost, 1e-9, "cached input at the cached price")
	_, ok = p.Cost("some-local-model", 1, 0, 1)
	require.False(t, ok)

	f := t.TempDir() + "/prices.json"
	require.NoError(t, writeFile(f, `{"some-local-model": {"input": 1, "cached": 0, "output": 2}, "gpt-5": {"input": 100, "cached": 0, "output": 0}}`))
	p, err = modelproxy.LoadPrices(f)
	require.NoError(t, err)
	cost, ok = p.Cost("some-local-model", 1_000_000, 0, 1_000_000)
	require.True(t, ok)
	require.InDelta(t, 3.0, cost, 1e-9)
	cost, _ = p.Cost("gpt-5", 1_000_000, 0, 0)
	require.InDelta(t, 100.0, cost, 1e-9, "the override wins")
}
