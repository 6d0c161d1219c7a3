package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/handlers"
	"github.com/specloop/specloop/internal/pgtemp"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

const testSecret = "test-webhook-secret"

// payloads is the directory of real GitHub webhook bodies.
var payloads = filepath.Join("..", "testdata", "github-webhooks")

func TestMain(m *testing.M) { storetest.Main(m) }

type bundle struct {
	pool *pgxpool.Pool
	url  string
}

func setup(t *testing.T, cfg handlers.RouteConfig) *bundle {
	t.Helper()
	pool := storetest.Pool(t)
	return &bundle{pool: pool, url: serve(t, pool, cfg)}
}

func serve(t *testing.T, pool *pgxpool.Pool, cfg handlers.RouteConfig) string {
	t.Helper()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := handlers.NewMetrics(pool)
	intake := handlers.NewIntake([]string{testSecret}, pool, rc, cfg, m, logger)
	srv := httptest.NewServer(handlers.Router(intake, pool, m))
	t.Cleanup(intake.Close)
	t.Cleanup(srv.Close)
	return srv.URL
}

func readPayload(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(payloads, rel))
	require.NoError(t, err)
	return b
}

type post struct {
	event, guid, contentType, signature string
	body                                []byte
}

func (b *bundle) post(t *testing.T, p post) (int, string) {
	t.Helper()
	return postTo(t, b.url, p)
}

func postTo(t *testing.T, url string, p post) (int, string) {
	t.Helper()
	status, body, err := tryPost(url, p)
	require.NoError(t, err)
	return status, body
}

// tryPost is postTo for goroutines other than the test's: it returns the
// error for the test goroutine to check (require must not run elsewhere).
func tryPost(url string, p post) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks", bytes.NewReader(p.body))
	if err != nil {
		return 0, "", err
	}
	if p.contentType == "" {
		p.contentType = "application/json"
	}
	if p.signature == "" {
		p.signature = handlers.Sign(testSecret, p.body)
	}
	if p.signature != "-" {
		req.Header.Set("X-Hub-Signature-256", p.signature)
	}
	req.Header.Set("Content-Type", p.contentType)
	req.Header.Set("X-GitHub-Event", p.event)
	req.Header.Set("X-GitHub-Delivery", p.guid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

type queued struct {
	Kind string
	Args map[string]any
}

// jobsFor lists the jobs a delivery queued, by the GUID they carry.
func (b *bundle) jobsFor(t *testing.T, guid string) []queued {
	t.Helper()
	rows, err := b.pool.Query(context.Background(),
		`SELECT kind, args FROM river_job WHERE args->>'delivery' = $1 ORDER BY id`, guid)
	require.NoError(t, err)
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var q queued
		require.NoError(t, rows.Scan(&q.Kind, &q.Args))
		out = append(out, q)
	}
	require.NoError(t, rows.Err())
	return out
}

