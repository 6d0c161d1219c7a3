package emulator

import (
	"net/http"
	"strconv"
	"strings"
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
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request) (string, bool) {
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
	stampRate(w.Header(), b)
	w.Header().Set("X-GitHub-Request-Id", randomToken("")[:20])
	s.mu.Unlock()
	if over {
		writeError(w, http.StatusForbidden, "API rate limit exceeded")
		return key, false
	}
	return key, true
}

func stampRate(h http.Header, b *rateBucket) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(b.limit-b.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(b.reset.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(b.used))
	h.Set("X-RateLimit-Resource", "core")
}

// refund gives back the request a 304 used: GitHub does not count a
// conditional request answered "Not Modified" against the primary limit.
func (s *Server) refund(h http.Header, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.rate[key]; b != nil && b.used > 0 {
		b.used--
		stampRate(h, b)
	}
}

// SecondaryLimits are GitHub's limits on content-creating requests, per
// credential (a user, or an installation's tokens together).
type SecondaryLimits struct {
	PerMinute, PerHour int
}

// githubSecondaryLimits are GitHub's documented figures.
var githubSecondaryLimits = SecondaryLimits{PerMinute: 80, PerHour: 500}

// contentCreating says whether r creates content (an issue, comment, PR,
// check run, reaction, label): what GitHub's secondary limit counts. Token
// exchanges, redeliveries and GraphQL reads are not content.
func contentCreating(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/app/"), strings.HasPrefix(p, "/app-manifests/"), p == "/graphql":
		return false
	}
	return strings.HasPrefix(p, "/repos/")
}

// secondaryLimit answers 403 with Retry-After once a credential has made
// too many content-creating requests in the last minute or hour, as GitHub
// does (it sends 403 or 429; 403 is what it sends for these).
func (s *Server) secondaryLimit(w http.ResponseWriter, r *http.Request) bool {
	if !contentCreating(r) {
		return true
	}
	secret, _, ok := credentials(r)
	if !ok {
		return true
	}
	lim := githubSecondaryLimits
	if s.opts.SecondaryLimits != nil {
		lim = *s.opts.SecondaryLimits
	}
	s.mu.Lock()
	key := secret
	if c, ok := s.callerLocked(secret); ok {
		key = "user:" + c.user.login
		if c.isApp() {
			key = "installation:" + strconv.FormatInt(c.tok.inst.id, 10)
		}
	}
	now := s.now()
	list := s.creates[key]
	for len(list) > 0 && !list[0].After(now.Add(-time.Hour)) {
		list = list[1:]
	}
	var wait time.Duration
	if lim.PerHour > 0 && len(list) >= lim.PerHour {
		wait = list[len(list)-lim.PerHour].Add(time.Hour).Sub(now)
	}
	if lim.PerMinute > 0 && len(list) >= lim.PerMinute {
		if first := list[len(list)-lim.PerMinute]; first.After(now.Add(-time.Minute)) {
			wait = max(wait, first.Add(time.Minute).Sub(now))
		}
	}
	if wait <= 0 {
		s.creates[key] = append(list, now)
	} else {
		s.creates[key] = list
	}
	s.mu.Unlock()
	if wait <= 0 {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	writeJSON(w, http.StatusForbidden, errorBody{
		Message:          "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later.",
		DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		Status:           "403",
	})
	return false
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
