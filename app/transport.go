package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	jwt "github.com/golang-jwt/jwt/v4"
)

// The one GitHub client layer: every request specloop sends to GitHub,
// as the app or as an installation, goes through resilient (below the
// auth layers, above the request counter). It
//
//   - honours the primary rate limit (403/429 with X-RateLimit-Remaining 0:
//     wait for X-RateLimit-Reset) and the secondary one (403/429 with
//     Retry-After, or GitHub's "secondary rate limit" message: wait that
//     long, at least a minute without a header, and hold every
//     content-creating request of the installation until then), within
//     Policy.MaxWait;
//   - paces content-creating requests (POSTs that create issues, comments,
//     PRs, check runs; GraphQL mutations) per installation under GitHub's
//     80 a minute;
//   - retries 5xx answers and timeouts of idempotent requests (GET, HEAD,
//     PUT, PATCH, DELETE, and the POSTs that are safe to repeat) with
//     bounded exponential backoff and jitter;
//   - makes repeated reads conditional (If-None-Match with the ETag last
//     seen), so unchanged data costs a 304, which GitHub does not count
//     against the rate limit;
//   - times each attempt out on its own (RequestTimeout), so a hung GitHub
//     fails the call instead of hanging a cycle;
//   - learns GitHub's clock from the Date header, so JWTs and token
//     expiry are judged by GitHub's time, not a skewed local one.

// Policy bounds the client layer's retries and waits.
type Policy struct {
	// Attempts is how many times an idempotent request is sent at most
	// when GitHub answers 5xx or the attempt times out.
	Attempts int
	// BaseDelay and MaxDelay bound the backoff between those attempts.
	BaseDelay, MaxDelay time.Duration
	// MaxWait is the longest a rate limit is waited out; a longer one
	// fails the request with GitHub's answer.
	MaxWait time.Duration
	// PerMinute caps content-creating requests per installation.
	PerMinute int
}

// DefaultPolicy: four attempts over about four seconds, rate limits waited
// up to five minutes, 72 content-creating requests a minute (GitHub's 80,
// with room for a person using the same installation).
var DefaultPolicy = Policy{Attempts: 4, BaseDelay: 500 * time.Millisecond, MaxDelay: 4 * time.Second, MaxWait: 5 * time.Minute, PerMinute: 72}

// githubClock is GitHub's time as its Date headers tell it.
type githubClock struct {
	mu   sync.Mutex
	skew time.Duration // GitHub's time minus ours
}

func (c *githubClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

// observe learns the skew from a response's Date (whole seconds: a skew
// under two seconds is noise).
func (c *githubClock) observe(h http.Header) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return
	}
	skew := d.Sub(time.Now())
	if skew > -2*time.Second && skew < 2*time.Second {
		skew = 0
	}
	c.mu.Lock()
	c.skew = skew.Round(time.Second)
	c.mu.Unlock()
}

// skewSigner signs the app's JWTs with GitHub's time, so a local clock
// that drifted does not make GitHub refuse them.
type skewSigner struct {
	inner ghinstallation.Signer
	clock *githubClock
}

func (s skewSigner) Sign(claims jwt.Claims) (string, error) {
	if rc, ok := claims.(*jwt.RegisteredClaims); ok {
		s.clock.mu.Lock()
		skew := s.clock.skew
		s.clock.mu.Unlock()
		if rc.IssuedAt != nil {
			rc.IssuedAt = jwt.NewNumericDate(rc.IssuedAt.Add(skew).Truncate(time.Second))
		}
		if rc.ExpiresAt != nil {
			rc.ExpiresAt = jwt.NewNumericDate(rc.ExpiresAt.Add(skew).Truncate(time.Second))
		}
	}
	return s.inner.Sign(claims)
}

// limits is what one installation (or the app) has learnt about its
// limits, shared by every request it sends.
type limits struct {
	mu           sync.Mutex
	blockedUntil time.Time   // secondary limit: no content until then
	created      []time.Time // content-creating requests in the last minute
}

