package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
)

// seeder writes a run's rows as the cycle worker does.
type seeder struct {
	t    testing.TB
	ctx  context.Context
	pool *pgxpool.Pool
	run  *store.Run
}

func newSeeder(t testing.TB, ctx context.Context, pool *pgxpool.Pool, branch string) *seeder {
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "octo/widgets", InstallationID: 1, Branch: branch, Kind: state.RunIssue, Issue: 7})
	require.NoError(t, err)
	return &seeder{t: t, ctx: ctx, pool: pool, run: run}
}

func (s *seeder) cycle(obl string) (*store.Cycle, int64) {
	c, err := store.InsertCycle(s.ctx, s.pool, s.run.ID, "label", "")
	require.NoError(s.t, err)
	res, fence, err := store.ClaimCycle(s.ctx, s.pool, c.ID, "w1", time.Minute, 0)
	require.NoError(s.t, err)
	require.Equal(s.t, store.Claimed, res)
	require.NoError(s.t, store.UpdateCycle(s.ctx, s.pool, c.ID, fence, obl, "text of "+obl, "abcdef0123456789abcdef0123456789abcdef01"))
	return c, fence
}

func (s *seeder) ev(c *store.Cycle, kind, step, outcome, msg string, data *store.StepData) int64 {
	e := &store.Event{RunID: s.run.ID, Kind: kind, Step: step, Outcome: outcome, Message: msg}
	if c != nil {
		e.CycleID = c.ID
	}
	if data != nil {
		b, err := json.Marshal(data)
		require.NoError(s.t, err)
		e.Data = b
	}
	require.NoError(s.t, store.AppendEvent(s.ctx, s.pool, e))
	return e.Seq
}

func (s *seeder) finish(c *store.Cycle, fence int64, concl state.Conclusion, summary string) {
	require.NoError(s.t, store.FinishCycle(s.ctx, s.pool, c.ID, fence, concl, summary))
	s.ev(c, "cycle", "", string(concl), summary, nil)
}

func (s *seeder) artifact(c *store.Cycle, name, content string) {
	require.NoError(s.t, store.InsertArtifact(s.ctx, s.pool, &store.Artifact{CycleID: c.ID, Name: name, Content: []byte(content)}))
}

// through runs a cycle's steps up to verify, as the worker records them.
func (s *seeder) through(c *store.Cycle, verify *store.StepCounts) {
	s.ev(c, "step", "prepare", "started", "prepare started", nil)
	s.ev(c, "step", "prepare", "success", "working copy ready", nil)
	s.ev(c, "step", "select", "success", "obligation picked", nil)
	s.ev(c, "step", "implement", "started", "implement started", nil)
	s.ev(c, "log", "implement", "", "agent: line one\n", nil)
	s.ev(c, "step", "implement", "success", "The agent finished", &store.StepData{Title: "The agent finished",
		Summary: "| | |\n| --- | --- |\n| exit code | 0 |\n", Tokens: &store.StepTokens{Input: 1200, Output: 300, Total: 1500}})
	s.ev(c, "step", "verify", "started", "verify started", nil)
	s.ev(c, "log", "verify", "", "$ go test ./...\nok\n", nil)
	concl := "success"
	if verify.Failed > 0 {
		concl = "failure"
	}
	s.ev(c, "step", "verify", concl, "`go test ./...` exited", &store.StepData{Title: "verify", Counts: verify})
}

