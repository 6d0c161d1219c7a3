package emulator

import (
	"context"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// TestReadOutsOfAnUnknownRepo pins inRepo: the read-outs tests ask for
// answer nil for a repo that does not exist, and what is there for one
// that does.
func TestReadOutsOfAnUnknownRepo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, _, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("t")})
	require.NoError(t, err)
	cm, _, err := b.maintainer.Issues.CreateComment(ctx, "acme", "widgets", 1, &github.IssueComment{Body: github.String("hi")})
	require.NoError(t, err)
	_, _, err = b.maintainer.Reactions.CreateIssueCommentReaction(ctx, "acme", "widgets", cm.GetID(), "+1")
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		count func(owner, repo string) (n int, isNil bool)
		want  int
	}{
		{"IssueComments", func(o, r string) (int, bool) { l := b.s.IssueComments(o, r, 1); return len(l), l == nil }, 1},
		{"Reactions", func(o, r string) (int, bool) { l := b.s.Reactions(o, r, cm.GetID()); return len(l), l == nil }, 1},
		{"ReviewComments", func(o, r string) (int, bool) { l := b.s.ReviewComments(o, r, 1); return len(l), l == nil }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, isNil := tc.count("acme", "nope")
			require.True(t, isNil)
			require.Zero(t, n)
			n, isNil = tc.count("acme", "widgets")
			require.False(t, isNil, "a known repo answers a list, empty or not")
			require.Equal(t, tc.want, n)
		})
	}
}
