package jobs

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// crashAfterPush is what the test's afterPush panics with: the worker
// dies right after its push landed, before the PR, check runs and tick.
type crashAfterPush struct{}

// dieAfterPush works cycle c on a worker that dies right after its push
// landed, before the PR, check runs and tick, and returns the pushed
// commit (the branch's head), the dead attempt's fence, and the count of
// pushes, so far and to come.
func (h *harness) dieAfterPush(c *store.Cycle, branch string) (string, int64, *atomic.Int32) {
	h.t.Helper()
	pushes := &atomic.Int32{}
	h.d.afterPush = func(context.Context, string) {
		if pushes.Add(1) == 1 {
			panic(crashAfterPush{})
		}
	}
	// River's recovery of the panic is not the point, what it left behind
	// is.
	_, _ = work(h, h.cycleW(), CycleArgs{CycleID: c.ID})
	require.EqualValues(h.t, 1, pushes.Load())
	dead := h.cycle(c.ID)
	require.Equal(h.t, state.CycleRunning, dead.State, "the dead worker concluded nothing")
	pushed, err := h.ref(branch)
	require.NoError(h.t, err)
	return pushed, dead.Fence, pushes
}

// takeOver lets the dead attempt's lease run out and runs the reaper's
// takeover job; the cycle must conclude success without a second push.
func (h *harness) takeOver(c *store.Cycle, fence int64, pushes *atomic.Int32) *store.Cycle {
	h.t.Helper()
	_, err := h.pool.Exec(h.ctx, `UPDATE cycles SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, c.ID)
	require.NoError(h.t, err)
	mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID, Takeover: fence})
	require.EqualValues(h.t, 1, pushes.Load(), "pushed once")
	got := h.cycle(c.ID)
	require.Equal(h.t, state.CycleDone, got.State)
	require.Equal(h.t, state.Success, got.Conclusion, got.Summary)
	return got
}

// TestCycleTakeoverAfterPush: a worker that dies right after its cycle's
// push is taken over, and the taker finishes that publish rather than
// running the agent again: the maintainer sees one push, one PR, the
// cycle's checks completed on the pushed commit, the obligation ticked and
// the cycle concluded success.
func TestCycleTakeoverAfterPush(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		issue bool
	}{
		{name: "issue run", issue: true},
		{name: "spec run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var run *store.Run
			var h *harness
			issue := 0
			if tc.issue {
				h = newHarness(t, map[string]string{repoconfig.Path: passingConfig})
				issue = h.createIssue("Widgets", widgetsSpec)
				run = h.issueRun(issue)
			} else {
				h = newHarness(t, specRepo(passingConfig))
				run = h.specRun("specs/widgets.md", widgetsBranch)
			}
			c := h.queued(run.ID, "label")
			pushed, fence, pushes := h.dieAfterPush(c, run.Branch)
			require.Empty(t, h.emu.PullRequests(testOwner, testRepo), "the dead worker opened no PR")
			require.Empty(t, h.checksByName(pushed))

			got := h.takeOver(c, fence, pushes)
			require.Equal(t, "w-1", got.ObligationID)
			head, err := h.ref(run.Branch)
			require.NoError(t, err)
			require.Equal(t, pushed, head, "the branch is where the dead worker pushed it")
			require.Equal(t, "built\n", h.fileAt("built.txt", head), "the agent ran once")
			prs := h.emu.PullRequests(testOwner, testRepo)
			require.Len(t, prs, 1)
			require.Equal(t, prs[0].GetNumber(), h.run(run.ID).PR)
			require.Contains(t, prs[0].GetBody(), "**success** (this push)")
			checks := h.checksByName(head)
			require.Len(t, checks, 3)
			for name, cr := range checks {
				require.Equal(t, "completed", cr.GetStatus(), name)
				require.Equal(t, string(state.Success), cr.GetConclusion(), name)
				require.Contains(t, cr.GetOutput().GetSummary(), resumedTakeover, name)
			}
			h.requireAllChecksCompleted(c.ID)
			if tc.issue {
				body := h.emu.Issue(testOwner, testRepo, issue).GetBody()
				require.Contains(t, body, "- [x] [w-1] Build the widget")
				require.Contains(t, body, "- [ ] [w-2] Paint the widget")
			} else {
				require.True(t, strings.Contains(h.fileAt("specs/widgets.md", head), "- [x] [w-1] Build the widget"))
			}
		})
	}
}

// TestReviewFixTakeoverAfterPush: a review fix cycle whose worker dies
// right after its push is finished by the taker with the replies the dead
// worker owed, each once: "Addressed in <sha>" in every thread and on the
// PR for the review's body, none posted again that the dead worker had
// posted before it died.
func TestReviewFixTakeoverAfterPush(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// answeredThreads of the review's threads (in order), and the
		// review's body if answeredReview, were replied to before the
		// worker died.
		answeredThreads int
		answeredReview  bool
	}{
		{name: "died right after the push"},
		{name: "died after answering the first thread", answeredThreads: 1},
		{name: "died after answering everything", answeredThreads: 2, answeredReview: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, map[string]string{repoconfig.Path: passingConfig})
			_, run := h.issueCycle()
			pr := run.PR
			require.NotZero(t, pr)

			_, _, err := h.maintainer.PullRequests.CreateReview(h.ctx, testOwner, testRepo, pr, &github.PullRequestReviewRequest{
				Event: github.String("REQUEST_CHANGES"), Body: github.String("Please also paint it."),
				Comments: []*github.DraftReviewComment{
					{Path: github.String("built.txt"), Line: github.Int(1), Side: github.String("RIGHT"), Body: github.String("Say what was built.")},
					{Path: github.String("built.txt"), Line: github.Int(1), Side: github.String("RIGHT"), Body: github.String("And when.")},
				},
			})
			require.NoError(t, err)
			var roots []int64
			for _, c := range h.emu.ReviewComments(testOwner, testRepo, pr) {
				roots = append(roots, c.GetID())
			}
			require.Len(t, roots, 2)

			fix := h.queued(run.ID, "review")
			require.NoError(t, store.SetCycleFix(h.ctx, h.pool, fix.ID, store.Fix{Source: agent.FixReview, From: "the reviewers with write access"}))
			pushed, fence, pushes := h.dieAfterPush(fix, run.Branch)
			addressed := fmt.Sprintf("Addressed in %s (specloop cycle %d).", pushed, fix.ID)
			reviewReply := "The review of @maintainer: " + addressed
			bot := h.gh.Installation(h.inst)
			for _, root := range roots[:tc.answeredThreads] {
				_, _, err := bot.PullRequests.CreateCommentInReplyTo(h.ctx, testOwner, testRepo, pr, addressed, root)
				require.NoError(t, err)
			}
			if tc.answeredReview {
				_, _, err := bot.Issues.CreateComment(h.ctx, testOwner, testRepo, pr, &github.IssueComment{Body: &reviewReply})
				require.NoError(t, err)
			}

			h.takeOver(fix, fence, pushes)
			replies := map[int64][]string{}
			for _, c := range h.emu.ReviewComments(testOwner, testRepo, pr) {
				if c.GetUser().GetLogin() == botLogin {
					replies[c.GetInReplyTo()] = append(replies[c.GetInReplyTo()], c.GetBody())
				}
			}
			for _, root := range roots {
				require.Equal(t, []string{addressed}, replies[root], "thread %d is answered once, naming the pushed commit", root)
			}
			var onPR int
			for _, body := range h.botComments(pr) {
				if body == reviewReply {
					onPR++
				}
			}
			require.Equal(t, 1, onPR, "the review's body is answered once on the PR")
		})
	}
}
