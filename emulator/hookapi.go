package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
)

// The app's webhook deliveries API (GET /app/hook/deliveries, GET one,
// POST …/attempts), with the app's JWT, as GitHub serves it. GitHub does
// not redeliver a failed delivery by itself: an app that wants what it
// missed lists the failures and asks for each again.

// deliveryStatus is the "status" GitHub shows: "OK", "Invalid HTTP
// Response: 503", or why no response came.
func deliveryStatus(d *Delivery) string {
	switch {
	case !d.Done:
		return "pending"
	case d.OK():
		return "OK"
	case d.StatusCode != 0:
		return fmt.Sprintf("Invalid HTTP Response: %d", d.StatusCode)
	case strings.Contains(d.Err, "Timeout") || strings.Contains(d.Err, "deadline"):
		return "timed out"
	case d.Err == "no webhook URL":
		return "no webhook URL"
	}
	return "failed to connect to host"
}

func nullableInt(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

// deliveryJSON is one item of the list; full adds the request and response.
func deliveryJSON(d *Delivery, full bool) map[string]any {
	action := any(nil)
	if d.Action != "" {
		action = d.Action
	}
	out := map[string]any{
		"id":              d.ID,
		"guid":            d.GUID,
		"delivered_at":    d.DeliveredAt.UTC().Format("2006-01-02T15:04:05Z"),
		"redelivery":      d.Redelivery,
		"duration":        d.Duration.Seconds(),
		"status":          deliveryStatus(d),
		"status_code":     d.StatusCode,
		"event":           d.Event,
		"action":          action,
		"installation_id": nullableInt(d.InstallationID),
		"repository_id":   nullableInt(d.RepoID),
		"throttled_at":    nil,
	}
	if full {
		headers := map[string]any{}
		for k := range d.Header {
			headers[k] = d.Header.Get(k)
		}
		var payload any
		_ = json.Unmarshal(d.Payload, &payload) // our own JSON
		out["url"] = ""
		out["request"] = map[string]any{"headers": headers, "payload": payload}
		out["response"] = map[string]any{"headers": map[string]any{}, "payload": d.Response}
	}
	return out
}

// listHookDeliveries lists newest first, per_page (default 30, at most
// 100) at a time, with a cursor in the Link header as GitHub pages it.
func (s *Server) listHookDeliveries(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = defaultPerPage
	}
	per = min(per, maxPerPage)
	cursor, _ := strconv.ParseInt(q.Get("cursor"), 10, 64)
	hq := s.hooks
	hq.mu.Lock()
	out := []any{}
	var next int64
	for i := len(hq.deliveries) - 1; i >= 0; i-- {
		d := hq.deliveries[i]
		if cursor > 0 && d.ID >= cursor {
			continue
		}
		if len(out) == per {
			next = d.ID
			break
		}
		out = append(out, deliveryJSON(d, false))
	}
	hq.mu.Unlock()
	if next > 0 {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		v := url.Values{"per_page": {strconv.Itoa(per)}, "cursor": {strconv.FormatInt(next, 10)}}
		u.RawQuery = v.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.String()))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deliveryFromPath(w http.ResponseWriter, r *http.Request) *Delivery {
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	hq := s.hooks
	hq.mu.Lock()
	defer hq.mu.Unlock()
	for _, d := range hq.deliveries {
		if d.ID == id {
			c := *d
			return &c
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
	return nil
}

func (s *Server) getHookDelivery(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	if d := s.deliveryFromPath(w, r); d != nil {
		writeJSON(w, http.StatusOK, deliveryJSON(d, true))
	}
}

// redeliverHookDelivery queues the delivery again (same GUID, a new id)
// and answers 202, as GitHub does.
func (s *Server) redeliverHookDelivery(w http.ResponseWriter, r *http.Request) {
	if !s.jwtApp(w, r) {
		return
	}
	d := s.deliveryFromPath(w, r)
	if d == nil {
		return
	}
	if err := s.Redeliver(d.GUID); err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{})
}