func (b *bundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// TestIntakeRealPayloads sends every recorded GitHub payload and checks
// that it is recorded and routed as DESIGN.md's trigger table says.
func TestIntakeRealPayloads(t *testing.T) {
	t.Parallel()
	b := setup(t, handlers.RouteConfig{AppID: 2, AppSlug: "specloop"})

	// What each payload should queue; every payload not listed queues nothing.
	want := map[string]queued{
		"issues/labeled.payload.json":                        {"issue_label", map[string]any{"repo": "Codertocat/Hello-World", "issue": 1.0, "label": "bug", "labeled": true, "sender": "Codertocat"}},
		"issues/labeled.with-organization.payload.json":      {"issue_label", map[string]any{"label": "bug", "labeled": true}},
		"issues/unlabeled.payload.json":                      {"issue_label", map[string]any{"repo": "Codertocat/Hello-World", "label": "bug", "labeled": false}},
		"issues/unlabeled.with-organization.payload.json":    {"issue_label", map[string]any{"labeled": false}},
		"pull_request/closed.payload.json":                   {"pull_closed", map[string]any{"repo": "Codertocat/Hello-World", "pr": 2.0, "branch": "changes", "merged": false, "sender": "Codertocat", "installation_id": 1.0}},
		"pull_request/closed.with-organization.payload.json": {"pull_closed", map[string]any{"pr": 2.0, "branch": "changes"}},
		"push/with-new-branch.payload.json":                  {"spec_push", map[string]any{"ref": "refs/heads/master", "files": []any{"README.md"}, "installation_id": 1.0}},
		"push/with-no-username-committer.payload.json":       {"spec_push", map[string]any{"ref": "refs/heads/master", "files": []any{"README.md"}}},
		// Each review event queues a review job; the jobs coalesce them
		// into one cycle.
		"pull_request_review/submitted.payload.json":                         {"review", map[string]any{"repo": "Codertocat/Hello-World", "pr": 2.0, "branch": "changes", "state": "commented", "sender": "Codertocat"}},
		"pull_request_review/submitted.with-organization.payload.json":       {"review", map[string]any{"pr": 2.0, "state": "commented"}},
		"pull_request_review_comment/created.payload.json":                   {"review", map[string]any{"pr": 2.0, "state": "commented", "sender": "Codertocat"}},
		"pull_request_review_comment/created.with-organization.payload.json": {"review", map[string]any{"pr": 2.0}},
	}
	var files []string
	require.NoError(t, filepath.WalkDir(payloads, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			rel, _ := filepath.Rel(payloads, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}))
	require.Greater(t, len(files), 100, "the payload corpus is present")

	for i, rel := range files {
		event := strings.Split(rel, "/")[0]
		guid := fmt.Sprintf("real-%03d", i)
		status, body := b.post(t, post{event: event, guid: guid, body: readPayload(t, rel)})
		require.Equal(t, http.StatusAccepted, status, "%s: %s", rel, body)
		require.Equal(t, 1, b.count(t, "SELECT count(*) FROM deliveries WHERE guid = $1 AND event = $2", guid, event), rel)

		got := b.jobsFor(t, guid)
		w, ok := want[rel]
		if !ok {
			require.Empty(t, got, "%s queues nothing", rel)
			continue
		}
		require.Len(t, got, 1, rel)
		require.Equal(t, w.Kind, got[0].Kind, rel)
		for k, v := range w.Args {
			require.Equal(t, v, got[0].Args[k], "%s: field %s", rel, k)
		}
	}
	// Installation events are recorded, not queued.
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM installations WHERE id = 2 AND deleted"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM installations WHERE id = 957387 AND NOT deleted"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM installations WHERE id = 16598467 AND NOT suspended"), "unsuspend came after suspend")
	require.GreaterOrEqual(t, b.count(t, "SELECT count(*) FROM repos WHERE installation_id = 957387 AND NOT removed"), 1)
	require.GreaterOrEqual(t, b.count(t, "SELECT count(*) FROM repos WHERE installation_id = 2 AND removed"), 1)
}

// edit changes a real payload at a dotted path.
func edit(t *testing.T, raw []byte, changes map[string]any) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	for path, v := range changes {
		parts := strings.Split(path, ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
	}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// TestIntakeRouting drives the triggers with real payloads edited to carry
// what specloop acts on (a /loop comment, its own check run, its label).
func TestIntakeRouting(t *testing.T) {
	t.Parallel()
	b := setup(t, handlers.RouteConfig{AppID: 25811, AppSlug: "specloop"})
	comment := readPayload(t, "issue_comment/created.with-installation.payload.json")
	quoteReply := edit(t, comment, map[string]any{"comment.body": "> Which colour?\n\nBlue."})
	tests := []struct {
		name  string
		event string
		body  []byte
		want  *queued
	}{
		{"loop next on a PR", "issue_comment", edit(t, comment, map[string]any{
			"comment.body": "/loop next", "issue.pull_request": map[string]any{"url": "x"}}),
			&queued{"command", map[string]any{"command": "next", "is_pr": true, "issue": 1.0, "installation_id": 1.0, "comment_id": 492700400.0, "sender": "Codertocat"}}},
		{"loop status after a quote", "issue_comment", edit(t, comment, map[string]any{"comment.body": "> /loop stop\n\n/loop status"}),
			&queued{"command", map[string]any{"command": "status", "is_pr": false}}},
		{"unknown command still queued for help", "issue_comment", edit(t, comment, map[string]any{"comment.body": "/loop dance"}),
			&queued{"command", map[string]any{"command": "dance"}}},
		{"reply quoting text may answer a question", "issue_comment", quoteReply,
			&queued{"command", map[string]any{"command": "answer", "quote": "Which colour?", "text": "Blue."}}},
		{"loop fix keeps its text", "issue_comment", edit(t, comment, map[string]any{"comment.body": "/loop fix Rename it\nand test it"}),
			&queued{"command", map[string]any{"command": "fix", "text": "Rename it\nand test it"}}},
		{"command in a code block", "issue_comment", edit(t, comment, map[string]any{"comment.body": "```\n/loop next\n```"}), nil},
		{"comment by a bot", "issue_comment", edit(t, comment, map[string]any{"comment.body": "/loop next", "comment.user.type": "Bot", "sender.type": "Bot"}), nil},
		{"comment by specloop itself", "issue_comment", edit(t, comment, map[string]any{"comment.body": "/loop next", "sender.login": "specloop[bot]"}), nil},
		{"edited comment", "issue_comment", edit(t, readPayload(t, "issue_comment/edited.payload.json"), map[string]any{"comment.body": "/loop next"}), nil},
		{"specloop label", "issues", edit(t, readPayload(t, "issues/labeled.payload.json"), map[string]any{"label.name": "specloop", "installation.id": 7.0}),
			&queued{"issue_label", map[string]any{"label": "specloop", "labeled": true, "installation_id": 7.0}}},
		{"merged PR", "pull_request", edit(t, readPayload(t, "pull_request/closed.payload.json"), map[string]any{"pull_request.merged": true, "installation.id": 7.0}),
			&queued{"pull_closed", map[string]any{"pr": 2.0, "branch": "changes", "merged": true, "installation_id": 7.0}}},
		{"re-run on our check run", "check_run", edit(t, readPayload(t, "check_run/rerequested.payload.json"), map[string]any{"check_run.name": "specloop/verify", "check_run.app.id": 25811.0}),
			&queued{"check_run", map[string]any{"action": "rerequested", "name": "specloop/verify", "check_run_id": 4.0}}},
		{"button on our check run", "check_run", edit(t, readPayload(t, "check_run/requested_action.payload.json"), map[string]any{"check_run.name": "specloop/implement"}),
			&queued{"check_run", map[string]any{"action": "requested_action", "identifier": "lgtm|26764"}}},
		{"re-run on another app's check run", "check_run", readPayload(t, "check_run/rerequested.payload.json"), nil},
		{"re-run on our spec check", "check_run", edit(t, readPayload(t, "check_run/rerequested.payload.json"), map[string]any{"check_run.name": "specloop/spec",
			"check_run.app.id": 25811.0, "check_run.external_id": "files:specs/a.md\nspecs/b.md", "check_run.head_sha": "abc123"}),
			&queued{"spec_push", map[string]any{"after": "abc123", "files": []any{"specs/a.md", "specs/b.md"}, "rerun": true}}},
		{"re-run on our config check", "check_run", edit(t, readPayload(t, "check_run/rerequested.payload.json"), map[string]any{"check_run.name": "specloop/config", "check_run.app.id": 25811.0}),
			&queued{"config_recheck", map[string]any{"repo": "github/hello-world"}}},
		{"re-run all checks of our suite", "check_suite", edit(t, readPayload(t, "check_suite/rerequested.payload.json"), map[string]any{"check_suite.app.id": 25811.0, "check_suite.head_sha": "def456"}),
			&queued{"check_run", map[string]any{"action": "suite_rerequested", "head_sha": "def456"}}},
		{"re-run all checks of another app's suite", "check_suite", readPayload(t, "check_suite/rerequested.payload.json"), nil},
		{"spec push to default branch", "push", edit(t, readPayload(t, "push/with-new-branch.payload.json"), map[string]any{"commits": []any{map[string]any{
			"id": "abc", "added": []any{"specs/auth.md"}, "modified": []any{"main.go", ".github/specloop.yml"}, "removed": []any{}}}}),
			&queued{"spec_push", map[string]any{"files": []any{"specs/auth.md", ".github/specloop.yml"}}}},
		{"push touching no spec", "push", edit(t, readPayload(t, "push/with-new-branch.payload.json"), map[string]any{"commits": []any{map[string]any{
			"id": "abc", "added": []any{"main.go"}, "modified": []any{}, "removed": []any{}}}}), nil},
		{"push to another branch", "push", edit(t, readPayload(t, "push/with-new-branch.payload.json"), map[string]any{"ref": "refs/heads/feature"}), nil},
		{"changes requested", "pull_request_review", edit(t, readPayload(t, "pull_request_review/submitted.payload.json"), map[string]any{
			"review.state": "changes_requested", "pull_request.number": 7.0}),
			&queued{"review", map[string]any{"pr": 7.0, "state": "changes_requested", "branch": "changes"}}},
		{"review comment", "pull_request_review_comment", edit(t, readPayload(t, "pull_request_review_comment/created.payload.json"), map[string]any{
			"pull_request.number": 8.0, "comment.body": "/loop stop"}),
			&queued{"review", map[string]any{"pr": 8.0, "state": "commented"}}},
		{"review comment by specloop itself", "pull_request_review_comment", edit(t, readPayload(t, "pull_request_review_comment/created.payload.json"), map[string]any{
			"pull_request.number": 9.0, "sender.login": "specloop[bot]", "comment.user.login": "specloop[bot]", "comment.user.type": "Bot", "sender.type": "Bot"}), nil},
		{"review by a bot", "pull_request_review", edit(t, readPayload(t, "pull_request_review/submitted.payload.json"), map[string]any{
			"pull_request.number": 10.0, "review.user.type": "Bot", "sender.type": "Bot"}), nil},
		{"CI suite failed", "check_suite", edit(t, readPayload(t, "check_suite/completed.payload.json"), map[string]any{"check_suite.conclusion": "failure", "check_suite.app.slug": "octoapp"}),
			&queued{"check_suite", map[string]any{"branch": "changes", "app": "octoapp", "suite_id": 118578147.0}}},
		{"CI suite passed", "check_suite", readPayload(t, "check_suite/completed.payload.json"), nil},
		{"our own suite failed", "check_suite", edit(t, readPayload(t, "check_suite/completed.payload.json"), map[string]any{
			"check_suite.conclusion": "failure", "check_suite.app.id": 25811.0}), nil},
	}
	for i, tt := range tests {
		guid := fmt.Sprintf("route-%d", i)
		status, body := b.post(t, post{event: tt.event, guid: guid, body: tt.body})
		require.Equal(t, http.StatusAccepted, status, "%s: %s", tt.name, body)
		got := b.jobsFor(t, guid)
		if tt.want == nil {
			require.Empty(t, got, tt.name)
			continue
		}
		require.Len(t, got, 1, tt.name)
		require.Equal(t, tt.want.Kind, got[0].Kind, tt.name)
		for k, v := range tt.want.Args {
			require.Equal(t, v, got[0].Args[k], "%s: field %s", tt.name, k)
		}
	}
}

func TestIntakeRejections(t *testing.T) {
	t.Parallel()
	b := setup(t, handlers.RouteConfig{AppID: 1})
	good := readPayload(t, "issues/labeled.payload.json")
	huge := make([]byte, handlers.MaxPayload+1)
	tests := []struct {
		name   string
		p      post
		status int
		says   string
	}{
		{"form encoded", post{event: "issues", guid: "r1", body: good, contentType: "application/x-www-form-urlencoded"}, 415, "application/json"},
		{"no signature", post{event: "issues", guid: "r2", body: good, signature: "-"}, 401, "WEBHOOK_SECRET"},
		{"wrong signature", post{event: "issues", guid: "r3", body: good, signature: handlers.Sign("other", good)}, 401, "X-Hub-Signature-256"},
		{"sha1 signature only", post{event: "issues", guid: "r4", body: good, signature: "sha1=0000"}, 401, ""},
		{"not JSON", post{event: "issues", guid: "r5", body: []byte("not json")}, 400, "JSON"},
		{"no event header", post{event: "", guid: "r6", body: good}, 400, "X-GitHub-Event"},
		{"no delivery header", post{event: "issues", guid: "", body: good}, 400, "X-GitHub-Delivery"},
		{"labeled without issue", post{event: "issues", guid: "r7", body: []byte(`{"action":"labeled","label":{"name":"specloop"},"repository":{"full_name":"o/r"}}`)}, 400, "issue.number"},
		{"over 25 MiB", post{event: "issues", guid: "r8", body: huge}, 413, "25 MiB"},
	}
	for _, tt := range tests {
		status, body := b.post(t, tt.p)
		require.Equal(t, tt.status, status, "%s: %s", tt.name, body)
		require.Contains(t, body, tt.says, tt.name)
	}
	require.Zero(t, b.count(t, "SELECT count(*) FROM deliveries"), "no rejected delivery is recorded")
	require.Zero(t, b.count(t, "SELECT count(*) FROM river_job"), "no rejected delivery queues a job")
}

func TestIntakeSameGUID(t *testing.T) {
	t.Parallel()
	b := setup(t, handlers.RouteConfig{})
	body := edit(t, readPayload(t, "issues/labeled.payload.json"), map[string]any{"label.name": "specloop"})

	status, _ := b.post(t, post{event: "issues", guid: "once", body: body})
	require.Equal(t, http.StatusAccepted, status)
	status, _ = b.post(t, post{event: "issues", guid: "once", body: body})
	require.Equal(t, http.StatusOK, status, "a repeated GUID answers 200")
	require.Len(t, b.jobsFor(t, "once"), 1)

	var wg sync.WaitGroup
	statuses := make([]int, 50)
	errs := make([]error, 50)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _, errs[i] = tryPost(b.url, post{event: "issues", guid: "burst", body: body})
		}()
	}
	wg.Wait()
	counts := map[int]int{}
	for i, s := range statuses {
		require.NoError(t, errs[i], "post %d", i)
		counts[s]++
	}
	require.Equal(t, map[int]int{http.StatusAccepted: 1, http.StatusOK: 49}, counts)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM deliveries WHERE guid = 'burst'"))
	require.Len(t, b.jobsFor(t, "burst"), 1, "one set of jobs")
}

