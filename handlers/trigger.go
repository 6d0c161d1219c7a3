package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/store"
)

// The trigger URL: POST /hooks/trigger/{owner}/{repo} with the repo's
// trigger token queues the next cycle of a run (body {"number": N}, an
// issue or PR with a run) or a drain of the repo (no body), for CI jobs,
// chat bots and cron outside GitHub. `/loop token` gives an admin a
// one-time link; opening it (GET, then a POST from its button, so a link
// preview cannot use it up) makes the token, shows it once and replaces
// the old one. Only SHA-256s are stored.

// TriggerPrefix prefixes trigger tokens, so a leaked one is recognisable.
const TriggerPrefix = "slt_"

// JobInsert queues one job (a River client).
type JobInsert interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// RunLinker makes a run page's signed link (app.Links).
type RunLinker interface {
	RunURL(runID int64) string
}

// Trigger serves the trigger URL and the token's one-time reveal.
type Trigger struct {
	Pool   *pgxpool.Pool
	Jobs   JobInsert
	Links  RunLinker
	Logger *slog.Logger
}

// RegisterTrigger adds the trigger routes to r.
func RegisterTrigger(r *mux.Router, t *Trigger) {
	r.HandleFunc("/hooks/trigger/{owner}/{repo}", t.fire).Methods(http.MethodPost)
	r.HandleFunc("/hooks/trigger/{owner}/{repo}/reveal", t.revealPage).Methods(http.MethodGet)
	r.HandleFunc("/hooks/trigger/{owner}/{repo}/reveal", t.reveal).Methods(http.MethodPost)
}

func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "bearer ", "token "} {
		if t, ok := strings.CutPrefix(a, p); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

func (t *Trigger) fire(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	repo := v["owner"] + "/" + v["repo"]
	token := bearer(r)
	want, inst, err := store.TriggerToken(r.Context(), t.Pool, repo)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && (token == "" || subtle.ConstantTimeCompare(sum(token), want) != 1):
		// One answer for no token, a wrong one and a repo without one.
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid trigger token is required (`/loop token` makes one)"})
		return
	case err != nil:
		t.Logger.Error("trigger: read token", "repo", repo, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	var req struct {
		Number int `json:"number"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil && len(strings.TrimSpace(string(body))) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `the body is JSON: {"number": <issue or PR>} or empty for a drain`})
		return
	}
	out := map[string]any{"queued": "drain", "repo": repo}
	if req.Number != 0 {
		run, err := store.FindRun(r.Context(), t.Pool, repo, req.Number)
		if errors.Is(err, store.ErrNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no specloop run on that issue or PR"})
			return
		}
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
			return
		}
		out = map[string]any{"queued": "cycle", "repo": repo, "run": run.ID, "run_page": t.Links.RunURL(run.ID)}
	}
	if _, err := t.Jobs.Insert(r.Context(), jobs.TriggerArgs{Repo: repo, InstallationID: inst, Number: req.Number}, nil); err != nil {
		t.Logger.Error("trigger: queue", "repo", repo, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "could not queue"})
		return
	}
	writeJSON(w, http.StatusAccepted, out)
}

var revealTmpl = template.Must(template.New("reveal").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>specloop trigger token</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 2em auto">
<h1>Trigger token of {{.Repo}}</h1>
{{if .Token}}
<p>Shown once; specloop keeps only its hash. The previous token no longer works.</p>
<pre id="token">{{.Token}}</pre>
<pre>curl -X POST -H 'Authorization: Bearer {{.Token}}' {{.URL}}            # a drain
curl -X POST -H 'Authorization: Bearer {{.Token}}' -d '{"number": 42}' {{.URL}}   # the next cycle of #42's run</pre>
{{else if .Error}}
<p>{{.Error}}</p>
{{else}}
<p>This makes a new trigger token and shows it once; the old token stops working.</p>
<form method="post"><input type="hidden" name="ticket" value="{{.Ticket}}"><button type="submit">Show the new token</button></form>
{{end}}
</body></html>
`))

type revealData struct{ Repo, Ticket, Token, URL, Error string }

func (t *Trigger) revealPage(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	t.render(w, http.StatusOK, revealData{Repo: v["owner"] + "/" + v["repo"], Ticket: r.URL.Query().Get("ticket")})
}

func (t *Trigger) reveal(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	repo := v["owner"] + "/" + v["repo"]
	ticket := r.PostFormValue("ticket")
	var b [32]byte
	rand.Read(b[:])
	token := TriggerPrefix + hex.EncodeToString(b[:])
	err := store.RedeemTriggerTicket(r.Context(), t.Pool, repo, sum(ticket), sum(token))
	switch {
	case errors.Is(err, store.ErrTicketUsed):
		t.render(w, http.StatusGone, revealData{Repo: repo, Error: "This link was used already or has expired. " +
			"If you did not open it, someone else did: run `/loop token` again to replace the token they saw."})
		return
	case err != nil:
		t.Logger.Error("trigger: redeem ticket", "repo", repo, "err", err)
		t.render(w, http.StatusServiceUnavailable, revealData{Repo: repo, Error: "The database is unavailable; try again."})
		return
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	t.render(w, http.StatusOK, revealData{Repo: repo, Token: token, URL: scheme + "://" + r.Host + "/hooks/trigger/" + repo})
}

func (t *Trigger) render(w http.ResponseWriter, status int, d revealData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := revealTmpl.Execute(w, d); err != nil {
		t.Logger.Warn("trigger: render", "err", err)
	}
}
