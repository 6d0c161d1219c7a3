package emulator

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// TestCommitFromPath pins commitFromPath for each endpoint with a {ref} in
// its path: a branch or SHA answers, a ref that names no commit is GitHub's
// 422 "No commit found for SHA: <ref>", and a repo there is none of is 404
// whatever the ref.
func TestCommitFromPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	main, _, err := b.maintainer.Repositories.GetBranch(ctx, "acme", "widgets", "main", 0)
	require.NoError(t, err)
	endpoints := map[string]func(repo, ref string) (*github.Response, error){
		"GET .../commits/{ref}": func(repo, ref string) (*github.Response, error) {
			_, resp, err := b.app.Repositories.GetCommit(ctx, "acme", repo, ref, nil)
			return resp, err
		},
		"GET .../commits/{ref}/check-runs": func(repo, ref string) (*github.Response, error) {
			_, resp, err := b.app.Checks.ListCheckRunsForRef(ctx, "acme", repo, ref, nil)
			return resp, err
		},
		"GET .../commits/{ref}/check-suites": func(repo, ref string) (*github.Response, error) {
			_, resp, err := b.app.Checks.ListCheckSuitesForRef(ctx, "acme", repo, ref, nil)
			return resp, err
		},
	}
	for name, call := range endpoints {
		for _, tc := range []struct {
			repo, ref string
			status    int
			message   string
		}{
			{"widgets", "main", http.StatusOK, ""},
			{"widgets", main.GetCommit().GetSHA(), http.StatusOK, ""},
			{"widgets", "no-such-branch", http.StatusUnprocessableEntity, "No commit found for SHA: no-such-branch"},
			{"nope", "main", http.StatusNotFound, "Not Found"},
		} {
			t.Run(name+" "+tc.repo+" "+tc.ref, func(t *testing.T) {
				resp, err := call(tc.repo, tc.ref)
				requireAnswer(t, resp, err, tc.status, tc.message)
			})
		}
	}
}
