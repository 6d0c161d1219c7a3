package emulator

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// TestAuthorOrRoleMayChange pins who may edit or delete what someone wrote
// (authorOrLocked): the author always may; anyone else needs the role
// GitHub asks for, or gets 403 with GitHub's message.
func TestAuthorOrRoleMayChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.pushBranch(t, "specloop/issue-1", map[string]string{"new.txt": "hi\n"})
	mine, _, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("maintainer's")})
	require.NoError(t, err)
	theirs, _, err := b.reader.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("reader's")})
	require.NoError(t, err)
	pr, _, err := b.app.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{
		Title: github.String("Cycle 1"), Head: github.String("specloop/issue-1"), Base: github.String("main"),
	})
	require.NoError(t, err)
	comment := func(c *github.Client, body string) int64 {
		cm, _, err := c.Issues.CreateComment(ctx, "acme", "widgets", mine.GetNumber(), &github.IssueComment{Body: github.String(body)})
		require.NoError(t, err)
		return cm.GetID()
	}

	for _, tc := range []struct {
		name    string
		change  func() (*github.Response, error)
		status  int
		message string
	}{
		{"a reader edits another's issue", func() (*github.Response, error) {
			_, resp, err := b.reader.Issues.Edit(ctx, "acme", "widgets", mine.GetNumber(), &github.IssueRequest{Title: github.String("x")})
			return resp, err
		}, http.StatusForbidden, "Must have triage access to edit this issue"},
		{"a reader edits their own issue", func() (*github.Response, error) {
			_, resp, err := b.reader.Issues.Edit(ctx, "acme", "widgets", theirs.GetNumber(), &github.IssueRequest{Title: github.String("x")})
			return resp, err
		}, http.StatusOK, ""},
		{"an admin edits another's issue", func() (*github.Response, error) {
			_, resp, err := b.maintainer.Issues.Edit(ctx, "acme", "widgets", theirs.GetNumber(), &github.IssueRequest{Title: github.String("y")})
			return resp, err
		}, http.StatusOK, ""},
		{"a reader edits another's comment", func() (*github.Response, error) {
			_, resp, err := b.reader.Issues.EditComment(ctx, "acme", "widgets", comment(b.maintainer, "a"), &github.IssueComment{Body: github.String("x")})
			return resp, err
		}, http.StatusForbidden, "Must have write access to edit this comment"},
		{"a reader edits their own comment", func() (*github.Response, error) {
			_, resp, err := b.reader.Issues.EditComment(ctx, "acme", "widgets", comment(b.reader, "a"), &github.IssueComment{Body: github.String("x")})
			return resp, err
		}, http.StatusOK, ""},
		{"a reader deletes another's comment", func() (*github.Response, error) {
			return b.reader.Issues.DeleteComment(ctx, "acme", "widgets", comment(b.maintainer, "a"))
		}, http.StatusForbidden, "Must have write access to delete this comment"},
		{"a reader deletes their own comment", func() (*github.Response, error) {
			return b.reader.Issues.DeleteComment(ctx, "acme", "widgets", comment(b.reader, "a"))
		}, http.StatusNoContent, ""},
		{"an admin deletes another's comment", func() (*github.Response, error) {
			return b.maintainer.Issues.DeleteComment(ctx, "acme", "widgets", comment(b.reader, "a"))
		}, http.StatusNoContent, ""},
		{"a reader edits another's pull request", func() (*github.Response, error) {
			_, resp, err := b.reader.PullRequests.Edit(ctx, "acme", "widgets", pr.GetNumber(), &github.PullRequest{Title: github.String("x")})
			return resp, err
		}, http.StatusForbidden, "Must have push access to edit this pull request"},
		{"the app edits its own pull request", func() (*github.Response, error) {
			_, resp, err := b.app.PullRequests.Edit(ctx, "acme", "widgets", pr.GetNumber(), &github.PullRequest{Title: github.String("x")})
			return resp, err
		}, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.change()
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.message == "" {
				require.NoError(t, err)
				return
			}
			var ge *github.ErrorResponse
			require.True(t, errors.As(err, &ge), "%v", err)
			require.Equal(t, tc.message, ge.Message)
		})
	}
}
