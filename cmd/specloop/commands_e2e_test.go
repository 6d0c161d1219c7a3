package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// comment posts a comment as user.
func comment(t *testing.T, st *stack.Stack, user, repo string, n int, body string) *github.IssueComment {
	t.Helper()
	c, _, err := st.UserClient(user).Issues.CreateComment(context.Background(), st.Owner, repo, n, &github.IssueComment{Body: &body})
	require.NoError(t, err)
	return c
}

// waitComment waits for a comment by the app on n containing text, after
// the comment with id after.
func waitComment(t *testing.T, st *stack.Stack, repo string, n int, after int64, text string) *github.IssueComment {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, c := range st.Emulator.IssueComments(st.Owner, repo, n) {
			if c.GetID() > after && c.GetUser().GetLogin() == stack.AppSlug+"[bot]" && strings.Contains(c.GetBody(), text) {
				return c
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var seen []string
	for _, c := range st.Emulator.IssueComments(st.Owner, repo, n) {
		seen = append(seen, c.GetUser().GetLogin()+": "+c.GetBody())
	}
	t.Fatalf("no comment by the app on #%d containing %q; comments: %q", n, text, seen)
	return nil
}

func botComments(st *stack.Stack, repo string, n int, text string) int {
	k := 0
	for _, c := range st.Emulator.IssueComments(st.Owner, repo, n) {
		if c.GetUser().GetLogin() == stack.AppSlug+"[bot]" && strings.Contains(c.GetBody(), text) {
			k++
		}
	}
	return k
}

func hasEyes(st *stack.Stack, repo string, commentID int64) bool {
	for _, r := range st.Emulator.Reactions(st.Owner, repo, commentID) {
		if r.GetContent() == "eyes" && r.GetUser().GetLogin() == stack.AppSlug+"[bot]" {
			return true
		}
	}
	return false
}

// TestLabelAcknowledged: a label on the emulator reaches specloop as a
// signed delivery, is recorded, and the job answers through the API with an
// installation token it got with its JWT.
func TestLabelAcknowledged(t *testing.T) {
	t.Parallel()
	st := newStack(t, stack.Options{})
	issue := openLabelledIssue(t, st, st.Repo, "- [ ] [a-1] Something [script:nochange]")
	c := waitComment(t, st, st.Repo, issue, 0, "specloop picked this up")
	require.Equal(t, "Bot", c.GetUser().GetType())
	require.Contains(t, c.GetBody(), "/runs/")
	var n int
	require.NoError(t, st.Server.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM deliveries WHERE event = 'issues' AND action = 'labeled' AND repo_full_name = $1`, st.Owner+"/"+st.Repo).Scan(&n))
	require.Equal(t, 1, n)
	// A label that is not specloop's starts nothing. It comes once the first
	// cycle is done: while a cycle is active even specloop's label would
	// add none.
	run, _ := waitCycles(t, st, st.Repo, issue, 1)
	_, _, err := st.UserClient("maintainer").Issues.AddLabelsToIssue(context.Background(), st.Owner, st.Repo, issue, []string{"bug"})
	require.NoError(t, err)
	// The job for the "bug" label has run (and was not retried): whatever
	// it would queue is queued by now.
	requireRanOnce(t, waitJobsDone(t, st, "issue_label", map[string]any{"repo": st.Owner + "/" + st.Repo, "issue": issue, "label": "bug"}))
	cycles, err := store.ListCycles(context.Background(), st.Server.Pool, run.ID)
	require.NoError(t, err)
	require.Len(t, cycles, 1, "no cycle for another label")
	require.Equal(t, 1, botComments(st, st.Repo, issue, "picked this up"))
}

// TestLoopCommands drives a run from its PR the way a maintainer does.
func TestLoopCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{})
	issue := openLabelledIssue(t, st, st.Repo, stack.IssueBody)
	run, _ := waitCycles(t, st, st.Repo, issue, 1)
	require.NotZero(t, run.PR, "the first cycle opened a PR")
	pr := run.PR

	// A reader is refused, once.
	c := comment(t, st, "reader", st.Repo, pr, "/loop next")
	waitComment(t, st, st.Repo, pr, c.GetID(), "only people with write access")
	c2 := comment(t, st, "reader", st.Repo, pr, "/loop next")
	// The second command's job has run: a second refusal or a 👀 would be
	// posted by now.
	requireRanOnce(t, waitJobsDone(t, st, "command", map[string]any{"comment_id": c2.GetID()}))
	require.Equal(t, 1, botComments(st, st.Repo, pr, "only people with write access"), "one polite refusal")
	require.False(t, hasEyes(st, st.Repo, c2.GetID()))

	// /loop next: 👀, a reply, and the next obligation done.
	c = comment(t, st, "maintainer", st.Repo, pr, "/loop next")
	waitComment(t, st, st.Repo, pr, c.GetID(), "queued cycle")
	require.True(t, hasEyes(st, st.Repo, c.GetID()))
	_, cycles := waitCycles(t, st, st.Repo, issue, 2)
	require.Equal(t, "count-2", cycles[1].ObligationID)
	require.Equal(t, state.Success, cycles[1].Conclusion, cycles[1].Summary)
	body := st.Emulator.Issue(st.Owner, st.Repo, issue).GetBody()
	require.Contains(t, body, "- [x] [count-1]")
	require.Contains(t, body, "- [x] [count-2]")
	require.Contains(t, body, "- [ ] [count-3]")
	_, ok := fileAt(t, st, st.Repo, run.Branch, "impl/count-2.ok")
	require.True(t, ok)

	// /loop status lists the cycles.
	c = comment(t, st, "maintainer", st.Repo, pr, "> thanks for the quote\n\n/loop status")
	status := waitComment(t, st, st.Repo, pr, c.GetID(), "| cycle | trigger |")
	require.Contains(t, status.GetBody(), "`count-2`")
	require.Contains(t, status.GetBody(), "success")

	// Unknown commands get the help text.
	c = comment(t, st, "maintainer", st.Repo, pr, "/loop dance")
	waitComment(t, st, st.Repo, pr, c.GetID(), "`dance` is not a specloop command")

	// "Re-run" on a check run retries that cycle's obligation.
	head := prOf(st, st.Repo, run.Branch).GetHead().GetSHA()
	checks := checksAt(st, st.Repo, head)
	require.Contains(t, checks, "specloop/verify")
	_, err := st.UserClient("maintainer").Do(ctx, mustReq(t, st, "POST",
		fmt.Sprintf("repos/%s/%s/check-runs/%d/rerequest", st.Owner, st.Repo, checks["specloop/verify"].GetID())), nil)
	require.NoError(t, err)
	_, cycles = waitCycles(t, st, st.Repo, issue, 3)
	require.Equal(t, "rerun", cycles[2].Trigger)
	require.Equal(t, "count-2", cycles[2].ObligationID, "the re-run is pinned to that cycle's obligation")
	require.Equal(t, state.Neutral, cycles[2].Conclusion, "it is already done")

	// The "Next cycle" button runs the next obligation.
	require.NoError(t, st.Emulator.RequestAction(st.Owner, st.Repo, checks["specloop/audit"].GetID(), evidence.ActionNext, "maintainer"))
	_, cycles = waitCycles(t, st, st.Repo, issue, 4)
	require.Equal(t, "button", cycles[3].Trigger)
	require.Equal(t, "count-3", cycles[3].ObligationID)

	// /loop stop stops the run.
	c = comment(t, st, "maintainer", st.Repo, pr, "/loop stop")
	waitComment(t, st, st.Repo, pr, c.GetID(), "stopped")
	run, err = store.GetRun(ctx, st.Server.Pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, state.RunStopped, run.State)
}

func mustReq(t *testing.T, st *stack.Stack, method, path string) *http.Request {
	t.Helper()
	req, err := st.UserClient("maintainer").NewRequest(method, path, nil)
	require.NoError(t, err)
	return req
}

// TestSpecPushCheck: a push to the default branch that touches a spec gets
// a specloop/spec check run listing every obligation.
// cloneAs clones repo as the maintainer over the emulator's smart HTTP and
// returns the checkout and a git runner in it.
func cloneAs(t *testing.T, st *stack.Stack, repo string) (string, func(args ...string)) {
	t.Helper()
	dir := t.TempDir()
	remote := fmt.Sprintf("http://maintainer:%s@%s/%s/%s.git", st.Tokens["maintainer"], strings.TrimPrefix(st.Emulator.URL(), "http://"), st.Owner, repo)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=m", "GIT_AUTHOR_EMAIL=m@x", "GIT_COMMITTER_NAME=m", "GIT_COMMITTER_EMAIL=m@x")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	git("clone", "-q", remote, ".")
	return dir, git
}

func TestSpecPushCheck(t *testing.T) {
	t.Parallel()
	st := newStack(t, stack.Options{})
	dir, git := cloneAs(t, st, st.Repo)
	spec := filepath.Join(dir, "specs", "widgets.md")
	b, err := os.ReadFile(spec)
	require.NoError(t, err)
	b = []byte(strings.Replace(string(b), "- [ ] [store-1]", "- [x] [store-1]", 1) + "- [ ] [api-2] Delete widgets (after: api-1)\n")
	require.NoError(t, os.WriteFile(spec, b, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "specs", "broken.md"), []byte("- [ ] [x-1] a\n- [ ] [x-1] b\n"), 0o644))
	git("add", "-A")
	git("commit", "-qm", "specs")
	git("push", "-q", "origin", "main")
	sha, err := st.Emulator.Ref(st.Owner, st.Repo, "heads/main")
	require.NoError(t, err)

	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && checksAt(st, st.Repo, sha)["specloop/spec"] == nil {
		time.Sleep(100 * time.Millisecond)
	}
	cr := checksAt(st, st.Repo, sha)["specloop/spec"]
	require.NotNil(t, cr, "a specloop/spec check run on the pushed commit")
	require.Equal(t, "failure", cr.GetConclusion(), "broken.md has a duplicate id")
	sum := cr.GetOutput().GetSummary()
	require.Contains(t, sum, "| :white_check_mark: done | `store-1` |")
	require.Contains(t, sum, "| :white_circle: open | `store-2` |")
	require.Contains(t, sum, "| :no_entry: blocked | `api-2` |")
	require.Contains(t, sum, "**Next:** `store-2`")
	require.Contains(t, sum, "specs/broken.md:2")
	require.Equal(t, "1 problem(s) in specs; 1 done, 2 open, 1 blocked", cr.GetOutput().GetTitle())
	require.NotEmpty(t, cr.GetOutput().Annotations, "the problem is annotated at its line")
}

// TestScheduledDrain: a drain (what the schedule queues) works down the
// open obligations, one run and PR per spec, within drain.max_cycles.
func TestScheduledDrain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{})
	files := stack.SampleRepo(st.AgentBin())
	files[".github/specloop.yml"] += "schedule: \"0 3 * * *\"\ndrain: {max_cycles: 3}\n"
	files["specs/other.md"] = "# Other\n\n- [ ] [o-1] One thing\n"
	addRepo(t, st, "drained", files)
	require.NoError(t, st.Emulator.WaitDeliveries(ctx))
	_, err := st.Server.River.Insert(ctx, jobs.DrainArgs{Repo: st.Owner + "/drained"}, nil)
	require.NoError(t, err)

	deadline := time.Now().Add(2 * time.Minute)
	var done []*store.Cycle
	for time.Now().Before(deadline) {
		rows, err := st.Server.Pool.Query(ctx, `SELECT c.id FROM cycles c JOIN runs r ON r.id = c.run_id
			WHERE r.repo_full_name = $1 AND c.state = 'done' ORDER BY c.id`, st.Owner+"/drained")
		require.NoError(t, err)
		done = done[:0]
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			c, err := store.GetCycle(ctx, st.Server.Pool, id)
			require.NoError(t, err)
			done = append(done, c)
		}
		rows.Close()
		if len(done) >= 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Len(t, done, 3, "max_cycles bounds the drain")
	var obligations []string
	for _, c := range done {
		require.Equal(t, state.Success, c.Conclusion, c.Summary)
		obligations = append(obligations, c.ObligationID)
	}
	require.ElementsMatch(t, []string{"o-1", "store-1", "store-2"}, obligations)
	prs := st.Emulator.PullRequests(st.Owner, "drained")
	require.Len(t, prs, 2, "one PR per spec")
	spec, ok := fileAt(t, st, "drained", "specloop/spec/widgets", "specs/widgets.md")
	require.True(t, ok)
	require.Contains(t, spec, "- [x] [store-1]")
	require.Contains(t, spec, "- [x] [store-2]")
	require.Contains(t, spec, "- [ ] [api-1]")
}

func TestDue(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	require.True(t, jobs.Due("0 3 * * 1-5", at("2026-11-23T03:00:00Z")), "Monday 03:00")
	require.False(t, jobs.Due("0 3 * * 1-5", at("2026-11-22T03:00:00Z")), "Sunday")
	require.False(t, jobs.Due("0 3 * * 1-5", at("2026-11-23T03:01:00Z")))
	require.False(t, jobs.Due("", at("2026-11-23T03:00:00Z")))
}

// TestBadRepoConfig: a config that does not parse gets a failing
// specloop/config check run saying where, and nothing else runs.
func TestBadRepoConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{})
	files := stack.SampleRepo(st.AgentBin())
	files[".github/specloop.yml"] = "on_push: always\nagent:\n  timeout: soon\n"
	addRepo(t, st, "misconfigured", files)
	issue := openLabelledIssue(t, st, "misconfigured", "- [ ] [c-1] Anything")
	main, err := st.Emulator.Ref(st.Owner, "misconfigured", "heads/main")
	require.NoError(t, err)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && checksAt(st, "misconfigured", main)["specloop/config"] == nil {
		time.Sleep(100 * time.Millisecond)
	}
	cr := checksAt(st, "misconfigured", main)["specloop/config"]
	require.NotNil(t, cr, "a specloop/config check run on the default branch")
	require.Equal(t, "failure", cr.GetConclusion())
	require.Contains(t, cr.GetOutput().GetSummary(), "line 3")
	require.Contains(t, cr.GetOutput().GetSummary(), "soon")
	_, err = store.FindRun(ctx, st.Server.Pool, st.Owner+"/misconfigured", issue)
	require.ErrorIs(t, err, store.ErrNotFound, "nothing else runs for that repo")
	require.Zero(t, botComments(st, "misconfigured", issue, "picked this up"))
}

// TestRepoConcurrencyLimit: with limits.concurrent: 1 two runs of one repo
// never have cycles running at the same time, though workers are free.
func TestRepoConcurrencyLimit(t *testing.T) {
	t.Parallel()
	st := newStack(t, stack.Options{Workers: 3})
	files := stack.SampleRepo(st.AgentBin())
	files[".github/specloop.yml"] = strings.Replace(files[".github/specloop.yml"],
		"command: "+st.AgentBin()+" agent-script", "command: \"sleep 1; "+st.AgentBin()+" agent-script\"", 1) +
		"limits: {concurrent: 1}\naudit: false\n"
	addRepo(t, st, "serial", files)
	a := openLabelledIssue(t, st, "serial", "- [ ] [a-1] First")
	b := openLabelledIssue(t, st, "serial", "- [ ] [b-1] Second")
	_, ca := waitCycles(t, st, "serial", a, 1)
	_, cb := waitCycles(t, st, "serial", b, 1)
	x, y := ca[0], cb[0]
	require.Equal(t, state.Success, x.Conclusion, x.Summary)
	require.Equal(t, state.Success, y.Conclusion, y.Summary)
	overlap := x.StartedAt.Before(*y.FinishedAt) && y.StartedAt.Before(*x.FinishedAt)
	require.False(t, overlap, "cycles %d (%s–%s) and %d (%s–%s) ran at once", x.ID, x.StartedAt, x.FinishedAt, y.ID, y.StartedAt, y.FinishedAt)
}

// TestSpecPushCycle: with on_push: cycle, a push that changes a spec also
// queues a cycle on that spec's next obligation, on the spec's own branch.
func TestSpecPushCycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{})
	files := stack.SampleRepo(st.AgentBin())
	files[".github/specloop.yml"] += "on_push: cycle\n"
	addRepo(t, st, "pushy", files)
	dir, git := cloneAs(t, st, "pushy")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "specs", "new.md"), []byte("# New\n\n- [ ] [n-1] A new thing\n"), 0o644))
	git("add", "-A")
	git("commit", "-qm", "a new spec")
	git("push", "-q", "origin", "main")

	var run *store.Run
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		r, err := store.FindRunByBranch(ctx, st.Server.Pool, st.Owner+"/pushy", "specloop/spec/new")
		if err == nil {
			if cycles, _ := store.ListCycles(ctx, st.Server.Pool, r.ID); len(cycles) > 0 && cycles[0].State == state.CycleDone {
				run = r
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NotNil(t, run, "a run on specloop/spec/new finished its cycle")
	cycles, err := store.ListCycles(ctx, st.Server.Pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, "n-1", cycles[0].ObligationID)
	require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
	require.Equal(t, "push", cycles[0].Trigger)
	spec, ok := fileAt(t, st, "pushy", "specloop/spec/new", "specs/new.md")
	require.True(t, ok)
	require.Contains(t, spec, "- [x] [n-1]")
	pr := prOf(st, "pushy", "specloop/spec/new")
	require.NotNil(t, pr)
	require.NotContains(t, pr.GetBody(), "Closes #", "a spec run closes no issue")
}

// TestLoopRetry: `/loop retry` runs the last failed cycle's obligation
// again, and the new attempt's prompt carries how the last one failed.
func TestLoopRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{})
	issue := openLabelledIssue(t, st, st.Repo, "- [ ] [r-1] Hard change [script:breakalways]\n- [ ] [r-2] Next one")
	run, cycles := waitCycles(t, st, st.Repo, issue, 1)
	require.Equal(t, state.Failure, cycles[0].Conclusion, cycles[0].Summary)
	require.NotZero(t, run.PR, "a failing verify is pushed as a draft PR")

	c := comment(t, st, "maintainer", st.Repo, run.PR, "/loop retry")
	waitComment(t, st, st.Repo, run.PR, c.GetID(), "`r-1` again")
	_, cycles = waitCycles(t, st, st.Repo, issue, 2)
	retry := cycles[1]
	require.Equal(t, "retry", retry.Trigger)
	require.Equal(t, "r-1", retry.ObligationID)
	arts, err := store.ListArtifacts(ctx, st.Server.Pool, retry.ID)
	require.NoError(t, err)
	var prompt []byte
	for _, a := range arts {
		if a.Name == "prompt-implementer.md" {
			full, err := store.GetArtifact(ctx, st.Server.Pool, a.ID)
			require.NoError(t, err)
			prompt = full.Content
		}
	}
	require.Contains(t, string(prompt), fmt.Sprintf("Cycle %d concluded failure", cycles[0].ID), "the previous failure is in the prompt")
}

// TestSpecCheckManyAnnotations: more problems than GitHub takes in one
// request (50) all reach the check run, in batches.
func TestSpecCheckManyAnnotations(t *testing.T) {
	t.Parallel()
	st := newStack(t, stack.Options{})
	dir, git := cloneAs(t, st, st.Repo)
	var b strings.Builder
	for range 121 {
		b.WriteString("- [ ] [dup-1] the same id again\n")
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "specs", "dups.md"), []byte(b.String()), 0o644))
	git("add", "-A")
	git("commit", "-qm", "many problems")
	git("push", "-q", "origin", "main")
	sha, err := st.Emulator.Ref(st.Owner, st.Repo, "heads/main")
	require.NoError(t, err)
	deadline := time.Now().Add(time.Minute)
	annotations := func() int {
		if out := checksAt(st, st.Repo, sha)["specloop/spec"].GetOutput(); out != nil {
			return len(out.Annotations)
		}
		return 0
	}
	for time.Now().Before(deadline) && annotations() < 120 {
		time.Sleep(100 * time.Millisecond)
	}
	cr := checksAt(st, st.Repo, sha)["specloop/spec"]
	require.NotNil(t, cr)
	require.Equal(t, "failure", cr.GetConclusion())
	require.Len(t, cr.GetOutput().Annotations, 120, "120 duplicate-id problems, sent 50 at a time")
}
