package emulator

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

func TestPulls(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	sha := b.pushBranch(t, "specloop/issue-1", map[string]string{"new.txt": "hi\n"})

	// An issue first, so the PR shows the shared number sequence.
	_, _, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("spec")})
	require.NoError(t, err)

	pr, resp, err := b.app.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{
		Title: github.String("Cycle 1"), Head: github.String("specloop/issue-1"), Base: github.String("main"),
		Body: github.String("Closes #1"), Draft: github.Bool(true),
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, 2, pr.GetNumber())
	require.True(t, pr.GetDraft())
	require.Equal(t, sha, pr.GetHead().GetSHA())
	require.Equal(t, "specloop[bot]", pr.GetUser().GetLogin())

	_, resp, err = b.app.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{
		Title: github.String("again"), Head: github.String("acme:specloop/issue-1"), Base: github.String("main"),
	})
	require.Error(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, err.Error(), "A pull request already exists for acme:specloop/issue-1.")

	_, resp, err = b.app.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{
		Title: github.String("ghost"), Head: github.String("nope"), Base: github.String("main"),
	})
	require.Error(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, err.Error(), "Validation Failed")

	list, _, err := b.app.PullRequests.List(ctx, "acme", "widgets", &github.PullRequestListOptions{Head: "acme:specloop/issue-1", State: "open"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, _, err = b.app.PullRequests.List(ctx, "acme", "widgets", &github.PullRequestListOptions{Head: "acme:other"})
	require.NoError(t, err)
	require.Empty(t, list)

	// A comment on the PR is an issue_comment whose issue has pull_request.
	_, _, err = b.maintainer.Issues.CreateComment(ctx, "acme", "widgets", 2, &github.IssueComment{Body: github.String("/loop next")})
	require.NoError(t, err)

	upd, _, err := b.app.PullRequests.Edit(ctx, "acme", "widgets", 2, &github.PullRequest{Title: github.String("Cycle 2"), Body: github.String("b")})
	require.NoError(t, err)
	require.Equal(t, "Cycle 2", upd.GetTitle())

	// The maintainer closes it.
	closed, _, err := b.maintainer.PullRequests.Edit(ctx, "acme", "widgets", 2, &github.PullRequest{State: github.String("closed")})
	require.NoError(t, err)
	require.Equal(t, "closed", closed.GetState())
	// A reader may not reopen someone else's PR.
	_, resp, err = b.reader.PullRequests.Edit(ctx, "acme", "widgets", 2, &github.PullRequest{State: github.String("open")})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	got, _, err := b.reader.PullRequests.Get(ctx, "acme", "widgets", 2)
	require.NoError(t, err)
	require.Equal(t, "closed", got.GetState())
	require.Len(t, b.s.PullRequests("acme", "widgets"), 1)

	b.drain(t)
	cm := b.hooks.events("issue_comment", "created")
	require.Len(t, cm, 1)
	var ce github.IssueCommentEvent
	require.NoError(t, jsonUnmarshal(cm[0].body, &ce))
	require.NotNil(t, ce.GetIssue().PullRequestLinks)
	require.Len(t, b.hooks.events("pull_request", "opened"), 1)
	cl := b.hooks.events("pull_request", "closed")
	require.Len(t, cl, 1)
	var pe github.PullRequestEvent
	require.NoError(t, jsonUnmarshal(cl[0].body, &pe))
	require.Equal(t, "maintainer", pe.GetSender().GetLogin())
	require.Equal(t, 2, pe.GetNumber())
}

func TestMarkFork(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.pushBranch(t, "feature", map[string]string{"f.txt": "f\n"})
	pr, _, err := b.maintainer.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{
		Title: github.String("from a fork"), Head: github.String("feature"), Base: github.String("main"),
	})
	require.NoError(t, err)
	require.Equal(t, "acme/widgets", pr.GetHead().GetRepo().GetFullName(), "a branch of the repo itself")

	require.NoError(t, b.s.MarkFork("acme", "widgets", pr.GetNumber(), "mallory"))
	got, _, err := b.maintainer.PullRequests.Get(ctx, "acme", "widgets", pr.GetNumber())
	require.NoError(t, err)
	require.Equal(t, "mallory/widgets", got.GetHead().GetRepo().GetFullName())
	require.True(t, got.GetHead().GetRepo().GetFork())
	require.Equal(t, "mallory:feature", got.GetHead().GetLabel())
	require.Equal(t, "mallory", got.GetHead().GetUser().GetLogin())
	require.Equal(t, "acme/widgets", got.GetBase().GetRepo().GetFullName(), "the base stays the repo")

	require.Error(t, b.s.MarkFork("acme", "widgets", 99, "mallory"))
}
