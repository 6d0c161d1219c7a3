package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/handlers"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

const linkSecret = "secret"

// runSite is a real HTTP server with the run pages on a fresh database.
type runSite struct {
	pool      *pgxpool.Pool
	url       string
	links     *app.Links
	client    *http.Client
	keepalive time.Duration
}

func newRunSite(t testing.TB, keepalive time.Duration) *runSite {
	t.Helper()
	pool := storetest.Pool(t)
	r := mux.NewRouter()
	srv := httptest.NewUnstartedServer(r)
	url := "http://" + srv.Listener.Addr().String()
	links := app.NewLinks(url, linkSecret, time.Hour)
	handlers.RegisterRunPages(r, &handlers.RunPages{
		Pool:      pool,
		Links:     links,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Keepalive: keepalive,
		Poll:      20 * time.Millisecond,
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return &runSite{pool: pool, url: url, links: links, client: srv.Client(), keepalive: keepalive}
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// get fetches path (with its query) and returns the response and body.
func (s *runSite) get(t *testing.T, path string, header ...string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

type fixture struct {
	run     *store.Run
	cycles  []*store.Cycle
	arts    []store.Artifact
	seqs    []int64
	message []string
}

// seedRun makes a run of repo/branch with two concluded cycles, an artifact
// on each, and a few events.
func seedRun(t *testing.T, ctx context.Context, pool *pgxpool.Pool, repo, branch string) *fixture {
	t.Helper()
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: repo, InstallationID: 7, Branch: branch, Kind: "issue", Issue: 42})
	require.NoError(t, err)
	f := &fixture{run: run}
	for i, c := range []struct{ obl, text, conclusion, art, content string }{
		{"OBL-1", "parse the config file", "success", "agent.log", "agent said hello\n"},
		{"OBL-2", "reject unknown keys", "failure", "verify.log", "FAIL: TestUnknownKeys <script>x</script>\n"},
	} {
		cy, err := store.InsertCycle(ctx, pool, run.ID, "label", "")
		require.NoError(t, err)
		res, fence, err := store.ClaimCycle(ctx, pool, cy.ID, "test-worker", time.Minute, 0)
		require.NoError(t, err)
		require.Equal(t, store.Claimed, res)
		require.NoError(t, store.UpdateCycle(ctx, pool, cy.ID, fence, c.obl, c.text, fmt.Sprintf("%040d", i+1)))
		require.NoError(t, store.FinishCycle(ctx, pool, cy.ID, fence, state.Conclusion(c.conclusion), "summary of "+c.obl))
		a := &store.Artifact{CycleID: cy.ID, Name: c.art, Content: []byte(c.content)}
		require.NoError(t, store.InsertArtifact(ctx, pool, a))
		f.cycles = append(f.cycles, cy)
		f.arts = append(f.arts, *a)
		for _, step := range []string{"agent", "verify"} {
			msg := fmt.Sprintf("%s step of %s on %s", step, c.obl, branch)
			f.seqs = append(f.seqs, appendEvent(t, ctx, pool, run.ID, cy.ID, step, msg))
			f.message = append(f.message, msg)
		}
	}
	return f
}

func appendEvent(t *testing.T, ctx context.Context, pool *pgxpool.Pool, runID, cycleID int64, step, msg string) int64 {
	t.Helper()
	e := &store.Event{RunID: runID, CycleID: cycleID, Kind: "step", Step: step, Outcome: "success", Message: msg}
	require.NoError(t, store.AppendEvent(ctx, pool, e))
	return e.Seq
}

func TestRunPage(t *testing.T) {
	t.Parallel()
	s := newRunSite(t, time.Second)
	ctx := testCtx(t, time.Minute)
	f := seedRun(t, ctx, s.pool, "octo/private-repo", "specloop/issue-42")
	seedRun(t, ctx, s.pool, "octo/private-repo", "specloop/issue-43")
	xss := appendEvent(t, ctx, s.pool, f.run.ID, f.cycles[1].ID, "note", `<script>alert("x")</script>`)
	token := s.links.Token(f.run.ID)

	resp, body := s.get(t, fmt.Sprintf("/runs/%d?token=%s", f.run.ID, token))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	require.Contains(t, body, "octo/private-repo")
	require.Contains(t, body, "specloop/issue-42")
	require.NotContains(t, body, "specloop/issue-43", "another run's data on the page")
	for i, cy := range f.cycles {
		obl := []string{"OBL-1", "OBL-2"}[i]
		text := []string{"parse the config file", "reject unknown keys"}[i]
		concl := []string{"success", "failure"}[i]
		require.Regexp(t, fmt.Sprintf(`(?s)<section class="card" id="cycle-%d">\s*<h2>Cycle %d <span class="badge %s">%s</span></h2>.*?<code>%s</code> %s</li>`,
			cy.ID, cy.ID, concl, concl, obl, text), body)
		require.Contains(t, body, "summary of "+obl)
	}
	for _, m := range f.message {
		require.Contains(t, body, m)
	}
	require.Greater(t, xss, int64(0))
	require.NotContains(t, body, `<script>alert("x")</script>`, "event message not escaped")
	require.Contains(t, body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")

	// Every artifact is linked with the page's token, and the link works.
	hrefs := regexp.MustCompile(`<a href="(/runs/\d+/artifacts/\d+\?token=[^"]+)" download="([^"]+)">download</a>`).FindAllStringSubmatch(body, -1)
	require.Len(t, hrefs, len(f.arts))
	for i, a := range f.arts {
		require.Equal(t, fmt.Sprintf("/runs/%d/artifacts/%d?token=%s", f.run.ID, a.ID, token), hrefs[i][1])
		require.Equal(t, a.Name, hrefs[i][2])
		resp, got := s.get(t, hrefs[i][1])
		require.Equal(t, http.StatusOK, resp.StatusCode, got)
		require.Equal(t, string(a.Content), got)
	}
	// The page's stream is the run's own, with the same token.
	require.Contains(t, body, fmt.Sprintf(`const base="/runs/%d";`, f.run.ID))
	require.Contains(t, body, fmt.Sprintf(`const token=%q;`, token))
	require.Contains(t, body, `new EventSource(base+"/events?token="+encodeURIComponent(token)+"&last_event_id="+seq)`)
}

func TestRunPageEmptyRun(t *testing.T) {
	t.Parallel()
	s := newRunSite(t, time.Second)
	ctx := testCtx(t, time.Minute)
	run, err := store.UpsertRun(ctx, s.pool, &store.Run{Repo: "octo/empty", InstallationID: 1, Branch: "specloop/spec-a", Kind: "spec", SpecPath: "specs/a.md"})
	require.NoError(t, err)
	resp, body := s.get(t, fmt.Sprintf("/runs/%d?token=%s", run.ID, s.links.Token(run.ID)))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "No cycles yet")
	require.Contains(t, body, "specs/a.md")
}

func TestRunAccess(t *testing.T) {
	t.Parallel()
	s := newRunSite(t, time.Second)
	ctx := testCtx(t, time.Minute)
	a := seedRun(t, ctx, s.pool, "octo/private-repo", "specloop/a")
	b := seedRun(t, ctx, s.pool, "octo/private-repo", "specloop/b")
	good := s.links.Token(a.run.ID)

	exp, sig, ok := strings.Cut(good, ".")
	require.True(t, ok)
	n, err := strconv.ParseInt(exp, 36, 64)
	require.NoError(t, err)
	later := strconv.FormatInt(n+86400, 36) + "." + sig // expiry pushed back, old MAC
	flipped := []byte(sig)
	if flipped[0] == 'A' {
		flipped[0] = 'B'
	} else {
		flipped[0] = 'A'
	}
	expired := app.NewLinks(s.url, linkSecret, -time.Minute).Token(a.run.ID)
	foreign := app.NewLinks(s.url, "another-secret", time.Hour).Token(a.run.ID)

	paths := map[string]string{
		"page":     fmt.Sprintf("/runs/%d", a.run.ID),
		"events":   fmt.Sprintf("/runs/%d/events", a.run.ID),
		"artifact": fmt.Sprintf("/runs/%d/artifacts/%d", a.run.ID, a.arts[0].ID),
	}
	denied := map[string]string{
		"no token":            "",
		"empty token":         "?token=",
		"other run's token":   "?token=" + s.links.Token(b.run.ID),
		"expiry tampered":     "?token=" + later,
		"signature tampered":  "?token=" + exp + "." + string(flipped),
		"signature truncated": "?token=" + good[:len(good)-1],
		"expired":             "?token=" + expired,
		"other key":           "?token=" + foreign,
		"garbage":             "?token=not-a-token",
	}
	for pname, path := range paths {
		for dname, q := range denied {
			resp, body := s.get(t, path+q)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s with %s: %s", pname, dname, body)
			require.NotContains(t, body, "specloop/a", "%s with %s leaks the run", pname, dname)
		}
		if pname == "events" {
			_, code := s.openSSE(t, a.run.ID, "")
			require.Equal(t, http.StatusOK, code)
			continue
		}
		resp, body := s.get(t, path+"?token="+good)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", pname, body)
	}
	resp, body := s.get(t, fmt.Sprintf("/runs/%d?token=%s", a.run.ID, expired))
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "expired")

	// Unknown run, with a valid token for its id.
	const ghost = 987654
	for _, p := range []string{"/runs/%d?token=%s", "/runs/%d/events?token=%s"} {
		resp, body := s.get(t, fmt.Sprintf(p, ghost, s.links.Token(ghost)))
		require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	}
}

func TestRunArtifacts(t *testing.T) {
	t.Parallel()
	s := newRunSite(t, time.Second)
	ctx := testCtx(t, time.Minute)
	a := seedRun(t, ctx, s.pool, "octo/repo", "specloop/a")
	b := seedRun(t, ctx, s.pool, "octo/repo", "specloop/b")
	tokA := s.links.Token(a.run.ID)

	html := &store.Artifact{CycleID: a.cycles[0].ID, Name: "patch.diff", Content: []byte("<html><script>alert(1)</script></html>"), Truncated: true}
	require.NoError(t, store.InsertArtifact(ctx, s.pool, html))
	resp, body := s.get(t, fmt.Sprintf("/runs/%d/artifacts/%d?token=%s", a.run.ID, html.ID, tokA))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.True(t, strings.HasPrefix(body, string(html.Content)), body)
	require.Contains(t, body, "[artifact truncated when stored]")

	resp, body = s.get(t, fmt.Sprintf("/runs/%d/artifacts/%d?token=%s", a.run.ID, a.arts[1].ID, tokA))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, string(a.arts[1].Content), body)
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))

	// Run b's artifact through run a's URL, with run a's valid token.
	for _, art := range b.arts {
		resp, body = s.get(t, fmt.Sprintf("/runs/%d/artifacts/%d?token=%s", a.run.ID, art.ID, tokA))
		require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
		require.NotContains(t, body, string(art.Content))
	}
	// Run b's artifact with run a's token through run b's URL.
	resp, _ = s.get(t, fmt.Sprintf("/runs/%d/artifacts/%d?token=%s", b.run.ID, b.arts[0].ID, tokA))
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	// No such artifact.
	resp, _ = s.get(t, fmt.Sprintf("/runs/%d/artifacts/%d?token=%s", a.run.ID, 99999999, tokA))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// A pruned artifact is gone.
	_, err := s.pool.Exec(ctx, `UPDATE artifacts SET created_at = now() - interval '2 days' WHERE id = $1`, a.arts[0].ID)
	require.NoError(t, err)
	_, pruned, err := store.Prune(ctx, s.pool, time.Now().Add(-24*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, pruned)
	resp, _ = s.get(t, fmt.Sprintf("/runs/%d/artifacts/%d?token=%s", a.run.ID, a.arts[0].ID, tokA))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// sseStream reads a text/event-stream response line by line in the
// background, so that every read can be bounded by a timeout.
type sseStream struct {
	resp  *http.Response
	lines chan string
	done  chan struct{}
	err   error // set before lines is closed
}

type sseEvent struct {
	ID, Event, Data string
}

// openSSE connects to run's event stream; lastID, if not "", is sent as
// Last-Event-ID. It returns the response with its body unread when the
// status is not 200.
func (s *runSite) openSSE(t *testing.T, runID int64, lastID string) (*sseStream, int) {
	t.Helper()
	return s.openSSEAt(t, runID, lastID, false)
}

// openSSEAt is openSSE, sending lastID in the query (last_event_id) rather
// than the header when inQuery, as the run page does when it reconnects.
func (s *runSite) openSSEAt(t *testing.T, runID int64, lastID string, inQuery bool) (*sseStream, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	u := fmt.Sprintf("%s/runs/%d/events?token=%s", s.url, runID, s.links.Token(runID))
	if inQuery && lastID != "" {
		u += "&last_event_id=" + lastID
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" && !inQuery {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	st := &sseStream{resp: resp, lines: make(chan string), done: make(chan struct{})}
	t.Cleanup(func() {
		close(st.done)
		cancel()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		return st, resp.StatusCode
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	go func() {
		defer close(st.lines)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				st.err = err
				return
			}
			select {
			case st.lines <- strings.TrimSuffix(line, "\n"):
			case <-st.done:
				return
			}
		}
	}()
	return st, resp.StatusCode
}

// line returns the next line, failing the test after d.
func (st *sseStream) line(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-st.lines:
		if !ok {
			t.Fatalf("event stream ended: %v", st.err)
		}
		return l
	case <-time.After(d):
		t.Fatalf("no line on the event stream within %v", d)
	}
	return ""
}

// event returns the next event with data, skipping comments and
// retry-only blocks.
func (st *sseStream) event(t *testing.T, d time.Duration) sseEvent {
	t.Helper()
	deadline := time.Now().Add(d)
	var ev sseEvent
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no event on the stream within %v", d)
		}
		l := st.line(t, left)
		switch {
		case l == "":
			if ev.Data != "" || ev.ID != "" {
				return ev
			}
		case strings.HasPrefix(l, ":"):
		case strings.HasPrefix(l, "id: "):
			ev.ID = strings.TrimPrefix(l, "id: ")
		case strings.HasPrefix(l, "event: "):
			ev.Event = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: "):
			require.Empty(t, ev.Data, "event data over several lines")
			ev.Data = strings.TrimPrefix(l, "data: ")
		case strings.HasPrefix(l, "retry: "):
		default:
			t.Fatalf("unexpected line on the event stream: %q", l)
		}
	}
}

