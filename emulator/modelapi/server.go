package modelapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Step is one answer of the script: the model's turn after the previous
// one's tool output came back.
type Step struct {
	// Shell asks the agent to run this shell command.
	Shell string
	// Patch asks the agent to apply this patch (Codex's apply_patch
	// format, "*** Begin Patch" …); for Claude it is written with its
	// Write tool instead, see Write.
	Patch string
	// Write asks the agent to write Content to the file at Path (Claude's
	// Write tool; for Codex a shell heredoc).
	Write *File
	// Text is the model's final message: the agent's turn ends.
	Text string
	// Structured, with Text empty, is the final message as JSON: a
	// verdict given through the CLI's structured-output channel.
	Structured any
	// Usage is what this answer reports; zero means DefaultUsage.
	Usage Usage
	// Hold, when set, keeps this answer back until Hold is closed or the
	// client goes away (the agent's sandbox was killed): an agent held in
	// its model request. Server.Held and Server.Gone report both ends.
	Hold <-chan struct{}
}

// File is a file for Step.Write.
type File struct{ Path, Content string }

// Usage is the token use one answer reports.
type Usage struct {
	Input, Cached, Output int
}

// DefaultUsage is reported when a Step names none.
var DefaultUsage = Usage{Input: 1000, Cached: 200, Output: 50}

// Request is one request as the stand-in received it.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	// Reported is the usage the answer reported.
	Reported Usage
}

// Server is the stand-in. Its script is shared by both APIs and consumed
// in order by requests that carry tools; requests without tools (titles,
// quota checks, a CLI's side questions) get a short text answer and leave
// the script alone.
type Server struct {
	// Model names the model in the answers.
	Model string

	mu       sync.Mutex
	script   []Step
	next     int
	requests []Request
	fail     map[string]int // path → status to answer with
	srv      *http.Server
	URL      string
	held     chan time.Time
	gone     chan time.Time
}

// New returns a stand-in that will answer with script.
func New(script ...Step) *Server {
	return &Server{script: script, held: make(chan time.Time, 16), gone: make(chan time.Time, 16)}
}

// Held receives the time each request answered by a Hold step arrived.
func (s *Server) Held() <-chan time.Time { return s.held }

// Gone receives the time the client of a held request went away before
// its Hold was closed.
func (s *Server) Gone() <-chan time.Time { return s.gone }

// Start listens on a loopback port and returns the base URL
// (http://127.0.0.1:PORT).
func (s *Server) Start() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("model API stand-in: %w", err)
	}
	s.URL = "http://" + l.Addr().String()
	s.srv = &http.Server{Handler: s}
	go s.srv.Serve(l)
	return s.URL, nil
}

// Close stops the server.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Append adds steps to the script.
func (s *Server) Append(steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, steps...)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reported is the sum of the usage the stand-in reported.
func (s *Server) Reported() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var u Usage
	for _, r := range s.requests {
		u.Input += r.Reported.Input
		u.Cached += r.Reported.Cached
		u.Output += r.Reported.Output
	}
	return u
}

// Remaining is how many steps of the script are left.
func (s *Server) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script) - s.next
}

func (s *Server) model(def string) string {
	if s.Model != "" {
		return s.Model
	}
	return def
}

// step takes the next step of the script for r; past its end the model
// says it is done. A Hold step waits for its Hold or for r's client to go.
func (s *Server) step(r *http.Request) Step {
	s.mu.Lock()
	if s.next >= len(s.script) {
		s.mu.Unlock()
		return Step{Text: "Done."}
	}
	st := s.script[s.next]
	s.next++
	s.mu.Unlock()
	if st.Hold != nil {
		notify(s.held)
		select {
		case <-st.Hold:
		case <-r.Context().Done():
			notify(s.gone)
		}
	}
	return st
}

// notify sends the time on ch unless nobody has read the last 16.
func notify(ch chan time.Time) {
	select {
	case ch <- time.Now():
	default:
	}
}

func (s *Server) record(r *http.Request, body []byte, u Usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Reported: u})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/responses":
		s.responses(w, r, body)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		s.messages(w, r, body)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1beta/models/"):
		s.gemini(w, r, body)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		s.record(r, body, Usage{})
		writeJSON(w, http.StatusOK, map[string]any{"input_tokens": 1000})
	default:
		// Codex tries a WebSocket first (GET /v1/responses, Upgrade) and
		// falls back to HTTP; everything else is not part of the APIs.
		s.record(r, body, Usage{})
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"message": "model API stand-in: no " + r.Method + " " + r.URL.Path, "type": "invalid_request_error"}})
	}
}

// usageOf is a step's usage, or DefaultUsage.
func usageOf(st Step) Usage {
	if st.Usage == (Usage{}) {
		return DefaultUsage
	}
	return st.Usage
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sse writes Server-Sent Events, flushing each.
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &sse{w: w, f: f}
}

func (e *sse) event(name string, data any) {
	b, _ := json.Marshal(data)
	fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", name, b)
	if e.f != nil {
		e.f.Flush()
	}
}

// structuredText is the final message of a step: Text, or Structured as
// JSON.
func structuredText(st Step) string {
	if st.Text == "" && st.Structured != nil {
		b, _ := json.Marshal(st.Structured)
		return string(b)
	}
	return st.Text
}

// heredoc writes a Step.Write as a shell command.
func heredoc(f *File) string {
	return "mkdir -p \"$(dirname '" + f.Path + "')\" && cat > '" + f.Path + "' <<'SPECLOOP_EOF'\n" + strings.TrimSuffix(f.Content, "\n") + "\nSPECLOOP_EOF"
}
