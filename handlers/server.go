package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/specloop/specloop/store"
)

// Router builds the HTTP routes. Pages (run pages, setup) are added by the
// caller on the returned router.
func Router(intake *Intake, pool *pgxpool.Pool, m *Metrics) *mux.Router {
	r := mux.NewRouter()
	if intake != nil {
		r.Handle("/webhooks", intake).Methods(http.MethodPost)
	}
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/readyz", readyz(pool)).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	return r
}

// readyz is ready when the database answers and no migration is pending.
func readyz(pool *pgxpool.Pool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		pending, err := store.Pending(ctx, pool)
		switch {
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable", "error": err.Error()})
		case len(pending) > 0:
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "migrations pending: run specloop migrate", "pending": pending})
		default:
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
