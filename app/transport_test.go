package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
)

// fakeGitHub answers the client layer's attempts from a script, and
// records what was asked.
type fakeGitHub struct {
	mu      sync.Mutex
	answers []func(*http.Request) *http.Response
	got     []*http.Request
}

func (f *fakeGitHub) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r)
	next := f.answers[0]
	if len(f.answers) > 1 {
		f.answers = f.answers[1:]
	}
	return next(r), nil
}

func answer(status int, header map[string]string, body string) func(*http.Request) *http.Response {
	return func(r *http.Request) *http.Response {
		h := http.Header{}
		for k, v := range header {
			h.Set(k, v)
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}
	}
}

// sleeps records the waits instead of waiting.
type sleeps struct {
	mu  sync.Mutex
	got []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, d)
	return nil
}

func layer(f *fakeGitHub, s *sleeps, p Policy) *resilient {
	return &resilient{next: f, clock: &githubClock{}, policy: p, timeout: time.Second, limits: &limits{},
		cache: newETagCache(8), logger: discard(), sleep: s.sleep}
}

func TestResilient(t *testing.T) {
	t.Parallel()
	secondary := answer(403, map[string]string{"Retry-After": "7"}, `{"message":"You have exceeded a secondary rate limit"}`)
	tests := []struct {
		name       string
		method     string
		path       string
		answers    []func(*http.Request) *http.Response
		wantStatus int
		wantTries  int
		wantSleeps func(t *testing.T, got []time.Duration)
	}{
		{"5xx burst on a read is retried", "GET", "/repos/o/r", []func(*http.Request) *http.Response{
			answer(502, nil, "<html>"), answer(503, nil, "{}"), answer(200, nil, "{}")}, 200, 3,
			func(t *testing.T, got []time.Duration) {
				require.Len(t, got, 2)
				for _, d := range got {
					require.LessOrEqual(t, d, DefaultPolicy.MaxDelay, "bounded backoff")
				}
			}},
		{"5xx on an update is retried, within Attempts", "PATCH", "/repos/o/r/check-runs/1", []func(*http.Request) *http.Response{
			answer(502, nil, "")}, 502, DefaultPolicy.Attempts, nil},
		{"5xx on creating a comment is not retried: it may have been made", "POST", "/repos/o/r/issues/1/comments", []func(*http.Request) *http.Response{
			answer(502, nil, ""), answer(201, nil, "{}")}, 502, 1, nil},
		{"a token exchange is safe to retry", "POST", "/app/installations/1/access_tokens", []func(*http.Request) *http.Response{
			answer(500, nil, ""), answer(201, nil, "{}")}, 201, 2, nil},
		{"secondary limit: wait Retry-After, then send", "POST", "/repos/o/r/pulls", []func(*http.Request) *http.Response{
			secondary, answer(201, nil, "{}")}, 201, 2,
			func(t *testing.T, got []time.Duration) { require.Equal(t, []time.Duration{7 * time.Second}, got) }},
		{"secondary limit without Retry-After: a minute", "POST", "/repos/o/r/issues", []func(*http.Request) *http.Response{
			answer(403, nil, `{"message":"You have exceeded a secondary rate limit."}`), answer(201, nil, "{}")}, 201, 2,
			func(t *testing.T, got []time.Duration) { require.Equal(t, []time.Duration{time.Minute}, got) }},
		{"primary limit: wait for the reset", "GET", "/repos/o/r", []func(*http.Request) *http.Response{
			answer(403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}, `{"message":"API rate limit exceeded"}`),
			answer(200, nil, "{}")}, 200, 2, nil},
		{"a limit longer than MaxWait fails with GitHub's answer", "POST", "/repos/o/r/pulls", []func(*http.Request) *http.Response{
			answer(429, map[string]string{"Retry-After": "3600"}, "{}")}, 429, 1, nil},
		{"a plain 403 is an answer, not a limit", "GET", "/repos/o/r", []func(*http.Request) *http.Response{
			answer(403, nil, `{"message":"Resource not accessible by integration"}`)}, 403, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, s := &fakeGitHub{answers: tt.answers}, &sleeps{}
			req, err := http.NewRequest(tt.method, "https://api.github.com"+tt.path, strings.NewReader(`{"a":1}`))
			require.NoError(t, err)
			resp, err := layer(f, s, DefaultPolicy).RoundTrip(req)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, resp.StatusCode)
			require.Len(t, f.got, tt.wantTries)
			for _, r := range f.got[1:] {
				b, err := io.ReadAll(r.Body)
				require.NoError(t, err)
				require.Equal(t, `{"a":1}`, string(b), "every attempt carries the body")
			}
			if tt.wantSleeps != nil {
				tt.wantSleeps(t, s.got)
			}
		})
	}
}

