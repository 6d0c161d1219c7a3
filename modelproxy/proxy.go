package modelproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/specloop/specloop/agent"
)

// Server opens sessions; it is safe for concurrent use and holds no state
// between them.
type Server struct {
	// Dir holds the sessions' sockets, one directory each; "" means the
	// system's temporary directory. It must be searchable by the sandbox
	// user.
	Dir    string
	Prices Prices
	Logger *slog.Logger
	// Transport reaches the upstream APIs; nil means a default one.
	Transport http.RoundTripper
}

// New returns a Server with the price table of prices (see LoadPrices).
func New(dir string, prices Prices, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{Dir: dir, Prices: prices, Logger: logger}
}

// Open starts a session for one agent run. Close it when the run is over.
func (s *Server) Open(ctx context.Context, o agent.ProxyOptions) (agent.ProxySession, error) {
	up, err := url.Parse(o.Upstream)
	if err != nil || (up.Scheme != "https" && up.Scheme != "http") || up.Host == "" {
		return nil, fmt.Errorf("model proxy: upstream %q is not an http(s) URL", o.Upstream)
	}
	if o.Credential == "" {
		return nil, errors.New("model proxy: no credential to forward with")
	}
	dir, err := os.MkdirTemp(s.Dir, "specloop-model-")
	if err != nil {
		return nil, fmt.Errorf("model proxy: %w", err)
	}
	// The sandbox user must reach the socket but not list its siblings.
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("model proxy: %w", err)
	}
	sock := filepath.Join(dir, "model.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("model proxy: listening on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		l.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("model proxy: %w", err)
	}
	tr := s.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true,
			MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
			// Usage is read from the body: keep it unencoded.
			DisableCompression: true,
		}
	}
	key := "specloop-placeholder-" + randomHex(16)
	se := &Session{
		srv: s, opts: o, upstream: up, key: key, socket: sock, dir: dir, listener: l, transport: tr,
		basePath: strings.TrimRight(o.BasePath, "/"),
	}
	se.http = &http.Server{Handler: se, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := se.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Warn("model proxy: serving", "err", err)
		}
	}()
	return se, nil
}

// Session is one agent run's way through the proxy.
type Session struct {
	srv       *Server
	opts      agent.ProxyOptions
	upstream  *url.URL
	basePath  string
	key       string
	socket    string
	dir       string
	listener  net.Listener
	http      *http.Server
	transport http.RoundTripper

	mu       sync.Mutex
	inflight int // requests being served, not yet recorded
	calls    []agent.ModelCall
	tokens   int64   // input+output of calls, for the budgets
	cost     float64 // cost of calls
	exceeded string
}

func (se *Session) Socket() string { return se.socket }
func (se *Session) Key() string    { return se.key }

// Calls are the requests forwarded so far. It first waits, for at most
// callsWait, for the requests in flight: an agent exits as soon as it has
// read its last answer, which can be before the proxy has counted it.
func (se *Session) Calls() []agent.ModelCall {
	deadline := time.Now().Add(callsWait)
	se.mu.Lock()
	defer se.mu.Unlock()
	for se.inflight > 0 && time.Now().Before(deadline) {
		se.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		se.mu.Lock()
	}
	return append([]agent.ModelCall(nil), se.calls...)
}

// callsWait bounds how long Calls waits for requests in flight.
const callsWait = 2 * time.Second

func (se *Session) Exceeded() string {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.exceeded
}

// Close stops serving, ends the streams still open and removes the socket.
func (se *Session) Close() error {
	err := se.http.Close()
	if rerr := os.RemoveAll(se.dir); err == nil {
		err = rerr
	}
	return err
}

