package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// Reviews, review comments and replies speak GitHub's REST shapes and fire
// the webhooks GitHub fires.
func TestReviews(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.pushBranch(t, "feature", map[string]string{"new.txt": "one\ntwo\nthree\n"})
	pr, _, err := b.app.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("main")})
	require.NoError(t, err)
	n := pr.GetNumber()

	rv, _, err := b.maintainer.PullRequests.CreateReview(ctx, "acme", "widgets", n, &github.PullRequestReviewRequest{
		Event: github.String("REQUEST_CHANGES"), Body: github.String("Needs work."),
		Comments: []*github.DraftReviewComment{{Path: github.String("new.txt"), Line: github.Int(2), Side: github.String("RIGHT"), Body: github.String("Why two?")}},
	})
	require.NoError(t, err)
	require.Equal(t, "CHANGES_REQUESTED", rv.GetState())
	require.Equal(t, pr.GetHead().GetSHA(), rv.GetCommitID())

	comments, _, err := b.reader.PullRequests.ListComments(ctx, "acme", "widgets", n, nil)
	require.NoError(t, err)
	require.Len(t, comments, 1)
	c := comments[0]
	require.Equal(t, "new.txt", c.GetPath())
	require.Equal(t, 2, c.GetLine())
	require.Equal(t, "@@ -0,0 +1,3 @@\n+one\n+two", c.GetDiffHunk(), "the hunk down to the commented line")
	require.Equal(t, rv.GetID(), c.GetPullRequestReviewID())
	require.Nil(t, c.InReplyTo)

	// A line outside the diff is refused, as GitHub does.
	_, resp, err := b.maintainer.PullRequests.CreateReview(ctx, "acme", "widgets", n, &github.PullRequestReviewRequest{
		Event:    github.String("COMMENT"),
		Comments: []*github.DraftReviewComment{{Path: github.String("README.md"), Line: github.Int(1), Body: github.String("x")}},
	})
	require.Error(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

	// Replies, in both of GitHub's forms, thread on the first comment.
	r1, _, err := b.app.PullRequests.CreateCommentInReplyTo(ctx, "acme", "widgets", n, "Fixed in abc.", c.GetID())
	require.NoError(t, err)
	require.Equal(t, c.GetID(), r1.GetInReplyTo())
	require.Equal(t, "specloop[bot]", r1.GetUser().GetLogin())
	req, err := b.maintainer.NewRequest("POST", fmt.Sprintf("repos/acme/widgets/pulls/%d/comments/%d/replies", n, r1.GetID()), map[string]string{"body": "Thanks"})
	require.NoError(t, err)
	r2 := &github.PullRequestComment{}
	resp, err = b.maintainer.Do(ctx, req, r2)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, c.GetID(), r2.GetInReplyTo())

	reviews, _, err := b.reader.PullRequests.ListReviews(ctx, "acme", "widgets", n, nil)
	require.NoError(t, err)
	require.Equal(t, "CHANGES_REQUESTED", reviews[0].GetState())

	b.drain(t)
	sub := b.hooks.events("pull_request_review", "submitted")
	require.Len(t, sub, 1)
	var ev struct {
		Review      struct{ State string }
		PullRequest struct{ Number int } `json:"pull_request"`
		Sender      struct{ Login string }
	}
	require.NoError(t, json.Unmarshal(sub[0].body, &ev))
	require.Equal(t, "changes_requested", ev.Review.State, "webhooks spell the state in lower case")
	require.Equal(t, n, ev.PullRequest.Number)
	require.Equal(t, "maintainer", ev.Sender.Login)
	require.Len(t, b.hooks.events("pull_request_review_comment", "created"), 3, "the review's comment and both replies")
}

