package jobs

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
	"github.com/specloop/specloop/workspace"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// testKey is the app's key, shared because RSA key generation is slow; it
// is never changed.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const (
	testAppID     = 7
	testOwner     = "acme"
	testRepo      = "widgets"
	testFull      = testOwner + "/" + testRepo
	testPublicURL = "https://specloop.test"
	botLogin      = "specloop[bot]"
)

// The GitHub API routes the tests count, as app.Clients names them.
const (
	routeRepo     = "GET /repos/{owner}/{repo}"
	routeRef      = "GET /repos/{owner}/{repo}/git/ref/{ref}"
	routeContents = "GET /repos/{owner}/{repo}/contents/{path}"
	routeToken    = "POST /app/installations/{installation_id}/access_tokens"
	routeFindInst = "GET /repos/{owner}/{repo}/installation"
)

// widgetsSpec is a spec with two open obligations.
const widgetsSpec = `# Widgets

- [ ] [w-1] Build the widget
- [ ] [w-2] Paint the widget
`

// agentCommand is passingConfig's agent: it adds a line to built.txt and says so.
const agentCommand = `command: 'echo built >> built.txt; echo built the widget'`

// passingConfig runs that agent, an auditor that passes and a verify that
// passes: a cycle on it succeeds.
const passingConfig = `agent:
  ` + agentCommand + `
  timeout: 1m
auditor:
  command: 'mkdir -p .specloop && echo ''{"verdict":"pass","summary":"looks right"}'' > .specloop/audit.json'
verify:
  command: 'true'
  timeout: 1m
`

// harness is one test's world: its own database, its own GitHub emulator
// with acme/widgets installed, a maintainer (admin) and a reader, and the
// workers' deps wired to both as the product wires them.
type harness struct {
	t   *testing.T
	ctx context.Context
	emu *emulator.Server
	// clock is the emulator's (GitHub's) time.
	clock *emulator.Clock
	pool  *pgxpool.Pool
	gh    *app.Clients
	d     *deps
	inst  int64
	// maintainer acts on GitHub as that user (admin); a reader has read
	// access only. tokens are their personal tokens.
	maintainer *github.Client
	tokens     map[string]string
}