// resilient is the client layer's RoundTripper for one identity.
type resilient struct {
	next    http.RoundTripper
	clock   *githubClock
	policy  Policy
	timeout time.Duration
	limits  *limits
	cache   *etagCache
	logger  *slog.Logger
	sleep   func(ctx context.Context, d time.Duration) error
	// issued, if set, learns each installation token's expiry (GitHub's
	// clock) from the token exchange's answer.
	issued func(expiresAt time.Time)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// contentCreating says whether GitHub's secondary limit counts r.
func contentCreating(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := r.URL.Path
	return !strings.HasSuffix(p, "/access_tokens") && !strings.Contains(p, "/hook/deliveries/") && !strings.Contains(p, "/app-manifests/")
}

// retryable says whether r may be sent again after a 5xx or a timeout:
// idempotent methods, and POSTs whose repeat changes nothing (a token
// exchange, a reaction or label GitHub already has, GraphQL's draft
// mutations, a re-request, a redelivery).
func retryable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	case http.MethodPost:
		p := r.URL.Path
		for _, safe := range []string{"/access_tokens", "/reactions", "/labels", "/graphql", "/rerequest", "/attempts"} {
			if strings.HasSuffix(p, safe) {
				return true
			}
		}
	}
	return false
}

// replay is r ready to send again (its body re-read).
func replay(r *http.Request, ctx context.Context) (*http.Request, error) {
	out := r.Clone(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			return nil, errors.New("request body cannot be replayed")
		}
		b, err := r.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = b
	}
	return out, nil
}

func (t *resilient) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	creating := contentCreating(req)
	if creating {
		if err := t.pace(ctx); err != nil {
			return nil, err
		}
	}
	var cached *etagEntry
	if req.Method == http.MethodGet && t.cache != nil && req.Header.Get("If-None-Match") == "" {
		cached = t.cache.get(req.URL.String())
	}
	waits, attempt := 0, 0
	for {
		attempt++
		actx, cancel := context.WithTimeout(ctx, t.timeout)
		try, err := replay(req, actx)
		if err != nil {
			cancel()
			return nil, err
		}
		if cached != nil {
			try.Header.Set("If-None-Match", cached.etag)
		}
		resp, err := t.next.RoundTrip(try)
		if err != nil {
			cancel()
			if ctx.Err() == nil && attempt < t.policy.Attempts && retryable(req) && transient(err) {
				if serr := t.sleep(ctx, t.backoff(attempt)); serr != nil {
					return nil, serr
				}
				continue
			}
			return nil, err
		}
		t.clock.observe(resp.Header)
		switch wait, limited := t.rateLimited(resp); {
		case limited && waits < 3 && wait <= t.policy.MaxWait:
			drain(resp)
			cancel()
			waits++
			if creating || resp.Header.Get("Retry-After") != "" {
				t.block(wait)
			}
			t.logger.Warn("GitHub rate limit: waiting", "method", req.Method, "path", req.URL.Path, "status", resp.StatusCode, "wait", wait)
			// Having waited, this request goes; others of the
			// installation wait in pace until the block ends.
			if err := t.sleep(ctx, wait); err != nil {
				return nil, err
			}
			attempt--
			continue
		case resp.StatusCode >= 500 && attempt < t.policy.Attempts && retryable(req):
			drain(resp)
			cancel()
			if err := t.sleep(ctx, t.backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		case resp.StatusCode == http.StatusNotModified && cached != nil:
			drain(resp)
			cancel()
			return cached.response(req, resp.Header), nil
		case req.Method == http.MethodGet && resp.StatusCode == http.StatusOK && t.cache != nil && resp.Header.Get("ETag") != "":
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			if err != nil {
				return nil, err
			}
			t.cache.put(req.URL.String(), &etagEntry{etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: b})
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return resp, nil
		}
		if t.issued != nil && resp.StatusCode == http.StatusCreated && strings.HasSuffix(req.URL.Path, "/access_tokens") {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			if err != nil {
				return nil, err
			}
			var tok struct {
				ExpiresAt time.Time `json:"expires_at"`
			}
			if json.Unmarshal(b, &tok) == nil && !tok.ExpiresAt.IsZero() {
				t.issued(tok.ExpiresAt)
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return resp, nil
		}
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
}

// transient says whether a transport error is worth another attempt: a
// timeout of this attempt, a reset or refused connection.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "connection refused")
}

// backoff is the wait before attempt n+1: exponential, capped, with
// jitter so many clients do not retry in step.
func (t *resilient) backoff(n int) time.Duration {
	d := t.policy.BaseDelay << (n - 1)
	if d > t.policy.MaxDelay || d <= 0 {
		d = t.policy.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// rateLimited reads a limit answer: how long to wait, and whether it is one.
func (t *resilient) rateLimited(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	h := resp.Header
	if s := h.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return time.Duration(n) * time.Second, true
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(reset, 0).Sub(t.clock.now()), 0) + time.Second, true
		}
	}
	// A secondary limit without Retry-After: GitHub says wait a minute.
	if secondaryMessage(resp) {
		return time.Minute, true
	}
	return 0, false
}

