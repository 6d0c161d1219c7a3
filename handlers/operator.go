// The operators' pages: the run index and River's queue UI, behind
// OPERATOR_TOKEN.

package handlers

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// OperatorCookie carries the operator token once a browser has shown it.
const OperatorCookie = "specloop_operator"

// Operator serves GET /runs and mounts the queue UI at /riverui. A request
// shows the token as `Authorization: Bearer <token>`, or as the
// specloop_operator cookie, which `?operator_token=<token>` on any of its
// URLs sets (and then redirects to the URL without it, so the token does
// not linger in the address bar or the history).
type Operator struct {
	Token  string // OPERATOR_TOKEN; empty: the pages answer 404
	Pool   *pgxpool.Pool
	Links  interface{ Token(runID int64) string }
	Queue  http.Handler // riverui's handler, nil when none
	Logger *slog.Logger
}

// RegisterOperator adds /runs and /riverui to r.
func RegisterOperator(r *mux.Router, o *Operator) {
	r.Handle("/runs", o.guard(http.HandlerFunc(o.index))).Methods(http.MethodGet)
	if o.Queue != nil {
		r.PathPrefix("/riverui").Handler(o.guard(o.Queue))
	}
}

// operatorRefused is the one answer to a missing or wrong token.
const operatorRefused = "operator pages need OPERATOR_TOKEN: send it as `Authorization: Bearer <token>`, or open the page once with ?operator_token=<token>"

func (o *Operator) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Token == "" {
			http.NotFound(w, r)
			return
		}
		if t := r.URL.Query().Get("operator_token"); t != "" {
			if !o.match(t) {
				http.Error(w, operatorRefused, http.StatusUnauthorized)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: OperatorCookie, Value: t, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q := r.URL.Query()
			q.Del("operator_token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		token := ""
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			token = strings.TrimPrefix(h, "Bearer ")
		} else if c, err := r.Cookie(OperatorCookie); err == nil {
			token = c.Value
		}
		if !o.match(token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="specloop operators"`)
			http.Error(w, operatorRefused, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func (o *Operator) match(t string) bool {
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(o.Token)) == 1
}

type indexView struct {
	Runs         []indexRow
	Repo         string
	State        string
	Conclusion   string
	States       []state.RunState
	Conclusions  []state.Conclusion
	HasQueue     bool
	FilterString string
}

type indexRow struct {
	store.RunSummary
	Link string
}

func (o *Operator) index(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.RunFilter{Repo: q.Get("repo"), State: state.RunState(q.Get("state")), Conclusion: state.Conclusion(q.Get("conclusion"))}
	runs, err := store.ListRuns(r.Context(), o.Pool, f)
	if err != nil {
		if store.IsUnavailable(err) {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		o.Logger.Error("run index", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v := indexView{Repo: f.Repo, State: string(f.State), Conclusion: string(f.Conclusion), States: state.RunStates(),
		Conclusions: state.Conclusions(), HasQueue: o.Queue != nil}
	for _, run := range runs {
		v.Runs = append(v.Runs, indexRow{RunSummary: run, Link: "/runs/" + itoa64(run.ID) + "?token=" + url.QueryEscape(o.Links.Token(run.ID))})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTemplates.ExecuteTemplate(w, "runs.html", v); err != nil {
		o.Logger.Error("render run index", "err", err)
	}
}