// TestIntakeDatabaseDown stops PostgreSQL under a running intake: deliveries
// get 503 (GitHub will show the failure for redelivery) and nothing is
// half-written; once the database is back the redelivery is accepted.
func TestIntakeDatabaseDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster, err := pgtemp.Start(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { cluster.Stop() })
	pool, err := store.Open(ctx, cluster.URL(""))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	url := serve(t, pool, handlers.RouteConfig{})
	body := edit(t, readPayload(t, "issues/labeled.payload.json"), map[string]any{"label.name": "specloop"})

	require.NoError(t, cluster.Pause(ctx))
	status, msg := postTo(t, url, post{event: "issues", guid: "down", body: body})
	require.Equal(t, http.StatusServiceUnavailable, status, msg)
	resp, err := http.Get(url + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	require.NoError(t, cluster.Resume(ctx))
	status, msg = postTo(t, url, post{event: "issues", guid: "down", body: body})
	require.Equal(t, http.StatusAccepted, status, msg)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE args->>'delivery' = 'down'").Scan(&n))
	require.Equal(t, 1, n)
}

func TestOperations(t *testing.T) {
	t.Parallel()
	b := setup(t, handlers.RouteConfig{})
	body := edit(t, readPayload(t, "issues/labeled.payload.json"), map[string]any{"label.name": "specloop"})
	status, _ := b.post(t, post{event: "issues", guid: "ops", body: body})
	require.Equal(t, http.StatusAccepted, status)
	b.post(t, post{event: "issues", guid: "ops2", body: body, signature: "sha256=00"})

	get := func(path string) (int, string) {
		resp, err := http.Get(b.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	s, _ := get("/healthz")
	require.Equal(t, 200, s)
	s, out := get("/readyz")
	require.Equal(t, 200, s, out)
	s, out = get("/metrics")
	require.Equal(t, 200, s)
	require.Contains(t, out, `specloop_webhook_deliveries_total{event="issues",outcome="accepted"} 1`)
	require.Contains(t, out, `specloop_webhook_deliveries_total{event="issues",outcome="rejected_signature"} 1`)
	require.Contains(t, out, `specloop_queue_depth{kind="issue_label",state="available"} 1`)
	require.Contains(t, out, "specloop_webhook_intake_seconds_bucket")

	// A database with nothing migrated is not ready.
	empty, err := pgxpool.New(context.Background(), storetest.EmptyURL(t))
	require.NoError(t, err)
	t.Cleanup(empty.Close)
	srv := httptest.NewServer(handlers.Router(handlers.NewIntake(nil, empty, nil, handlers.RouteConfig{}, handlers.NewMetrics(nil), slog.Default()), empty, handlers.NewMetrics(nil)))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// TestIntakeConcurrentDeliveries: deliveries arriving together (recorded in
// shared transactions) are each recorded once, with their own jobs.
func TestIntakeConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t, handlers.RouteConfig{})
	body := edit(t, readPayload(t, "issues/labeled.payload.json"), map[string]any{"label.name": "specloop"})
	ping := readPayload(t, "ping/payload.json")
	var wg sync.WaitGroup
	statuses := make([]int, 100)
	errs := make([]error, 100)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := post{event: "issues", guid: fmt.Sprintf("many-%03d", i), body: body}
			if i%2 == 1 {
				p = post{event: "ping", guid: fmt.Sprintf("many-%03d", i), body: ping}
			}
			statuses[i], _, errs[i] = tryPost(b.url, p)
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		require.NoError(t, errs[i], "post %d", i)
		require.Equal(t, http.StatusAccepted, s, "post %d", i)
	}
	require.Equal(t, 100, b.count(t, "SELECT count(*) FROM deliveries WHERE guid LIKE 'many-%'"))
	require.Equal(t, 50, b.count(t, "SELECT count(*) FROM river_job WHERE args->>'delivery' LIKE 'many-%'"), "one job per labeled delivery, none for pings")
	require.Equal(t, 50, b.count(t, "SELECT count(DISTINCT args->>'delivery') FROM river_job WHERE args->>'delivery' LIKE 'many-%'"))
}