func TestRunPageStates(t *testing.T) {
	t.Parallel()
	site := newRunSite(t, time.Second)
	ctx := testCtx(t, 2*time.Minute)
	passing := &store.StepCounts{Known: true, Passed: 41, Failed: 0, Skipped: 2}
	diff := "diff --git a/impl/a.go b/impl/a.go\n--- a/impl/a.go\n+++ b/impl/a.go\n@@ -1,2 +1,2 @@\n-old line\n+new line\n"

	tests := []struct {
		name   string
		seed   func(s *seeder)
		has    []string
		hasNot []string
	}{
		{"queued", func(s *seeder) {
			_, err := store.InsertCycle(ctx, s.pool, s.run.ID, "label", "")
			require.NoError(t, err)
		}, []string{`id="run-status">queued<`, "queued: waits for a worker", `id="live-note"`}, []string{"waiting for an answer"}},
		{"queued behind another", func(s *seeder) {
			c, _ := s.cycle("count-1")
			s.ev(c, "step", "implement", "started", "implement started", nil)
			_, err := store.InsertCycle(ctx, s.pool, s.run.ID, "command", "")
			require.NoError(t, err)
		}, []string{`id="run-status">running<`, "queued: waits for 1 earlier cycle(s) of the run", `<tr class="step running" data-step="implement">`}, nil},
		{"running", func(s *seeder) {
			c, _ := s.cycle("count-1")
			s.ev(c, "step", "prepare", "started", "prepare started", nil)
			s.ev(c, "step", "prepare", "success", "working copy ready in 120ms", nil)
			s.ev(c, "step", "select", "success", "obligation count-1", nil)
			s.ev(c, "step", "implement", "started", "implement started", nil)
			s.ev(c, "log", "implement", "", "scripted agent: working\n", nil)
			s.ev(c, "log", "implement", "", "scripted agent: still working\n", nil)
		}, []string{`id="run-status">running<`, `<tr class="step running" data-step="implement">`,
			`id="log-1-implement" class="live">scripted agent: working` + "\nscripted agent: still working\n</pre>",
			"working copy ready in 120ms", `id="live-note"`, "<code>count-1</code> text of count-1"}, nil},
		{"succeeded", func(s *seeder) {
			c, fence := s.cycle("count-1")
			s.through(c, passing)
			s.ev(c, "step", "audit", "started", "audit started", nil)
			s.ev(c, "step", "audit", "success", "Auditor verdict: pass", &store.StepData{Title: "Auditor verdict: pass"})
			s.ev(c, "step", "publish", "success", "pushed abcdef012345 to specloop/issue-7", nil)
			s.ev(c, "step", "publish", "success", "PR #9 updated with evidence", nil)
			s.artifact(c, "patch.diff", diff)
			s.artifact(c, "prompt-implementer.md", "# Obligation count-1\nDo the thing.\n")
			require.NoError(t, store.RecordCheckRun(ctx, s.pool, &store.CheckRun{ID: 5001, CycleID: c.ID, Repo: s.run.Repo, Name: "specloop/verify",
				HeadSHA: "abcdef0123456789", HTMLURL: "http://gh.example/octo/widgets/runs/5001", Completed: true}))
			require.NoError(t, store.SetRunPR(ctx, s.pool, s.run.ID, 9))
			s.finish(c, fence, state.Success, "Obligation `count-1` done: text of count-1")
		}, []string{`id="run-status">success<`, "41 passed, 0 failed, 2 skipped", "1200 in, 300 out, 1500 total",
			"Auditor verdict: pass", "No findings.", `<span class="del">-old line</span>`, `<span class="add">&#43;new line</span>`,
			`<a href="http://gh.example/octo/widgets/runs/5001">specloop/verify</a>`, "pull request</b>#9", `<pre class="artifact" data-src="/runs/`,
			"PR #9 updated with evidence", "<td>0</td>"}, []string{`id="live-note"`, `class="step running"`}},
		{"failed verify", func(s *seeder) {
			c, fence := s.cycle("count-2")
			s.through(c, &store.StepCounts{Known: true, Passed: 3, Failed: 1, Failing: []store.StepFinding{{File: "count_test.go", Line: 12, Message: "TestCount"}}})
			s.ev(c, "step", "fix", "started", "fix 1/2 started", nil)
			s.ev(c, "log", "fix", "", "fixer: trying\n", nil)
			s.ev(c, "step", "fix", "success", "fix 1/2: the fixer finished", nil)
			s.ev(c, "step", "fix", "started", "fix 2/2 started", nil)
			s.ev(c, "step", "fix", "success", "fix 2/2: the fixer finished", nil)
			s.finish(c, fence, state.Failure, "Verify still fails after the fix attempts; pushed as a draft so the evidence can be read.")
		}, []string{`id="run-status">failure<`, "3 passed, 1 failed, 0 skipped", "<td>fix 1/2</td>", "<td>fix 2/2</td>",
			"<code>TestCount</code> at <code>count_test.go:12</code>", "Verify still fails after the fix attempts"}, nil},
		{"failed audit", func(s *seeder) {
			c, fence := s.cycle("count-3")
			s.through(c, passing)
			s.ev(c, "step", "audit", "started", "audit started", nil)
			s.ev(c, "step", "audit", "failure", "Auditor verdict: fail", &store.StepData{Title: "Auditor verdict: fail",
				Findings: []store.StepFinding{{File: "impl/count.go", Line: 3, Message: "counts every widget twice", Severity: "failure"}}})
			s.finish(c, fence, state.Failure, "The auditor failed the change; pushed as a draft with its findings.")
		}, []string{"Auditor verdict: fail", "<code>impl/count.go:3</code> counts every widget twice", "The auditor failed the change"}, []string{"No findings."}},
		{"cancelled", func(s *seeder) {
			c, fence := s.cycle("count-1")
			s.ev(c, "step", "implement", "started", "implement started", nil)
			s.ev(c, "step", "implement", "cancelled", "Stopped", nil)
			s.finish(c, fence, state.Cancelled, "Stopped on request; nothing more was pushed.")
		}, []string{`id="run-status">cancelled<`, `<td class="cancelled">cancelled</td>`, "Stopped on request"}, nil},
		{"interrupted and taken over", func(s *seeder) {
			c, fence := s.cycle("count-1")
			s.ev(c, "step", "implement", "started", "implement started", nil)
			require.NoError(t, store.ReleaseCycle(ctx, s.pool, c.ID, fence))
			s.ev(c, "cycle", "", "interrupted", "interrupted by a worker shutdown; handed over", nil)
			res, fence2, err := store.ClaimCycle(ctx, s.pool, c.ID, "w2", time.Minute, 0)
			require.NoError(t, err)
			require.Equal(t, store.Claimed, res)
			s.through(c, passing)
			s.finish(c, fence2, state.Success, "Obligation `count-1` done")
		}, []string{"interrupted by a worker shutdown; handed over; another worker took the cycle over", "2 (taken over)",
			`<td class="interrupted">interrupted</td>`, `id="run-status">success<`}, nil},
		{"waiting for an answer", func(s *seeder) {
			c, fence := s.cycle("count-1")
			s.ev(c, "step", "implement", "started", "implement started", nil)
			s.ev(c, "step", "implement", "success", "The agent asked a question", nil)
			s.finish(c, fence, state.ActionRequired, "The agent asked: which colour is the default?")
		}, []string{`id="run-status">waiting for an answer<`, `id="waiting"`, "/loop answer", "which colour is the default?"}, nil},
		{"large log", func(s *seeder) {
			c, fence := s.cycle("count-1")
			s.artifact(c, "patch.diff", strings.Repeat("x", 100<<10))
			s.finish(c, fence, state.Success, "done")
		}, []string{"[… 36864 more bytes: download the whole file]", "100 KiB"}, nil},
		{"pruned", func(s *seeder) {
			c, fence := s.cycle("count-1")
			s.through(c, passing)
			s.artifact(c, "implement.log", "old log")
			s.finish(c, fence, state.Success, "done")
			_, err := s.pool.Exec(ctx, `UPDATE events SET created_at = now() - interval '40 days' WHERE run_id = $1`, s.run.ID)
			require.NoError(t, err)
			_, err = s.pool.Exec(ctx, `UPDATE artifacts SET created_at = now() - interval '40 days' WHERE cycle_id = $1`, c.ID)
			require.NoError(t, err)
			_, _, err = store.Prune(ctx, s.pool, time.Now().Add(-30*24*time.Hour))
			require.NoError(t, err)
		}, []string{`id="pruned"`, "Retention pruned 10 event(s) and 1 artifact(s) of this run older than", `id="run-status">success<`}, []string{"old log"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSeeder(t, ctx, site.pool, fmt.Sprintf("specloop/issue-%d", i))
			tt.seed(s)
			resp, body := site.get(t, fmt.Sprintf("/runs/%d?token=%s", s.run.ID, site.links.Token(s.run.ID)))
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			require.Contains(t, body, fmt.Sprintf("specloop/issue-%d", i))
			for _, h := range tt.has {
				require.Contains(t, body, fixIDs(h, s), "%s", tt.name)
			}
			for _, h := range tt.hasNot {
				require.NotContains(t, body, h)
			}
			// The live script swaps in the same body from the fragment.
			resp, frag := site.get(t, fmt.Sprintf("/runs/%d?fragment=1&token=%s", s.run.ID, site.links.Token(s.run.ID)))
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.NotContains(t, frag, "<html")
			require.Contains(t, frag, `id="run-seq"`)
		})
	}
}