// secondaryMessage peeks at the body for GitHub's secondary-limit message,
// leaving the body readable.
func secondaryMessage(resp *http.Response) bool {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return err == nil && strings.Contains(string(b), "secondary rate limit")
}

// block holds content-creating requests back for d.
func (t *resilient) block(d time.Duration) {
	t.limits.mu.Lock()
	defer t.limits.mu.Unlock()
	if until := time.Now().Add(d); until.After(t.limits.blockedUntil) {
		t.limits.blockedUntil = until
	}
}

// pace waits out a secondary-limit block and keeps content-creating
// requests under Policy.PerMinute.
func (t *resilient) pace(ctx context.Context) error {
	for {
		t.limits.mu.Lock()
		now := time.Now()
		wait := t.limits.blockedUntil.Sub(now)
		list := t.limits.created
		for len(list) > 0 && now.Sub(list[0]) >= time.Minute {
			list = list[1:]
		}
		t.limits.created = list
		if wait <= 0 && t.policy.PerMinute > 0 && len(list) >= t.policy.PerMinute {
			wait = list[0].Add(time.Minute).Sub(now)
		}
		if wait <= 0 {
			t.limits.created = append(t.limits.created, now)
			t.limits.mu.Unlock()
			return nil
		}
		t.limits.mu.Unlock()
		if err := t.sleep(ctx, wait); err != nil {
			return fmt.Errorf("wait for GitHub's content limit: %w", err)
		}
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// etagCache keeps the last answer to each URL an identity read, to ask
// again with If-None-Match.
type etagCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*etagEntry
	order   []string // oldest first, for eviction
}

type etagEntry struct {
	etag   string
	header http.Header
	body   []byte
}

func newETagCache(max int) *etagCache {
	return &etagCache{max: max, entries: map[string]*etagEntry{}}
}

func (c *etagCache) get(url string) *etagEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[url]
}

func (c *etagCache) put(url string, e *etagEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[url]; !ok {
		c.order = append(c.order, url)
	}
	c.entries[url] = e
	for len(c.order) > c.max {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
}

// response is the cached answer, as a 200 with the 304's fresh headers
// (rate limit, date) over the cached ones.
func (e *etagEntry) response(req *http.Request, fresh http.Header) *http.Response {
	h := e.header.Clone()
	for _, k := range []string{"Date", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "X-Ratelimit-Used", "X-Github-Request-Id"} {
		if v := fresh.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(e.body)), ContentLength: int64(len(e.body)), Request: req,
	}
}