// newHarness seeds acme/widgets with files and builds deps; adjust changes
// the Config before newDeps.
func newHarness(t *testing.T, files map[string]string, adjust ...func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	clock := &emulator.Clock{}
	emu, err := emulator.New(emulator.Options{AppID: testAppID, AppPublicKey: &testKey().PublicKey, AppSlug: "specloop", DefaultPlan: emulator.PlanPro, Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Close() })
	base, err := emu.Start()
	require.NoError(t, err)
	_, err = emu.CreateRepo(testOwner, testRepo, emulator.RepoOptions{Private: true, Files: files})
	require.NoError(t, err)
	h := &harness{t: t, ctx: ctx, emu: emu, clock: clock, pool: storetest.Pool(t), tokens: map[string]string{}}
	for login, perm := range map[string]string{"maintainer": "admin", "reader": "read"} {
		h.tokens[login] = emu.AddUser(login)
		emu.SetPermission(testOwner, testRepo, login, perm)
	}
	h.inst = emu.Install(testOwner)
	h.gh, err = app.NewClients(&app.Config{AppID: testAppID, PrivateKey: testKey(), GitHubAPIURL: base + "/"})
	require.NoError(t, err)
	h.maintainer = h.userClient("maintainer")

	driver, err := sandbox.New("none", discard())
	require.NoError(t, err)
	cfg := Config{
		WorkerID: "test-worker", Pool: h.pool, GitHub: h.gh, Logger: discard(), PublicURL: testPublicURL, AppSlug: "specloop",
		Engine: &cycle.Engine{
			Runner: cycle.SandboxRunner{Driver: driver}, Redactor: agent.NewRedactor(), Logger: discard(), Getenv: os.Getenv,
		},
		Mirrors: &workspace.Cache{Dir: t.TempDir(), Logger: discard()},
	}
	for _, f := range adjust {
		f(&cfg)
	}
	h.d = newDeps(cfg)
	return h
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func (h *harness) userClient(login string) *github.Client {
	c := github.NewClient(nil).WithAuthToken(h.tokens[login])
	u, err := url.Parse(h.emu.URL() + "/")
	require.NoError(h.t, err)
	c.BaseURL = u
	return c
}

// work runs worker w on a job with args through rivertest, in a
// transaction it commits afterwards; the error is the job's own.
func work[T river.JobArgs](h *harness, w river.Worker[T], args T) (*rivertest.WorkResult, error) {
	h.t.Helper()
	tw := rivertest.NewWorker(h.t, riverpgxv5.New(h.pool), &river.Config{Logger: discard()}, w)
	tx, err := h.pool.Begin(h.ctx)
	require.NoError(h.t, err)
	defer tx.Rollback(h.ctx)
	res, werr := tw.Work(h.ctx, h.t, tx, args, nil)
	require.NoError(h.t, tx.Commit(h.ctx))
	return res, werr
}

// mustWork is work that expects the job to complete.
func mustWork[T river.JobArgs](h *harness, w river.Worker[T], args T) *rivertest.WorkResult {
	h.t.Helper()
	res, err := work(h, w, args)
	require.NoError(h.t, err)
	require.Equal(h.t, river.EventKindJobCompleted, res.EventKind)
	return res
}

// workAsync is work on another goroutine, for a cycle the test interferes
// with while it runs.
type workDone struct {
	res *rivertest.WorkResult
	err error
}

func workAsync[T river.JobArgs](h *harness, w river.Worker[T], args T) <-chan workDone {
	h.t.Helper()
	tw := rivertest.NewWorker(h.t, riverpgxv5.New(h.pool), &river.Config{Logger: discard()}, w)
	done := make(chan workDone, 1)
	go func() {
		tx, err := h.pool.Begin(h.ctx)
		if err != nil {
			done <- workDone{err: err}
			return
		}
		defer tx.Rollback(h.ctx)
		res, err := tw.Work(h.ctx, h.t, tx, args, nil)
		if cerr := tx.Commit(h.ctx); err == nil {
			err = cerr
		}
		done <- workDone{res: res, err: err}
	}()
	return done
}

func (h *harness) wait(done <-chan workDone) *rivertest.WorkResult {
	h.t.Helper()
	select {
	case d := <-done:
		require.NoError(h.t, d.err)
		return d.res
	case <-time.After(2 * time.Minute):
		h.t.Fatal("the job did not finish")
		return nil
	}
}

// Workers, built in-package on the harness's deps.

func (h *harness) issueLabel() *IssueLabelWorker { return &IssueLabelWorker{d: h.d} }
func (h *harness) command() *CommandWorker       { return &CommandWorker{d: h.d} }
func (h *harness) checkRun() *CheckRunWorker     { return &CheckRunWorker{d: h.d} }
func (h *harness) specPush() *SpecPushWorker     { return &SpecPushWorker{d: h.d} }
func (h *harness) cycleW() *CycleWorker          { return &CycleWorker{d: h.d} }
func (h *harness) drain() *DrainWorker           { return &DrainWorker{d: h.d} }
func (h *harness) schedule() *ScheduleWorker     { return &ScheduleWorker{d: h.d} }
func (h *harness) retention() *RetentionWorker   { return &RetentionWorker{d: h.d} }
func (h *harness) reaper() *ReaperWorker         { return &ReaperWorker{d: h.d} }

// routes is how many GitHub requests the workers sent so far, by route,
// summed over installations.
func (h *harness) routes() map[string]int {
	out := map[string]int{}
	for k, n := range h.gh.Requests() {
		out[k.Route] += n
	}
	return out
}

// sent is what was requested since before.
func (h *harness) sent(before map[string]int) map[string]int {
	out := map[string]int{}
	for r, n := range h.routes() {
		if d := n - before[r]; d > 0 {
			out[r] = d
		}
	}
	return out
}

// GitHub as a person would act on it.

func (h *harness) createIssue(title, body string) int {
	h.t.Helper()
	is, _, err := h.maintainer.Issues.Create(h.ctx, testOwner, testRepo, &github.IssueRequest{Title: &title, Body: &body})
	require.NoError(h.t, err)
	return is.GetNumber()
}

// comment comments on issue or PR n as login and returns the comment's id.
func (h *harness) comment(login string, n int, body string) int64 {
	h.t.Helper()
	c, _, err := h.userClient(login).Issues.CreateComment(h.ctx, testOwner, testRepo, n, &github.IssueComment{Body: &body})
	require.NoError(h.t, err)
	return c.GetID()
}

// botComments are the bodies of specloop's comments on issue or PR n,
// the run's progress comment aside (progressComments).
func (h *harness) botComments(n int) []string {
	var out []string
	for _, c := range h.emu.IssueComments(testOwner, testRepo, n) {
		if c.GetUser().GetLogin() == botLogin && !strings.HasPrefix(c.GetBody(), ProgressMarker) {
			out = append(out, c.GetBody())
		}
	}
	return out
}

func (h *harness) git(dir string, args ...string) string {
	h.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=maintainer", "-c", "user.email=m@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(h.t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// push commits files (path → content; "" removes the file) on branch as
// the maintainer, creating the branch from main if needed, and returns the
// new commit.
func (h *harness) push(branch string, files map[string]string) string {
	h.t.Helper()
	u, err := url.Parse(h.emu.URL() + "/" + testFull + ".git")
	require.NoError(h.t, err)
	u.User = url.UserPassword("maintainer", h.tokens["maintainer"])
	dir := h.t.TempDir()
	h.git(dir, "clone", "-q", u.String(), "w")
	w := filepath.Join(dir, "w")
	if branch != "main" {
		h.git(w, "checkout", "-q", "-B", branch)
	}
	for p, content := range files {
		full := filepath.Join(w, filepath.FromSlash(p))
		if content == "" {
			require.NoError(h.t, os.Remove(full))
			continue
		}
		require.NoError(h.t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(h.t, os.WriteFile(full, []byte(content), 0o644))
	}
	h.git(w, "add", "-A")
	h.git(w, "commit", "-q", "-m", "change "+branch)
	h.git(w, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return h.git(w, "rev-parse", "HEAD")
}

// openPR pushes a branch and opens a PR from it as the maintainer.
func (h *harness) openPR(branch string) int {
	h.t.Helper()
	h.push(branch, map[string]string{"pr-" + strings.ReplaceAll(branch, "/", "-") + ".txt": "change\n"})
	pr, _, err := h.maintainer.PullRequests.Create(h.ctx, testOwner, testRepo, &github.NewPullRequest{
		Title: github.String("change on " + branch), Head: &branch, Base: github.String("main"),
	})
	require.NoError(h.t, err)
	return pr.GetNumber()
}

func (h *harness) ref(branch string) (string, error) {
	return h.emu.Ref(testOwner, testRepo, "heads/"+branch)
}

func (h *harness) mainSHA() string {
	h.t.Helper()
	sha, err := h.ref("main")
	require.NoError(h.t, err)
	return sha
}

// fileAt reads a file of the repo at ref through the API.
func (h *harness) fileAt(path, ref string) string {
	h.t.Helper()
	fc, _, _, err := h.maintainer.Repositories.GetContents(h.ctx, testOwner, testRepo, path, &github.RepositoryContentGetOptions{Ref: ref})
	require.NoError(h.t, err)
	s, err := fc.GetContent()
	require.NoError(h.t, err)
	return s
}

// checkRuns are the repo's check runs on sha ("" for all), oldest first.
func (h *harness) checkRuns(sha string) []*github.CheckRun {
	var out []*github.CheckRun
	for _, cr := range h.emu.CheckRuns(testOwner, testRepo) {
		if sha == "" || cr.GetHeadSHA() == sha {
			out = append(out, cr)
		}
	}
	return out
}

// createCheckRun posts a check run as the app and records it for cycleID,
// as a cycle does.
func (h *harness) createCheckRun(cycleID int64, name, sha string, status evidence.Status) int64 {
	h.t.Helper()
	r := evidence.Run{Name: name, HeadSHA: sha, Status: status, Title: name, Summary: "…", ExternalID: fmt.Sprintf("cycle:%d", cycleID)}
	if status == evidence.Completed {
		r.Conclusion = state.Failure
	}
	cr, err := evidence.NewCheckRuns(h.gh.Installation(h.inst), testOwner, testRepo).Create(h.ctx, r)
	require.NoError(h.t, err)
	require.NoError(h.t, store.RecordCheckRun(h.ctx, h.pool, &store.CheckRun{
		ID: cr.GetID(), CycleID: cycleID, Repo: testFull, Name: name, HeadSHA: sha, Completed: status == "completed",
	}))
	return cr.GetID()
}

// Database helpers.

func (h *harness) issueRun(issue int) *store.Run {
	h.t.Helper()
	r, err := store.UpsertRun(h.ctx, h.pool, &store.Run{Repo: testFull, InstallationID: h.inst,
		Branch: fmt.Sprintf("specloop/issue-%d", issue), Kind: state.RunIssue, Issue: issue})
	require.NoError(h.t, err)
	return r
}

// issueCycle opens an issue holding widgetsSpec and works its run's first
// cycle, which must succeed; it returns the issue and the run as it is then.
func (h *harness) issueCycle() (int, *store.Run) {
	h.t.Helper()
	issue := h.createIssue("Widgets", widgetsSpec)
	run := h.issueRun(issue)
	c := h.queued(run.ID, "label")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID})
	require.Equal(h.t, state.Success, h.cycle(c.ID).Conclusion, h.cycle(c.ID).Summary)
	return issue, h.run(run.ID)
}

func (h *harness) specRun(path, branch string) *store.Run {
	h.t.Helper()
	r, err := store.UpsertRun(h.ctx, h.pool, &store.Run{Repo: testFull, InstallationID: h.inst,
		Branch: branch, Kind: state.RunSpec, SpecPath: path})
	require.NoError(h.t, err)
	return r
}

func (h *harness) queued(runID int64, trigger string) *store.Cycle {
	h.t.Helper()
	c, err := store.InsertCycle(h.ctx, h.pool, runID, trigger, "")
	require.NoError(h.t, err)
	return c
}

// running claims a new cycle of the run for another, live worker, which
// holds the cycle's liveness lock until the test ends.
func (h *harness) running(runID int64) (*store.Cycle, int64) {
	h.t.Helper()
	c, fence, release := h.claim(runID)
	h.t.Cleanup(release)
	return c, fence
}

// claim claims a new cycle of the run as a live worker does: its lock
// first, then the lease.
func (h *harness) claim(runID int64) (*store.Cycle, int64, func()) {
	h.t.Helper()
	c := h.queued(runID, "command")
	release, err := store.LockCycle(h.ctx, h.pool, c.ID)
	require.NoError(h.t, err)
	res, fence, err := store.ClaimCycle(h.ctx, h.pool, c.ID, "other-worker", time.Hour, 0)
	require.NoError(h.t, err)
	require.Equal(h.t, store.Claimed, res)
	return h.cycle(c.ID), fence, release
}

// finished records a cycle of the run on obligation that concluded so.
func (h *harness) finished(runID int64, obligation string, conclusion state.Conclusion) *store.Cycle {
	h.t.Helper()
	c, fence, release := h.claim(runID)
	defer release()
	require.NoError(h.t, store.UpdateCycle(h.ctx, h.pool, c.ID, fence, obligation, "text of "+obligation, h.mainSHA()))
	require.NoError(h.t, store.FinishCycle(h.ctx, h.pool, c.ID, fence, conclusion, "it "+string(conclusion)))
	return h.cycle(c.ID)
}

func (h *harness) cycle(id int64) *store.Cycle {
	h.t.Helper()
	c, err := store.GetCycle(h.ctx, h.pool, id)
	require.NoError(h.t, err)
	return c
}

func (h *harness) cycles(runID int64) []*store.Cycle {
	h.t.Helper()
	cs, err := store.ListCycles(h.ctx, h.pool, runID)
	require.NoError(h.t, err)
	return cs
}

func (h *harness) run(id int64) *store.Run {
	h.t.Helper()
	r, err := store.GetRun(h.ctx, h.pool, id)
	require.NoError(h.t, err)
	return r
}

// runCount is how many runs the database holds.
func (h *harness) runCount() int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.pool.QueryRow(h.ctx, `SELECT count(*) FROM runs`).Scan(&n))
	return n
}

// jobs are the args of the queued River jobs of kind, oldest first.
func jobs[T river.JobArgs](h *harness) []T {
	h.t.Helper()
	var zero T
	rows, err := h.pool.Query(h.ctx, `SELECT args FROM river_job WHERE kind = $1 ORDER BY id`, zero.Kind())
	require.NoError(h.t, err)
	defer rows.Close()
	var out []T
	for rows.Next() {
		var raw []byte
		require.NoError(h.t, rows.Scan(&raw))
		var a T
		require.NoError(h.t, json.Unmarshal(raw, &a))
		out = append(out, a)
	}
	require.NoError(h.t, rows.Err())
	return out
}

// cycleJobs are the cycle ids of the queued cycle jobs, oldest first.
func (h *harness) cycleJobs() []int64 {
	h.t.Helper()
	var ids []int64
	for _, a := range jobs[CycleArgs](h) {
		ids = append(ids, a.CycleID)
	}
	return ids
}

func (h *harness) events(runID int64) []store.Event {
	h.t.Helper()
	evs, err := store.ListEvents(h.ctx, h.pool, runID, 0, 1000)
	require.NoError(h.t, err)
	return evs
}
