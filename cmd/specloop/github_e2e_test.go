package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestGitHubFaults: where real GitHub surprises an app, specloop copes. One
// stack, the faults one after another (the clock one last: it moves
// GitHub's time for everyone).
func TestGitHubFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{Workers: 2})

	t.Run("a secondary limit on opening the PR is waited out", func(t *testing.T) {
		fault, err := st.Emulator.Inject(emulator.Fault{Method: "POST", Path: "/repos/{owner}/{repo}/pulls",
			Login: stack.AppSlug + "[bot]", Count: 1, Status: http.StatusForbidden, RetryAfter: 2 * time.Second})
		require.NoError(t, err)
		defer fault.Remove()
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [sl-1] Open the PR after the wait")
		run, cycles := waitCycles(t, st, st.Repo, issue, 1)
		require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
		require.Equal(t, 1, fault.Fired(), "the first PR creation met the limit")
		pr := prOf(st, st.Repo, run.Branch)
		require.NotNil(t, pr, "the PR was opened after the wait")
		require.Equal(t, run.PR, pr.GetNumber())
	})

	t.Run("a workflow edit is refused before verify", func(t *testing.T) {
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [wf-1] Speed up CI [script:editworkflow]")
		run, cycles := waitCycles(t, st, st.Repo, issue, 1)
		require.Equal(t, state.ActionRequired, cycles[0].Conclusion)
		require.Contains(t, cycles[0].Summary, ".github/workflows/ci.yml")
		_, err := st.Emulator.Ref(st.Owner, st.Repo, "heads/"+run.Branch)
		require.Error(t, err, "nothing pushed")
		main, err := st.Emulator.Ref(st.Owner, st.Repo, "heads/main")
		require.NoError(t, err)
		checks := checksAt(st, st.Repo, main, cycles[0].ID)
		require.Equal(t, "skipped", checks["specloop/verify"].GetConclusion(), "verify never ran")
		require.Contains(t, checks["specloop/audit"].GetOutput().GetSummary(), "without the `workflows` permission")
	})

	t.Run("a failing cycle then a passing one: the PR leaves draft", func(t *testing.T) {
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [dr-1] Hard change [script:breakalways]")
		run, cycles := waitCycles(t, st, st.Repo, issue, 1)
		require.Equal(t, state.Failure, cycles[0].Conclusion)
		require.True(t, prOf(st, st.Repo, run.Branch).GetDraft(), "a draft while a check fails")
		// The spec is the issue body: the maintainer makes the task doable.
		_, _, err := st.UserClient("maintainer").Issues.Edit(ctx, st.Owner, st.Repo, issue, &github.IssueRequest{Body: github.String("- [ ] [dr-1] Hard change")})
		require.NoError(t, err)
		comment(t, st, "maintainer", st.Repo, run.PR, "/loop retry")
		_, cycles = waitCycles(t, st, st.Repo, issue, 2)
		require.Equal(t, state.Success, cycles[1].Conclusion, cycles[1].Summary)
		pr := prOf(st, st.Repo, run.Branch)
		require.False(t, pr.GetDraft(), "ready for review, through GraphQL")
		require.NotContains(t, pr.GetBody(), "plan has no draft")
	})

	t.Run("a Free-plan private repo gets a normal PR with a failing check", func(t *testing.T) {
		st.Emulator.SetPlan(st.Owner, emulator.PlanFree)
		defer st.Emulator.SetPlan(st.Owner, emulator.PlanPro)
		addRepo(t, st, "freeplan", stack.SampleRepo(st.AgentBin()))
		issue := openLabelledIssue(t, st, "freeplan", "- [ ] [fp-1] Impossible change [script:breakalways]")
		run, cycles := waitCycles(t, st, "freeplan", issue, 1)
		require.Equal(t, state.Failure, cycles[0].Conclusion)
		pr := prOf(st, "freeplan", run.Branch)
		require.NotNil(t, pr, "the refused draft did not lose the PR")
		require.False(t, pr.GetDraft())
		require.Contains(t, pr.GetBody(), strings.TrimSpace(publish.DraftRefusedNote)[:60])
		require.Equal(t, "failure", checksAt(st, "freeplan", pr.GetHead().GetSHA(), cycles[0].ID)["specloop/verify"].GetConclusion())
	})

	t.Run("a webhook answered 503 comes back through the deliveries API", func(t *testing.T) {
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"message":"database unavailable"}`, http.StatusServiceUnavailable)
		}))
		defer down.Close()
		st.Emulator.SetWebhookURL(down.URL)
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [rd-1] Survive a deploy")
		waitCtx, cancel := context.WithTimeout(ctx, waitLimit)
		defer cancel()
		require.NoError(t, st.Emulator.WaitDeliveries(waitCtx))
		st.Emulator.SetWebhookURL(st.URL + "/webhooks")
		labeled := lastDelivery(t, st, "issues", "labeled")
		require.Equal(t, http.StatusServiceUnavailable, labeled.StatusCode)

		runJob(t, st, jobs.RedeliverArgs{})
		_, cycles := waitCycles(t, st, st.Repo, issue, 1)
		require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
		// At most once: a second pass asks for nothing.
		runJob(t, st, jobs.RedeliverArgs{})
		require.NoError(t, st.Emulator.WaitDeliveries(waitCtx))
		n := 0
		for _, d := range st.Emulator.Deliveries() {
			if d.GUID == labeled.GUID {
				n++
			}
		}
		require.Equal(t, 2, n, "the failed delivery and one redelivery")
		rec, err := store.GetDelivery(ctx, st.Server.Pool, labeled.GUID)
		require.NoError(t, err)
		require.Equal(t, "labeled", rec.Action)
	})

	t.Run("check-run updates fail in a 5xx burst: the sweeper completes them", func(t *testing.T) {
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [sw-1] Outlast the burst [script:slow]")
		waitAgent(t, st, st.Repo, issue)
		start := time.Now()
		burst, err := st.Emulator.Inject(emulator.Fault{Method: "PATCH", Path: "/repos/{owner}/{repo}/check-runs/{id}", Status: http.StatusBadGateway})
		require.NoError(t, err)
		_, cycles := waitCycles(t, st, st.Repo, issue, 1)
		time.Sleep(time.Until(start.Add(7 * time.Second))) // the burst lasts at least 7 s
		burst.Remove()
		require.Positive(t, burst.Fired())
		var open int
		require.NoError(t, st.Server.Pool.QueryRow(ctx, "SELECT count(*) FROM check_runs WHERE cycle_id = $1 AND NOT completed", cycles[0].ID).Scan(&open))
		require.Positive(t, open, "the burst left check runs in progress")

		runJob(t, st, jobs.CheckSweepArgs{})
		require.NoError(t, st.Server.Pool.QueryRow(ctx, "SELECT count(*) FROM check_runs WHERE cycle_id = $1 AND NOT completed", cycles[0].ID).Scan(&open))
		require.Zero(t, open)
		swept := 0
		for _, cr := range st.Emulator.CheckRuns(st.Owner, st.Repo) {
			if cr.GetExternalID() != fmt.Sprintf("cycle:%d", cycles[0].ID) {
				continue
			}
			require.Equal(t, "completed", cr.GetStatus(), cr.GetName())
			if strings.Contains(cr.GetOutput().GetSummary(), "sweeper completed it") {
				swept++
			}
		}
		require.Positive(t, swept, "the summary says why it completed late")
	})

	t.Run("the token expires while the agent runs", func(t *testing.T) {
		issue := openLabelledIssue(t, st, st.Repo, "- [ ] [tk-1] Take longer than a token lives [script:slow]")
		waitAgent(t, st, st.Repo, issue)
		st.Clock.Advance(61 * time.Minute) // GitHub's time: the cycle's first token is dead
		run, cycles := waitCycles(t, st, st.Repo, issue, 1)
		require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
		sha, err := st.Emulator.Ref(st.Owner, st.Repo, "heads/"+run.Branch)
		require.NoError(t, err, "pushed with a fresh token")
		require.Equal(t, sha, prOf(st, st.Repo, run.Branch).GetHead().GetSHA())
	})
}

// lastDelivery is the newest delivery of an event and action.
func lastDelivery(t *testing.T, st *stack.Stack, event, action string) emulator.Delivery {
	t.Helper()
	var out emulator.Delivery
	for _, d := range st.Emulator.Deliveries() {
		if d.Event == event && d.Action == action {
			out = d
		}
	}
	require.NotEmpty(t, out.GUID, "a %s.%s delivery", event, action)
	return out
}

// runJob queues a job and waits until it completed.
func runJob(t *testing.T, st *stack.Stack, args river.JobArgs) {
	t.Helper()
	ctx := context.Background()
	res, err := st.Server.River.Insert(ctx, args, nil)
	require.NoError(t, err)
	waitFor(t, args.Kind()+" job done", func() bool {
		j, err := st.Server.River.JobGet(ctx, res.Job.ID)
		require.NoError(t, err)
		require.NotContains(t, []rivertype.JobState{rivertype.JobStateDiscarded, rivertype.JobStateCancelled}, j.State, "%v", j.Errors)
		return j.State == rivertype.JobStateCompleted
	})
}

// waitAgent waits until the issue's first cycle is in its agent step.
func waitAgent(t *testing.T, st *stack.Stack, repo string, issue int) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "the cycle in its agent", func() bool {
		run, err := store.FindRun(ctx, st.Server.Pool, st.Owner+"/"+repo, issue)
		if err != nil {
			return false
		}
		evs, err := store.ListEvents(ctx, st.Server.Pool, run.ID, 0, 1000)
		require.NoError(t, err)
		for _, e := range evs {
			if e.Step == "implement" && e.Outcome == "started" {
				return true
			}
		}
		return false
	})
}
