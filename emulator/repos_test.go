package emulator

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

func TestContentsAndRefs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	f, dir, _, err := b.app.Repositories.GetContents(ctx, "acme", "widgets", "specs/a.md", nil)
	require.NoError(t, err)
	require.Nil(t, dir)
	body, err := f.GetContent()
	require.NoError(t, err)
	require.Equal(t, "- [ ] one\n- [ ] two\n", body)

	_, dir, _, err = b.app.Repositories.GetContents(ctx, "acme", "widgets", "specs", nil)
	require.NoError(t, err)
	require.Len(t, dir, 1)
	require.Equal(t, "specs/a.md", dir[0].GetPath())
	_, dir, _, err = b.app.Repositories.GetContents(ctx, "acme", "widgets", "", nil)
	require.NoError(t, err)
	require.Len(t, dir, 2)

	_, _, resp, err := b.app.Repositories.GetContents(ctx, "acme", "widgets", "missing.md", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	sha := b.pushBranch(t, "feature", map[string]string{"specs/a.md": "- [x] one\n- [ ] two\n"})
	f, _, _, err = b.app.Repositories.GetContents(ctx, "acme", "widgets", "specs/a.md", &github.RepositoryContentGetOptions{Ref: "feature"})
	require.NoError(t, err)
	body, _ = f.GetContent()
	require.Equal(t, "- [x] one\n- [ ] two\n", body)

	ref, _, err := b.app.Git.GetRef(ctx, "acme", "widgets", "heads/feature")
	require.NoError(t, err)
	require.Equal(t, "refs/heads/feature", ref.GetRef())
	require.Equal(t, sha, ref.GetObject().GetSHA())
	_, resp, err = b.app.Git.GetRef(ctx, "acme", "widgets", "heads/nope")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	refs, _, err := b.app.Git.ListMatchingRefs(ctx, "acme", "widgets", &github.ReferenceListOptions{Ref: "heads/"})
	require.NoError(t, err)
	require.Len(t, refs, 2)

	c, _, err := b.app.Repositories.GetCommit(ctx, "acme", "widgets", "feature", nil)
	require.NoError(t, err)
	require.Equal(t, sha, c.GetSHA())
	require.Equal(t, "change on feature", c.GetCommit().GetMessage())
	br, _, err := b.app.Repositories.GetBranch(ctx, "acme", "widgets", "feature", 0)
	require.NoError(t, err)
	require.Equal(t, sha, br.GetCommit().GetSHA())
}