// fixIDs puts the seeded run's first cycle id into an expected snippet
// written for cycle 1.
func fixIDs(s string, sd *seeder) string {
	cycles, err := store.ListCycles(sd.ctx, sd.pool, sd.run.ID)
	if err != nil || len(cycles) == 0 {
		return s
	}
	return strings.ReplaceAll(s, "log-1-", "log-"+strconv.FormatInt(cycles[0].ID, 10)+"-")
}

// TestRunEventStreamResumeEverywhere resumes a finished run's stream from
// every position, by header and by query: each gets every later event
// exactly once, in order, and then the stream ends.
func TestRunEventStreamResumeEverywhere(t *testing.T) {
	t.Parallel()
	site := newRunSite(t, 5*time.Second)
	ctx := testCtx(t, time.Minute)
	s := newSeeder(t, ctx, site.pool, "specloop/resume")
	c, fence := s.cycle("count-1")
	s.through(c, &store.StepCounts{Known: true, Passed: 1})
	s.finish(c, fence, state.Success, "done")
	first, last, err := store.KeptEventSeqs(ctx, site.pool, s.run.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, first)

	for i := int64(0); i <= 2*last+1; i++ {
		from, inQuery := i/2, i%2 == 1 // each position from the header and from the query
		lastID := ""
		if from > 0 {
			lastID = strconv.FormatInt(from, 10)
		}
		st, code := site.openSSEAt(t, s.run.ID, lastID, inQuery)
		require.Equal(t, http.StatusOK, code)
		var got []int64
		for {
			ev := st.event(t, readWait)
			if ev.Event == "end" {
				break
			}
			n, err := strconv.ParseInt(ev.ID, 10, 64)
			require.NoError(t, err)
			got = append(got, n)
		}
		var want []int64
		for n := from + 1; n <= last; n++ {
			want = append(want, n)
		}
		require.Equal(t, want, got, "resumed from %d (in the query: %v)", from, inQuery)
		// And the stream is closed after "end".
		select {
		case _, ok := <-st.lines:
			require.False(t, ok, "the stream goes on after end")
		case <-time.After(readWait):
			t.Fatal("the stream did not close after end")
		}
	}
}

