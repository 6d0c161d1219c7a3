package emulator

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// TestCommitFromPath pins commitFromPath for each endpoint with a {ref} in
// its path: a branch or SHA answers, a ref that names no commit is GitHub's
// 422 "No commit found for SHA: <ref>".
func TestCommitFromPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	main, _, err := b.maintainer.Repositories.GetBranch(ctx, "acme", "widgets", "main", 0)
	require.NoError(t, err)
	endpoints := map[string]func(ref string) (*github.Response, error){
		"GET .../commits/{ref}": func(ref string) (*github.Response, error) {
			_, resp, err := b.app.Repositories.GetCommit(ctx, "acme", "widgets", ref, nil)
			return resp, err
		},
		"GET .../commits/{ref}/check-runs": func(ref string) (*github.Response, error) {
			_, resp, err := b.app.Checks.ListCheckRunsForRef(ctx, "acme", "widgets", ref, nil)
			return resp, err
		},
		"GET .../commits/{ref}/check-suites": func(ref string) (*github.Response, error) {
			_, resp, err := b.app.Checks.ListCheckSuitesForRef(ctx, "acme", "widgets", ref, nil)
			return resp, err
		},
	}
	for name, call := range endpoints {
		for _, tc := range []struct {
			ref     string
			status  int
			message string
		}{
			{"main", http.StatusOK, ""},
			{main.GetCommit().GetSHA(), http.StatusOK, ""},
			{"no-such-branch", http.StatusUnprocessableEntity, "No commit found for SHA: no-such-branch"},
		} {
			t.Run(name+" "+tc.ref, func(t *testing.T) {
				resp, err := call(tc.ref)
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
}