type eventData struct {
	Seq     int64  `json:"seq"`
	Cycle   int64  `json:"cycle"`
	Kind    string `json:"kind"`
	Step    string `json:"step"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
	At      string `json:"at"`
}

func decodeEvent(t *testing.T, ev sseEvent) eventData {
	t.Helper()
	var d eventData
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &d), "data is not JSON: %s", ev.Data)
	require.Equal(t, ev.ID, strconv.FormatInt(d.Seq, 10))
	require.Equal(t, ev.Event, d.Kind)
	_, err := time.Parse(time.RFC3339Nano, d.At)
	require.NoError(t, err)
	return d
}

const readWait = 10 * time.Second

func TestRunEventStream(t *testing.T) {
	t.Parallel()
	s := newRunSite(t, 5*time.Second)
	ctx := testCtx(t, time.Minute)
	f := seedRun(t, ctx, s.pool, "octo/repo", "specloop/sse")
	other := seedRun(t, ctx, s.pool, "octo/repo", "specloop/other")

	st, code := s.openSSE(t, f.run.ID, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "retry: 2000", st.line(t, readWait))
	for i, seq := range f.seqs {
		ev := st.event(t, readWait)
		require.Equal(t, strconv.FormatInt(seq, 10), ev.ID)
		require.Equal(t, "step", ev.Event)
		d := decodeEvent(t, ev)
		require.Equal(t, f.message[i], d.Message)
		require.Equal(t, f.cycles[i/2].ID, d.Cycle)
	}

	// An event appended while connected arrives; one of another run does not.
	appendEvent(t, ctx, s.pool, other.run.ID, other.cycles[0].ID, "agent", "not for this stream")
	msg := "line one\nline two\t\x1b[31mred\x1b[0m \"quoted\" <b>\u2028 \\ é"
	seq := appendEvent(t, ctx, s.pool, f.run.ID, f.cycles[1].ID, "audit", msg)
	ev := st.event(t, readWait)
	require.Equal(t, strconv.FormatInt(seq, 10), ev.ID)
	d := decodeEvent(t, ev)
	require.Equal(t, msg, d.Message)
	require.Equal(t, "audit", d.Step)
	require.Equal(t, f.seqs[len(f.seqs)-1]+1, seq)

	note := &store.Event{RunID: f.run.ID, Kind: "note", Message: "stopped by @octocat"}
	require.NoError(t, store.AppendEvent(ctx, s.pool, note))
	ev = st.event(t, readWait)
	require.Equal(t, "note", ev.Event)
	d = decodeEvent(t, ev)
	require.Equal(t, note.Seq, d.Seq)
	require.Zero(t, d.Cycle)

	// Resume: only the events after Last-Event-ID.
	after := f.seqs[1]
	st2, code := s.openSSE(t, f.run.ID, strconv.FormatInt(after, 10))
	require.Equal(t, http.StatusOK, code)
	want := append(append([]int64{}, f.seqs[2:]...), seq, note.Seq)
	for _, w := range want {
		ev := st2.event(t, readWait)
		require.Equal(t, strconv.FormatInt(w, 10), ev.ID)
	}

	// Resume from the latest event: nothing until a new one.
	st3, code := s.openSSE(t, f.run.ID, strconv.FormatInt(note.Seq, 10))
	require.Equal(t, http.StatusOK, code)
	next := appendEvent(t, ctx, s.pool, f.run.ID, 0, "push", "new head")
	// The next event on every stream is the new one: nothing came in
	// between (not the other run's event, no repeat of an old one).
	require.Equal(t, strconv.FormatInt(next, 10), st3.event(t, readWait).ID, "resumed from the latest")
	require.Equal(t, strconv.FormatInt(next, 10), st2.event(t, readWait).ID, "resumed after the second")
	require.Equal(t, strconv.FormatInt(next, 10), st.event(t, readWait).ID, "the first stream")
}

func TestRunEventStreamKeepalive(t *testing.T) {
	t.Parallel()
	const keepalive = 300 * time.Millisecond
	s := newRunSite(t, keepalive)
	ctx := testCtx(t, time.Minute)
	run, err := store.UpsertRun(ctx, s.pool, &store.Run{Repo: "octo/quiet", InstallationID: 1, Branch: "specloop/q", Kind: "spec", SpecPath: "specs/q.md"})
	require.NoError(t, err)

	start := time.Now()
	st, code := s.openSSE(t, run.ID, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "retry: 2000", st.line(t, readWait))
	require.Equal(t, "", st.line(t, readWait))
	for i := 0; i < 2; i++ {
		// Generous for a loaded -race run, but well under the next tick.
		require.Equal(t, ": keepalive", st.line(t, keepalive+time.Second), "keepalive %d", i)
		require.Equal(t, "", st.line(t, readWait))
	}
	// Two ticks, not a flood of them.
	require.GreaterOrEqual(t, time.Since(start), 2*keepalive-50*time.Millisecond)
}

func TestRunEventStreamResumeAfterPrune(t *testing.T) {
	t.Parallel()
	s := newRunSite(t, 5*time.Second)
	ctx := testCtx(t, time.Minute)
	f := seedRun(t, ctx, s.pool, "octo/repo", "specloop/pruned")
	require.Equal(t, []int64{1, 2, 3, 4}, f.seqs)
	seq5 := appendEvent(t, ctx, s.pool, f.run.ID, f.cycles[1].ID, "audit", "five")
	require.EqualValues(t, 5, seq5)

	// Events 1..3 are old and get pruned; 4 and 5 stay.
	_, err := s.pool.Exec(ctx, `UPDATE events SET created_at = now() - interval '3 days' WHERE run_id = $1 AND seq <= 3`, f.run.ID)
	require.NoError(t, err)
	pruned, _, err := store.Prune(ctx, s.pool, time.Now().Add(-48*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 3, pruned)

	for _, gone := range []string{"0", "1", "2"} {
		_, code := s.openSSE(t, f.run.ID, gone)
		require.Equal(t, http.StatusGone, code, "Last-Event-ID %s", gone)
	}
	from3, code := s.openSSE(t, f.run.ID, "3")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "4", from3.event(t, readWait).ID)
	require.Equal(t, "5", from3.event(t, readWait).ID)
	// Resuming from the newest gets nothing until a new event (checked
	// below: its first event is the one appended after the prune).
	from5, code := s.openSSE(t, f.run.ID, "5")
	require.Equal(t, http.StatusOK, code)
	// A fresh connection gets what is kept.
	st, code := s.openSSE(t, f.run.ID, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "4", st.event(t, readWait).ID)

	// The 410 is a plain answer, not a stream.
	st, code = s.openSSE(t, f.run.ID, "1")
	require.Equal(t, http.StatusGone, code)
	require.NotEqual(t, "text/event-stream", st.resp.Header.Get("Content-Type"))

	// Everything pruned: a client that saw events cannot resume.
	_, err = s.pool.Exec(ctx, `UPDATE events SET created_at = now() - interval '3 days' WHERE run_id = $1`, f.run.ID)
	require.NoError(t, err)
	pruned, _, err = store.Prune(ctx, s.pool, time.Now().Add(-48*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 2, pruned)
	for _, last := range []string{"3", "5"} {
		_, code := s.openSSE(t, f.run.ID, last)
		require.Equal(t, http.StatusGone, code, "Last-Event-ID %s with no events kept", last)
	}

	// New events after a full prune: a client that saw seq 5 before the
	// prune must not silently skip them, whatever numbers they get.
	fresh := appendEvent(t, ctx, s.pool, f.run.ID, f.cycles[1].ID, "agent", "after the prune")
	// The streams opened before the prune go on with it, and nothing came
	// on them in between.
	require.Equal(t, strconv.FormatInt(fresh, 10), from3.event(t, readWait).ID, "stream resumed from 3")
	require.Equal(t, strconv.FormatInt(fresh, 10), from5.event(t, readWait).ID, "stream resumed from 5")
	for _, last := range []string{"3", "5"} {
		st, code := s.openSSE(t, f.run.ID, last)
		if code == http.StatusOK {
			ev := st.event(t, readWait)
			require.Equal(t, strconv.FormatInt(fresh, 10), ev.ID, "Last-Event-ID %s skipped the new event", last)
			continue
		}
		require.Equal(t, http.StatusGone, code, "Last-Event-ID %s", last)
	}
}

func TestRunEventStreamBadLastEventID(t *testing.T) {
	t.Parallel()
	s := newRunSite(t, 5*time.Second)
	ctx := testCtx(t, time.Minute)
	f := seedRun(t, ctx, s.pool, "octo/repo", "specloop/bad")
	for _, bad := range []string{"abc", "-1", "1.5", "0x10", "99999999999999999999999"} {
		st, code := s.openSSE(t, f.run.ID, bad)
		require.Equal(t, http.StatusBadRequest, code, "Last-Event-ID %q", bad)
		b, err := io.ReadAll(st.resp.Body)
		require.NoError(t, err)
		require.Contains(t, string(b), "Last-Event-ID")
	}
	// A run that never had events: 0 is a fine place to resume from.
	run, err := store.UpsertRun(ctx, s.pool, &store.Run{Repo: "octo/repo", InstallationID: 1, Branch: "specloop/none", Kind: "spec", SpecPath: "specs/n.md"})
	require.NoError(t, err)
	st, code := s.openSSE(t, run.ID, "0")
	require.Equal(t, http.StatusOK, code)
	// Nothing until its first event, which is then the next one.
	first := appendEvent(t, ctx, s.pool, run.ID, 0, "push", "first")
	require.Equal(t, strconv.FormatInt(first, 10), st.event(t, readWait).ID)
}

// TestRunPageCost: the cost is what the run's requests through the model
// proxy cost, and "not measured" when none went through it; another run's
// spend is not this one's.
func TestRunPageCost(t *testing.T) {
	t.Parallel()
	s := newRunSite(t, time.Second)
	ctx := testCtx(t, time.Minute)
	f := seedRun(t, ctx, s.pool, "octo/costly", "specloop/issue-42")
	other := seedRun(t, ctx, s.pool, "octo/costly", "specloop/issue-43")
	page := func(run *store.Run) string {
		resp, body := s.get(t, fmt.Sprintf("/runs/%d?token=%s", run.ID, s.links.Token(run.ID)))
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		return body
	}
	require.Contains(t, page(f.run), "<b>cost</b>not measured")

	require.NoError(t, store.InsertModelCalls(ctx, s.pool, []store.ModelCall{
		{Repo: "octo/costly", RunID: f.run.ID, CycleID: f.cycles[0].ID, Path: "/v1/responses", Status: 200, Model: "gpt-5", Input: 1000, Output: 100, CostUSD: 0.5},
		{Repo: "octo/costly", RunID: f.run.ID, CycleID: f.cycles[1].ID, Path: "/v1/responses", Status: 200, Model: "gpt-5", Input: 2000, Output: 50, CostUSD: 0.25},
		{Repo: "octo/costly", RunID: other.run.ID, Path: "/v1/messages", Status: 200, Input: 10, Output: 10, CostUSD: 9},
	}))
	require.Contains(t, page(f.run), "<b>cost</b>$0.7500 (measured at the model proxy)")
	require.Contains(t, page(other.run), "<b>cost</b>$9.0000")
}