// TestIntakeInvalidatesRepoConfig: a push to the default branch marks the
// repo's cached config stale in the delivery's transaction, a push to
// another branch does not, and an installation event forgets its repos'.
func TestIntakeInvalidatesRepoConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, handlers.RouteConfig{AppID: 1})
	const repo = "Codertocat/Hello-World"
	cache := func(installation int64) {
		require.NoError(t, store.SaveRepoConfig(ctx, b.pool, &store.RepoConfig{Repo: repo, InstallationID: installation,
			DefaultBranch: "master", CloneURL: "x", HeadSHA: "old"}))
	}
	stale := func() bool {
		c, err := store.GetRepoConfig(ctx, b.pool, repo)
		require.NoError(t, err)
		return c.Stale
	}
	push := readPayload(t, "push/with-new-branch.payload.json")

	cache(1)
	status, body := b.post(t, post{event: "push", guid: "other-branch", body: edit(t, push, map[string]any{"ref": "refs/heads/feature"})})
	require.Equal(t, http.StatusAccepted, status, body)
	require.False(t, stale(), "a push to another branch leaves the config alone")

	status, body = b.post(t, post{event: "push", guid: "default-branch", body: edit(t, push, map[string]any{"commits": []any{map[string]any{
		"id": "abc", "added": []any{"main.go"}, "modified": []any{}, "removed": []any{}}}})})
	require.Equal(t, http.StatusAccepted, status, body)
	require.True(t, stale(), "any push to the default branch may change the config")

	added := readPayload(t, "installation_repositories/added.payload.json")
	var inst struct {
		Installation struct{ ID int64 } `json:"installation"`
	}
	require.NoError(t, json.Unmarshal(added, &inst))
	cache(inst.Installation.ID)
	status, body = b.post(t, post{event: "installation_repositories", guid: "repos-added", body: added})
	require.Equal(t, http.StatusAccepted, status, body)
	_, err := store.GetRepoConfig(ctx, b.pool, repo)
	require.ErrorIs(t, err, store.ErrNotFound, "an installation event forgets its repos' configs")
}
