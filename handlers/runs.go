package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/specloop/specloop/internal/mdhtml"
	"github.com/specloop/specloop/store"
)

// linkRefused is the whole answer to a request without a valid link.
const linkRefused = "This link is not valid or has expired. Ask for a new one with `/loop status` on the pull request."

// LinkVerifier checks the signed token of a run link (app.Links).
type LinkVerifier interface {
	Verify(runID int64, token string) error
	Token(runID int64) string
}

// RunPages serves a run's page, its event stream and its artifacts.
type RunPages struct {
	Pool      *pgxpool.Pool
	Links     LinkVerifier
	Logger    *slog.Logger
	Keepalive time.Duration // SSE keepalive comment interval (15 s)
	Poll      time.Duration // how often the stream looks for new events

	closeOnce sync.Once
	closing   chan struct{}
	md        *mdhtml.Renderer
}

// Shutdown ends every open event stream, so a graceful server shutdown is
// not held up by clients that would stay connected forever. Register it
// with http.Server.RegisterOnShutdown.
func (p *RunPages) Shutdown() {
	p.closeOnce.Do(func() { close(p.closing) })
}

// RegisterRunPages adds /runs/{id}, /runs/{id}/events and
// /runs/{id}/artifacts/{aid} to r.
func RegisterRunPages(r *mux.Router, p *RunPages) {
	if p.Keepalive == 0 {
		p.Keepalive = 15 * time.Second
	}
	if p.Poll == 0 {
		p.Poll = 500 * time.Millisecond
	}
	p.closing = make(chan struct{})
	p.md = mdhtml.New()
	r.HandleFunc("/runs/{id:[0-9]+}", p.page).Methods(http.MethodGet)
	r.HandleFunc("/runs/{id:[0-9]+}/events", p.events).Methods(http.MethodGet)
	r.HandleFunc("/runs/{id:[0-9]+}/artifacts/{aid:[0-9]+}", p.artifact).Methods(http.MethodGet)
}

// authorize reads the run id and checks the link's token.
func (p *RunPages) authorize(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err := p.Links.Verify(id, r.URL.Query().Get("token")); err != nil {
		// One answer for a missing, bad or expired token, whatever the id:
		// nobody learns from it which runs exist.
		http.Error(w, linkRefused, http.StatusForbidden)
		return 0, false
	}
	return id, true
}

func (p *RunPages) page(w http.ResponseWriter, r *http.Request) {
	id, ok := p.authorize(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	run, err := store.GetRun(ctx, p.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such run", http.StatusNotFound)
		return
	}
	if err != nil {
		p.fail(w, err)
		return
	}
	v, err := buildRunView(ctx, p.Pool, p.md, run, r.URL.Query().Get("token"))
	if err != nil {
		p.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	name := "run.html"
	if r.URL.Query().Get("fragment") == "1" {
		name = "run-body" // the live script swaps this in after a step changes
	}
	if err := pageTemplates.ExecuteTemplate(w, name, v); err != nil {
		p.Logger.Error("render run page", "run", id, "err", err)
	}
}

func (p *RunPages) fail(w http.ResponseWriter, err error) {
	if store.IsUnavailable(err) {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	p.Logger.Error("run page", "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func (p *RunPages) artifact(w http.ResponseWriter, r *http.Request) {
	id, ok := p.authorize(w, r)
	if !ok {
		return
	}
	aid, _ := strconv.ParseInt(mux.Vars(r)["aid"], 10, 64)
	a, err := store.GetArtifact(r.Context(), p.Pool, aid)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such artifact (it may have been pruned)", http.StatusNotFound)
		return
	}
	if err != nil {
		p.fail(w, err)
		return
	}
	c, err := store.GetCycle(r.Context(), p.Pool, a.CycleID)
	if err != nil || c.RunID != id {
		http.Error(w, "no such artifact in this run", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store") // private repos' logs, like the page
	w.Write(a.Content)
	if a.Truncated {
		fmt.Fprintf(w, "\n[artifact truncated when stored]\n")
	}
}

// events streams a run's events as Server-Sent Events. A client resuming
// with Last-Event-ID older than what is kept gets 410 Gone.
func (p *RunPages) events(w http.ResponseWriter, r *http.Request) {
	id, ok := p.authorize(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if _, err := store.GetRun(ctx, p.Pool, id); errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such run", http.StatusNotFound)
		return
	} else if err != nil {
		p.fail(w, err)
		return
	}
	last := int64(0)
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		// A new EventSource cannot send the header: the page that
		// reconnects after a run settled says where it was in the query.
		v = r.URL.Query().Get("last_event_id")
	}
	if v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "Last-Event-ID must be an event number", http.StatusBadRequest)
			return
		}
		last = n
		first, newest, err := store.KeptEventSeqs(ctx, p.Pool, id)
		if err != nil {
			p.fail(w, err)
			return
		}
		// Events last+1 .. first-1 were pruned: the client cannot catch up.
		// A client that has seen more than is kept (last > newest) has lost
		// events too: either all of them were pruned, or they were and the
		// numbering started again from 1 (seq is MAX(seq)+1), so events
		// numbered up to last are new ones it has not seen.
		if first > last+1 || last > newest {
			http.Error(w, "the events after "+v+" were pruned; reload the run page", http.StatusGone)
			return
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n\n")
	flusher.Flush()
	poll := time.NewTicker(p.Poll)
	defer poll.Stop()
	keep := time.NewTicker(p.Keepalive)
	defer keep.Stop()
	for {
		evs, err := store.ListEvents(ctx, p.Pool, id, last, 200)
		if err != nil && ctx.Err() == nil {
			p.Logger.Warn("event stream", "run", id, "err", err)
		}
		for _, e := range evs {
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, eventJSON(e))
			last = e.Seq
		}
		if len(evs) > 0 {
			flusher.Flush()
		}
		// After the run's terminal event the stream ends; the page closes
		// its EventSource on "end" rather than reconnecting.
		if len(evs) < 200 && err == nil {
			if settled, serr := store.RunSettled(ctx, p.Pool, id, last); serr == nil && settled {
				fmt.Fprintf(w, "event: end\ndata: {}\n\n")
				flusher.Flush()
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.closing:
			return
		case <-keep.C:
			fmt.Fprintf(w, ": keepalive\n\n")
			flusher.Flush()
		case <-poll.C:
		}
	}
}

// eventJSON is an event's data line: JSON on one line (encoding/json
// escapes newlines and control characters, which Go's %q does not do in a
// JSON-compatible way: \x1b from a coloured log broke JSON.parse).
func eventJSON(e store.Event) string {
	b, err := json.Marshal(struct {
		Seq     int64  `json:"seq"`
		Cycle   int64  `json:"cycle"`
		Kind    string `json:"kind"`
		Step    string `json:"step"`
		Outcome string `json:"outcome"`
		Message string `json:"message"`
		At      string `json:"at"`
	}{e.Seq, e.CycleID, e.Kind, e.Step, e.Outcome, e.Message, e.CreatedAt.UTC().Format(time.RFC3339Nano)})
	if err != nil { // strings and numbers only: cannot happen
		return "{}"
	}
	return string(b)
}
