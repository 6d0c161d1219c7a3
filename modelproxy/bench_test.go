package modelproxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/modelproxy"
)

// BenchmarkProxy measures what the model proxy adds on loopback, the way a
// sandboxed CLI reaches it: TCP to the bridge, the bridge's Unix socket,
// the proxy, the upstream. It reports the p50 of the added latency per
// request (whole streamed answer read) and to the first streamed byte,
// against the same requests made to the upstream directly. Target: p50
// under 2 ms.
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		f := w.(http.Flusher)
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":1}}}\n\n")
		f.Flush()
		for i := 0; i < 20; i++ {
			io.WriteString(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token \"}}\n\n")
			f.Flush()
		}
		io.WriteString(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":20}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	}))
	defer up.Close()
	prices, err := modelproxy.LoadPrices("")
	require.NoError(b, err)
	se, err := modelproxy.New("", prices, nil).Open(context.Background(), agent.ProxyOptions{
		Preset: agent.Presets["claude"], CredentialName: "ANTHROPIC_API_KEY", Credential: "sk-bench", Upstream: up.URL})
	require.NoError(b, err)
	defer se.Close()
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go modelproxy.Bridge(ctx, bl, se.Socket())

	body := strings.Repeat(`{"role":"user","content":"x"},`, 200)
	body = `{"model":"claude-sonnet-4","stream":true,"messages":[` + strings.TrimSuffix(body, ",") + `]}`
	do := func(c *http.Client, base string) (ttfb, total time.Duration) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(body))
		req.Header.Set("X-Api-Key", se.Key())
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(resp.Body)
		if _, err := r.ReadByte(); err != nil {
			b.Fatal(err)
		}
		ttfb = time.Since(start)
		_, _ = io.Copy(io.Discard, r)
		resp.Body.Close()
		return ttfb, time.Since(start)
	}
	direct, proxied := &http.Client{}, &http.Client{}
	var dT, dF, pT, pF []time.Duration
	for range 20 { // warm the connections
		do(direct, up.URL)
		do(proxied, "http://"+bl.Addr().String())
	}
	for b.Loop() {
		f, t := do(direct, up.URL)
		dF, dT = append(dF, f), append(dT, t)
		f, t = do(proxied, "http://"+bl.Addr().String())
		pF, pT = append(pF, f), append(pT, t)
	}
	p50 := func(d []time.Duration) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[len(s)/2]) / float64(time.Millisecond)
	}
	b.ReportMetric(p50(pT)-p50(dT), "added-p50-ms")
	b.ReportMetric(p50(pF)-p50(dF), "added-ttfb-p50-ms")
	b.ReportMetric(p50(pT), "proxied-p50-ms")
	b.ReportMetric(p50(dT), "direct-p50-ms")
}
