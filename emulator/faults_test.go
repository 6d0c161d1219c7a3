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
		_, err := b.s.Inject(Fault{Method: "POST", Path: "/repos/{owner}/{repo}/check-runs", Count: 1, Status: status})
		require.NoError(t, err)
		resp, err := create()
		require.Error(t, err)
		require.Equal(t, status, resp.StatusCode)
		// Count 1: the next call goes through.
		_, err = create()
		require.NoError(t, err)
	}

	_, err = b.s.Inject(Fault{Path: "/repos/{owner}/{repo}/check-runs", Count: 1, Status: http.StatusForbidden, RetryAfter: 7 * time.Second})
	require.NoError(t, err)
	resp, err := create()
	var abuse *github.AbuseRateLimitError
	require.ErrorAs(t, err, &abuse)
	require.Equal(t, 7*time.Second, abuse.GetRetryAfter())
	require.Equal(t, "7", resp.Header.Get("Retry-After"))

	// go-github now refuses calls until Retry-After passes; use another client.
	app := clientFor(t, b.url, nil).WithAuthToken(b.appToken(t))

	// A hang lasts until the client gives up.
	remove, err := b.s.Inject(Fault{Path: "/repos/{owner}/{repo}", Hang: true})
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = app.Repositories.Get(short, "acme", "widgets")
	require.True(t, errors.Is(err, context.DeadlineExceeded), err)
	require.Less(t, time.Since(start), 5*time.Second)
	remove()
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