// TestRunLinkRefusedAlike: a missing, bad, expired or foreign token gets
// the same answer whatever the run id, existing or not.
func TestRunLinkRefusedAlike(t *testing.T) {
	t.Parallel()
	site := newRunSite(t, time.Second)
	ctx := testCtx(t, time.Minute)
	s := newSeeder(t, ctx, site.pool, "specloop/private")
	expired := app.NewLinks(site.url, linkSecret, -time.Minute)
	ids := []int64{s.run.ID, s.run.ID + 1000, 1 << 40}
	var answers []string
	for _, id := range ids {
		for _, tok := range []string{"", "garbage", expired.Token(id), expired.Token(s.run.ID), app.NewLinks(site.url, "other", time.Hour).Token(id)} {
			for _, path := range []string{"/runs/%d", "/runs/%d/events", "/runs/%d/artifacts/1"} {
				resp, body := site.get(t, fmt.Sprintf(path, id)+"?token="+tok)
				answers = append(answers, fmt.Sprintf("%d %s", resp.StatusCode, body))
			}
		}
	}
	for _, a := range answers {
		require.Equal(t, answers[0], a)
	}
	require.Contains(t, answers[0], "403 ")
}

func TestOperatorIndex(t *testing.T) {
	t.Parallel()
	site := newRunSite(t, time.Second)
	ctx := testCtx(t, time.Minute)
	a := newSeeder(t, ctx, site.pool, "specloop/a")
	c, fence := a.cycle("x")
	a.finish(c, fence, state.Failure, "failed")
	b := newSeeder(t, ctx, site.pool, "specloop/b")
	c2, fence2 := b.cycle("y")
	b.finish(c2, fence2, state.Success, "ok")
	other, err := store.UpsertRun(ctx, site.pool, &store.Run{Repo: "octo/other", InstallationID: 1, Branch: "specloop/c", Kind: state.RunSpec, SpecPath: "specs/c.md"})
	require.NoError(t, err)
	require.NoError(t, store.SetRunState(ctx, site.pool, other.ID, state.RunStopped))

	const token = "op-secret-token"
	r := mux.NewRouter()
	queue := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "queue ui at "+r.URL.Path) })
	handlers.RegisterOperator(r, &handlers.Operator{Token: token, Pool: site.pool, Links: site.links, Queue: queue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	get := func(path string, header ...string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	auth := []string{"Authorization", "Bearer " + token}
	rows := func(body string) []string {
		var out []string
		for _, run := range []*store.Run{a.run, b.run, other} {
			if strings.Contains(body, fmt.Sprintf(`data-run="%d"`, run.ID)) {
				out = append(out, run.Branch)
			}
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"specloop/a", "specloop/b", "specloop/c"}},
		{"?repo=octo/widgets", []string{"specloop/a", "specloop/b"}},
		{"?conclusion=failure", []string{"specloop/a"}},
		{"?state=stopped", []string{"specloop/c"}},
		{"?repo=octo/widgets&conclusion=success", []string{"specloop/b"}},
	} {
		code, body := get("/runs"+tt.query, auth...)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, tt.want, rows(body), tt.query)
	}
	// Each row links the run page with a working signed token.
	_, body := get("/runs", auth...)
	require.Contains(t, body, fmt.Sprintf(`href="/runs/%d?token=%s"`, a.run.ID, site.links.Token(a.run.ID)))

	// Refused alike: no token, a wrong one, in any place.
	var refusals []string
	for _, h := range [][]string{nil, {"Authorization", "Bearer nope"}, {"Cookie", "specloop_operator=nope"}, {"Authorization", "token " + token}} {
		for _, p := range []string{"/runs", "/riverui/", "/riverui/api/jobs"} {
			code, body := get(p, h...)
			refusals = append(refusals, fmt.Sprintf("%d %s", code, body))
		}
	}
	for _, r := range refusals {
		require.Equal(t, refusals[0], r)
	}
	require.Contains(t, refusals[0], "401 ")

	// The queue UI behind the same token; the cookie works as the header.
	code, body := get("/riverui/", auth...)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "queue ui at /riverui/", body)
	code, body = get("/riverui/", "Cookie", "specloop_operator="+token)
	require.Equal(t, http.StatusOK, code, body)

	// ?operator_token= sets the cookie and drops itself from the URL.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/runs?operator_token="+token+"&repo=octo/widgets", nil)
	require.NoError(t, err)
	resp, err := (&http.Transport{}).RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/runs?repo=octo%2Fwidgets", resp.Header.Get("Location"))
	require.Contains(t, resp.Header.Get("Set-Cookie"), "specloop_operator="+token)
	require.Contains(t, resp.Header.Get("Set-Cookie"), "HttpOnly")

	// Without OPERATOR_TOKEN the pages do not exist.
	r2 := mux.NewRouter()
	handlers.RegisterOperator(r2, &handlers.Operator{Pool: site.pool, Links: site.links, Queue: queue, Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	r2.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/runs", nil))
	require.Equal(t, http.StatusNotFound, rec.Code)
}
