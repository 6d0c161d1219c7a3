package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
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
			requireAnswer(t, resp, err, tc.status, tc.message)
		})
	}
}

// requireAnswer requires GitHub's answer to a go-github call: its status,
// and its error message when there should be one (none: the call worked).
func requireAnswer(t *testing.T, resp *github.Response, err error, status int, message string) {
	t.Helper()
	require.Equal(t, status, resp.StatusCode)
	if message == "" {
		require.NoError(t, err)
		return
	}
	var ge *github.ErrorResponse
	require.True(t, errors.As(err, &ge), "%v", err)
	require.Equal(t, message, ge.Message)
}

// TestAccessBeforeBody pins accessBody: the caller's access to the repo is
// checked before its JSON body is read, so a repo it may not see is 404 and
// one it may not change is 403 whatever it sent; only then is a broken body
// 400 "Problems parsing JSON".
func TestAccessBeforeBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		message                   string
	}{
		{"an unknown repo", http.MethodPost, "/repos/acme/nope/issues", b.mtoken, http.StatusNotFound, "Not Found"},
		{"a reader labels", http.MethodPost, "/repos/acme/widgets/issues/1/labels", b.rtoken, http.StatusForbidden, "Must have push access to repository"},
		{"a maintainer's broken issue", http.MethodPost, "/repos/acme/widgets/issues", b.mtoken, http.StatusBadRequest, "Problems parsing JSON"},
		{"a maintainer's broken labels", http.MethodPost, "/repos/acme/widgets/issues/1/labels", b.mtoken, http.StatusBadRequest, "Problems parsing JSON"},
		{"a reader's broken pull request", http.MethodPost, "/repos/acme/widgets/pulls", b.rtoken, http.StatusBadRequest, "Problems parsing JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, b.url+tc.path, strings.NewReader("{not json"))
			require.NoError(t, err)
			req.Header.Set("Authorization", "token "+tc.token)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			var got struct {
				Message string `json:"message"`
			}
			require.NoError(t, json.NewDecoder(res.Body).Decode(&got))
			require.Equal(t, tc.status, res.StatusCode)
			require.Equal(t, tc.message, got.Message)
		})
	}
}
