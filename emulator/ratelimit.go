package emulator

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v62/github"
)

// rateBucket counts one credential's requests in the current hour, so
// clients that watch X-RateLimit-* headers see them move as on GitHub.
type rateBucket struct {
	limit int
	used  int
	reset time.Time
}

// rateLimit stamps the rate-limit headers on every response and answers
// 403 once a credential has used its hour, as GitHub's primary limit does.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request) bool {
	key, limit := "anonymous:"+r.RemoteAddr, 60
	if secret, _, ok := credentials(r); ok && secret != "" {
		key, limit = secret, 5000
	}
	s.mu.Lock()
	now := s.now()
	b := s.rate[key]
	if b == nil || !now.Before(b.reset) {
		b = &rateBucket{limit: limit, reset: now.Add(time.Hour).Truncate(time.Second)}
		s.rate[key] = b
	}
	over := b.used >= b.limit
	if !over {
		b.used++
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(b.limit-b.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(b.reset.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(b.used))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Request-Id", randomToken("")[:20])
	s.mu.Unlock()
	if over {
		writeError(w, http.StatusForbidden, "API rate limit exceeded")
		return false
	}
	return true
}

func (s *Server) getRateLimit(w http.ResponseWriter, r *http.Request) {
	secret, _, _ := credentials(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.rate[secret]
	if b == nil {
		b = &rateBucket{limit: 60, reset: s.now().Add(time.Hour)}
	}
	rate := &github.Rate{Limit: b.limit, Remaining: b.limit - b.used, Reset: github.Timestamp{Time: b.reset}}
	writeJSON(w, http.StatusOK, map[string]any{"resources": map[string]any{"core": rate}, "rate": rate})
}