// hopHeaders are the hop-by-hop headers (RFC 9110, 7.6.1) never forwarded.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (se *Session) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	se.mu.Lock()
	se.inflight++
	se.mu.Unlock()
	defer func() {
		se.mu.Lock()
		se.inflight--
		se.mu.Unlock()
	}()
	start := time.Now()
	call := agent.ModelCall{Path: r.URL.Path}
	// Only the API: no CONNECT tunnels, no absolute URLs naming another
	// host, nothing outside the base path.
	clean := path.Clean("/" + r.URL.Path)
	switch {
	case r.Method == http.MethodConnect || r.URL.IsAbs() || r.URL.Host != "":
		se.refuse(w, http.StatusForbidden, "forbidden", "specloop model proxy: only the model API is reachable from the sandbox, not "+r.Host)
		return
	case se.basePath != "" && clean != se.basePath && !strings.HasPrefix(clean, se.basePath+"/"):
		se.refuse(w, http.StatusNotFound, "not_found", "specloop model proxy: "+clean+" is not under the model API's "+se.basePath)
		return
	case !se.authorized(r):
		se.refuse(w, http.StatusUnauthorized, "authentication_error", "specloop model proxy: the request does not carry this run's key")
		return
	}
	if lim := se.overBudget(); lim != "" {
		call.Status, call.Refused, call.Duration = http.StatusBadRequest, lim, time.Since(start)
		se.record(call, lim)
		se.refuse(w, http.StatusBadRequest, "specloop_budget_exceeded",
			"specloop: the budget "+lim+" is spent; this run can make no more model requests. Raise it in .github/specloop.yml (limits:) to go on.")
		return
	}

	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL = &url.URL{Scheme: se.upstream.Scheme, Host: se.upstream.Host,
		Path: strings.TrimRight(se.upstream.Path, "/") + strings.TrimPrefix(clean, se.basePath), RawQuery: r.URL.RawQuery}
	out.Host = se.upstream.Host
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Header.Del("Accept-Encoding")
	se.swapCredential(out)

	resp, err := se.transport.RoundTrip(out)
	if err != nil {
		call.Status, call.Duration = http.StatusBadGateway, time.Since(start)
		se.record(call, "")
		se.refuse(w, http.StatusBadGateway, "api_error", "specloop model proxy: the model API did not answer: "+err.Error())
		return
	}
	defer resp.Body.Close()
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	ur := &usageReader{sse: strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")}
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			ur.Write(buf[:n])
			if _, werr := w.Write(buf[:n]); werr != nil {
				break
			}
			// Every chunk as it comes: an SSE stream must not wait on a
			// buffer to fill.
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr != nil {
			break
		}
	}
	u := ur.done()
	call.Status, call.Model, call.Duration = resp.StatusCode, u.model, time.Since(start)
	if u.seen {
		call.Input, call.Cached, call.Output = u.input, u.cached, u.output
		call.CostUSD, _ = se.srv.Prices.Cost(u.model, u.input, u.cached, u.output)
	}
	se.record(call, "")
	se.srv.Logger.Debug("model proxy: request", "path", call.Path, "status", call.Status, "model", call.Model,
		"input", call.Input, "cached", call.Cached, "output", call.Output, "cost_usd", call.CostUSD, "took", call.Duration)
}

// authorized reports whether r carries the placeholder key, wherever its
// API puts it.
func (se *Session) authorized(r *http.Request) bool {
	for _, v := range []string{
		strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
		r.Header.Get("X-Api-Key"), r.Header.Get("X-Goog-Api-Key"), r.URL.Query().Get("key"),
	} {
		if v == se.key {
			return true
		}
	}
	return false
}

// swapCredential puts the real credential where the placeholder was.
func (se *Session) swapCredential(r *http.Request) {
	cred := se.opts.Credential
	h := r.Header
	switch {
	case se.opts.CredentialName == "CLAUDE_CODE_OAUTH_TOKEN":
		// An OAuth token from `claude setup-token` goes as a bearer token.
		h.Del("X-Api-Key")
		h.Set("Authorization", "Bearer "+cred)
		if b := h.Get("Anthropic-Beta"); !strings.Contains(b, "oauth-2025-04-20") {
			h.Set("Anthropic-Beta", strings.TrimPrefix(b+",oauth-2025-04-20", ","))
		}
	case h.Get("X-Api-Key") != "":
		h.Set("X-Api-Key", cred)
	case h.Get("X-Goog-Api-Key") != "":
		h.Set("X-Goog-Api-Key", cred)
	case r.URL.Query().Get("key") != "":
		q := r.URL.Query()
		q.Set("key", cred)
		r.URL.RawQuery = q.Encode()
	default:
		h.Set("Authorization", "Bearer "+cred)
	}
}

// overBudget names the first limit already spent, or "".
func (se *Session) overBudget() string {
	b := se.opts.Budget
	se.mu.Lock()
	tokens, cost := b.SpentTokens+se.tokens, se.cost
	se.mu.Unlock()
	switch {
	case b.Tokens > 0 && tokens >= b.Tokens:
		return fmt.Sprintf("limits.tokens_per_run (%d tokens)", b.Tokens)
	case b.USD > 0 && b.SpentUSD+cost >= b.USD:
		return fmt.Sprintf("limits.usd_per_run (%s USD)", fmtUSD(b.USD))
	case b.USDDay > 0 && b.SpentToday+cost >= b.USDDay:
		return fmt.Sprintf("limits.usd_per_day (%s USD)", fmtUSD(b.USDDay))
	}
	return ""
}

func fmtUSD(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

func (se *Session) record(c agent.ModelCall, exceeded string) {
	se.mu.Lock()
	defer se.mu.Unlock()
	se.calls = append(se.calls, c)
	se.tokens += int64(c.Input + c.Output)
	se.cost += c.CostUSD
	if exceeded != "" && se.exceeded == "" {
		se.exceeded = exceeded
	}
}

// refuse answers in the error shape of the session's API, which the CLIs
// print: Anthropic's {"type":"error","error":{...}}, else OpenAI's (which
// Gemini's {"error":{"message"}} also reads as).
func (se *Session) refuse(w http.ResponseWriter, status int, kind, msg string) {
	var body any
	if se.opts.Preset.Auth == agent.AuthAnthropic {
		body = map[string]any{"type": "error", "error": map[string]any{"type": "invalid_request_error", "message": msg}}
	} else {
		body = map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": kind, "status": kind}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = io.ReadFull(rand.Reader, b)
	return hex.EncodeToString(b)
}
