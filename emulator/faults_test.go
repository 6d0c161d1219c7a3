package emulator

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	sha, err := b.s.Ref("acme", "widgets", "main")
	require.NoError(t, err)
	create := func() (*github.Response, error) {
		_, resp, err := b.app.Checks.CreateCheckRun(ctx, "acme", "widgets", github.CreateCheckRunOptions{Name: "c", HeadSHA: sha})
		return resp, err
	}

	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway} {
		f, err := b.s.Inject(Fault{Method: "POST", Path: "/repos/{owner}/{repo}/check-runs", Count: 1, Status: status})
		require.NoError(t, err)
		require.Zero(t, f.Fired())
		resp, err := create()
		require.Error(t, err)
		require.Equal(t, status, resp.StatusCode)
		require.Equal(t, 1, f.Fired())
		// Count 1: the next call goes through.
		_, err = create()
		require.NoError(t, err)
		require.Equal(t, 1, f.Fired(), "a used-up fault fires no more")
	}

	// Login: only the app's comment fails; the maintainer's on the same
	// path goes through.
	botOnly, err := b.s.Inject(Fault{Method: "POST", Path: "/repos/{owner}/{repo}/issues/{n}/comments", Login: "specloop[bot]", Status: http.StatusBadGateway})
	require.NoError(t, err)
	issue, _, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("faults")})
	require.NoError(t, err)
	body := &github.IssueComment{Body: github.String("hello")}
	_, _, err = b.maintainer.Issues.CreateComment(ctx, "acme", "widgets", issue.GetNumber(), body)
	require.NoError(t, err, "the maintainer's comment is not the fault's")
	require.Zero(t, botOnly.Fired())
	_, resp, err := b.app.Issues.CreateComment(ctx, "acme", "widgets", issue.GetNumber(), body)
	require.Error(t, err)
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Equal(t, 1, botOnly.Fired())
	botOnly.Remove()
	_, _, err = b.app.Issues.CreateComment(ctx, "acme", "widgets", issue.GetNumber(), body)
	require.NoError(t, err, "removed")
	require.Equal(t, 1, botOnly.Fired())

	_, err = b.s.Inject(Fault{Path: "/repos/{owner}/{repo}/check-runs", Count: 1, Status: http.StatusForbidden, RetryAfter: 7 * time.Second})
	require.NoError(t, err)
	resp, err = create()
	var abuse *github.AbuseRateLimitError
	require.ErrorAs(t, err, &abuse)
	require.Equal(t, 7*time.Second, abuse.GetRetryAfter())
	require.Equal(t, "7", resp.Header.Get("Retry-After"))

	// go-github now refuses calls until Retry-After passes; use another client.
	app := clientFor(t, b.url, nil).WithAuthToken(b.appToken(t))

	// A hang lasts until the client gives up.
	hang, err := b.s.Inject(Fault{Path: "/repos/{owner}/{repo}", Hang: true})
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = app.Repositories.Get(short, "acme", "widgets")
	require.True(t, errors.Is(err, context.DeadlineExceeded), err)
	require.Less(t, time.Since(start), 5*time.Second)
	hang.Remove()
	_, _, err = app.Repositories.Get(ctx, "acme", "widgets")
	require.NoError(t, err)

	// Or for HangFor, then answers.
	_, err = b.s.Inject(Fault{Path: "/repos/{owner}/{repo}", Count: 1, Hang: true, HangFor: 50 * time.Millisecond, Status: http.StatusBadGateway})
	require.NoError(t, err)
	_, resp, err = app.Repositories.Get(ctx, "acme", "widgets")
	require.Error(t, err)
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)

	// Git paths can fail too.
	_, err = b.s.Inject(Fault{Path: "/{owner}/{repo}.git/info/refs", Count: 1, Status: http.StatusServiceUnavailable})
	require.NoError(t, err)
	out, err := gitErr(t.TempDir(), "clone", "-q", b.remote("", ""), "w")
	require.Error(t, err, out)
}