// A CI app's suite: check_suite.completed with the suite's app, its PR and
// conclusion; its runs and annotations read back through REST.
func TestCISuites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	sha := b.pushBranch(t, "feature", map[string]string{"new.txt": "x\n"})
	pr, _, err := b.app.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("main")})
	require.NoError(t, err)
	id, err := b.s.CompleteSuite("acme", "widgets", "feature", sha, []SuiteRun{
		{Name: "test", Conclusion: "failure", Title: "1 failed", Summary: "TestX", Text: "--- FAIL: TestX",
			Annotations: []*github.CheckRunAnnotation{{Path: github.String("x_test.go"), StartLine: github.Int(3), EndLine: github.Int(3),
				AnnotationLevel: github.String("failure"), Message: github.String("want 1")}}},
		{Name: "lint", Conclusion: "success"},
	})
	require.NoError(t, err)

	suites, _, err := b.app.Checks.ListCheckSuitesForRef(ctx, "acme", "widgets", sha, nil)
	require.NoError(t, err)
	require.Equal(t, 1, suites.GetTotal())
	require.Equal(t, "failure", suites.CheckSuites[0].GetConclusion())
	require.Equal(t, "ci", suites.CheckSuites[0].GetApp().GetSlug())
	runs, _, err := b.app.Checks.ListCheckRunsCheckSuite(ctx, "acme", "widgets", id, nil)
	require.NoError(t, err)
	require.Equal(t, 2, runs.GetTotal())
	require.Equal(t, "--- FAIL: TestX", runs.CheckRuns[0].GetOutput().GetText())
	anns, _, err := b.app.Checks.ListCheckRunAnnotations(ctx, "acme", "widgets", runs.CheckRuns[0].GetID(), nil)
	require.NoError(t, err)
	require.Len(t, anns, 1)
	require.Equal(t, "want 1", anns[0].GetMessage())

	b.drain(t)
	got := b.hooks.events("check_suite", "completed")
	require.Len(t, got, 1)
	var ev struct {
		CheckSuite struct {
			ID           int64
			Conclusion   string
			HeadSHA      string `json:"head_sha"`
			App          struct{ Slug string }
			PullRequests []struct{ Number int } `json:"pull_requests"`
		} `json:"check_suite"`
	}
	require.NoError(t, json.Unmarshal(got[0].body, &ev))
	require.Equal(t, id, ev.CheckSuite.ID)
	require.Equal(t, "failure", ev.CheckSuite.Conclusion)
	require.Equal(t, sha, ev.CheckSuite.HeadSHA)
	require.Equal(t, "ci", ev.CheckSuite.App.Slug)
	require.Equal(t, pr.GetNumber(), ev.CheckSuite.PullRequests[0].Number)
}

// Both review lists hold only their pull request's items, oldest first,
// and page like every other list.
func TestReviewListsOfOnePull(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	prs := map[string]int{}
	for _, br := range []string{"one", "two"} {
		b.pushBranch(t, br, map[string]string{br + ".txt": "a\nb\nc\n"})
		pr, _, err := b.app.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{Title: github.String(br), Head: github.String(br), Base: github.String("main")})
		require.NoError(t, err)
		prs[br] = pr.GetNumber()
	}
	// Interleaved, so that ids of the two pull requests alternate.
	for i, body := range []string{"first", "second", "third"} {
		for br, n := range prs {
			_, _, err := b.maintainer.PullRequests.CreateReview(ctx, "acme", "widgets", n, &github.PullRequestReviewRequest{
				Event: github.String("COMMENT"), Body: github.String(br + " " + body),
				Comments: []*github.DraftReviewComment{{Path: github.String(br + ".txt"), Line: github.Int(i + 1), Body: github.String(br + " line " + body)}},
			})
			require.NoError(t, err)
		}
	}
	n := prs["one"]
	for _, tc := range []struct {
		name string
		list func(opts *github.ListOptions) ([]string, *github.Response, error)
		all  []string
	}{
		{"reviews", func(opts *github.ListOptions) ([]string, *github.Response, error) {
			list, resp, err := b.reader.PullRequests.ListReviews(ctx, "acme", "widgets", n, opts)
			var out []string
			for _, rv := range list {
				out = append(out, rv.GetBody())
			}
			return out, resp, err
		}, []string{"one first", "one second", "one third"}},
		{"review comments", func(opts *github.ListOptions) ([]string, *github.Response, error) {
			list, resp, err := b.reader.PullRequests.ListComments(ctx, "acme", "widgets", n, &github.PullRequestListCommentsOptions{ListOptions: *opts})
			var out []string
			for _, c := range list {
				out = append(out, c.GetBody())
			}
			return out, resp, err
		}, []string{"one line first", "one line second", "one line third"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := tc.list(&github.ListOptions{})
			require.NoError(t, err)
			require.Equal(t, tc.all, got)

			var paged []string
			opts := &github.ListOptions{PerPage: 2}
			for {
				page, resp, err := tc.list(opts)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page), 2)
				paged = append(paged, page...)
				if resp.NextPage == 0 {
					break
				}
				opts.Page = resp.NextPage
			}
			require.Equal(t, tc.all, paged, "the pages together are the whole list")
		})
	}
	require.Empty(t, b.s.ReviewComments("acme", "widgets", 999), "a pull request with none")
	require.Len(t, b.s.ReviewComments("acme", "widgets", prs["two"]), 3)
}