func TestResilientPacesContent(t *testing.T) {
	t.Parallel()
	f, s := &fakeGitHub{answers: []func(*http.Request) *http.Response{answer(201, nil, "{}")}}, &sleeps{}
	l := layer(f, s, Policy{Attempts: 1, MaxWait: time.Minute, PerMinute: 3})
	post := func(path string) {
		req, err := http.NewRequest("POST", "https://api.github.com"+path, strings.NewReader("{}"))
		require.NoError(t, err)
		_, err = l.RoundTrip(req)
		require.NoError(t, err)
	}
	for range 3 {
		post("/repos/o/r/issues/1/comments")
	}
	require.Empty(t, s.got, "three a minute go at once")
	// The fake sleep does not wait: the fourth sees the minute still full
	// once, sleeps, and (time having not passed) would sleep again; the
	// first wait is what matters.
	l.sleep = func(ctx context.Context, d time.Duration) error {
		s.got = append(s.got, d)
		l.limits.mu.Lock()
		l.limits.created = nil // the minute passed
		l.limits.mu.Unlock()
		return nil
	}
	post("/repos/o/r/issues/1/comments")
	require.Len(t, s.got, 1, "the fourth waits")
	require.Greater(t, s.got[0], 50*time.Second)
	// Reads are never paced.
	req, _ := http.NewRequest("GET", "https://api.github.com/repos/o/r", nil)
	_, err := l.RoundTrip(req)
	require.NoError(t, err)
	require.Len(t, s.got, 1)
}

func TestResilientConditionalReads(t *testing.T) {
	t.Parallel()
	f, s := &fakeGitHub{answers: []func(*http.Request) *http.Response{
		answer(200, map[string]string{"ETag": `W/"v1"`}, `{"name":"widgets"}`),
		func(r *http.Request) *http.Response {
			if r.Header.Get("If-None-Match") != `W/"v1"` {
				return answer(200, nil, `{"name":"unconditional"}`)(r)
			}
			return answer(304, map[string]string{"X-RateLimit-Remaining": "4999"}, "")(r)
		},
	}}, &sleeps{}
	l := layer(f, s, DefaultPolicy)
	for i := range 2 {
		req, _ := http.NewRequest("GET", "https://api.github.com/repos/o/r", nil)
		resp, err := l.RoundTrip(req)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, "a 304 reads as the cached 200")
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, `{"name":"widgets"}`, string(b), "read %d", i)
	}
	require.Len(t, f.got, 2)
}

// TestClientsOnEmulator: the client layer against the emulator's own
// limits, faults and clock.
func TestClientsOnEmulator(t *testing.T) {
	t.Parallel()
	const appID = 4545
	clk := &emulator.Clock{}
	emu, err := emulator.New(emulator.Options{AppID: appID, AppPublicKey: &testKey().PublicKey, Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Close() })
	base, err := emu.Start()
	require.NoError(t, err)
	_, err = emu.CreateRepo("acme", "widgets", emulator.RepoOptions{Files: map[string]string{"README.md": "# widgets\n"}})
	require.NoError(t, err)
	inst := emu.Install("acme")
	clients, err := NewClients(&Config{AppID: appID, PrivateKey: testKey(), GitHubAPIURL: base + "/"})
	require.NoError(t, err)
	ctx := t.Context()
	gh := clients.Installation(inst)

	t.Run("a secondary limit on opening an issue is waited out", func(t *testing.T) {
		fault, err := emu.Inject(emulator.Fault{Method: "POST", Path: "/repos/{owner}/{repo}/issues", Count: 1, Status: 403, RetryAfter: time.Second})
		require.NoError(t, err)
		is, _, err := gh.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("after the wait")})
		require.NoError(t, err)
		require.Equal(t, 1, fault.Fired())
		require.Equal(t, "after the wait", emu.Issue("acme", "widgets", is.GetNumber()).GetTitle())
	})

	t.Run("an unchanged read costs a 304", func(t *testing.T) {
		before := emu.Served()["GET /repos/acme/widgets"]
		for range 3 {
			_, res, err := gh.Repositories.Get(ctx, "acme", "widgets")
			require.NoError(t, err)
			require.Equal(t, 200, res.StatusCode)
		}
		require.Equal(t, before+3, emu.Served()["GET /repos/acme/widgets"], "each read asks GitHub")
		_, res, err := gh.Repositories.Get(ctx, "acme", "widgets")
		require.NoError(t, err)
		remaining := res.Rate.Remaining
		_, res, err = gh.Repositories.Get(ctx, "acme", "widgets")
		require.NoError(t, err)
		require.Equal(t, remaining, res.Rate.Remaining, "answered 304: no rate limit spent")
	})

	t.Run("GitHub's clock moves past the token's life", func(t *testing.T) {
		tok, err := clients.Token(ctx, inst)
		require.NoError(t, err)
		clk.Advance(61 * time.Minute)
		// Both the API and a fresh push token work: the JWT is dated by
		// GitHub's clock and the stale token is replaced.
		_, _, err = gh.Repositories.Get(ctx, "acme", "widgets")
		require.NoError(t, err)
		fresh, err := clients.Token(ctx, inst)
		require.NoError(t, err)
		require.NotEqual(t, tok, fresh, "a new token for the push")
		user := github.NewClient(nil).WithAuthToken(fresh)
		user.BaseURL = gh.BaseURL
		_, _, err = user.Repositories.Get(ctx, "acme", "widgets")
		require.NoError(t, err, "the new token is good on GitHub's clock")
	})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
