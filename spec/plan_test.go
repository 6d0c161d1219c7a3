package spec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFrontMatterPlan(t *testing.T) {
	t.Parallel()
	s, err := Parse("specs/a.md", []byte("---\nplan: approve\n---\n# A\n\n- [ ] [a-1] One\n"))
	require.NoError(t, err)
	require.Equal(t, "approve", s.Plan)
	require.Empty(t, s.Warnings)
	_, err = Parse("specs/a.md", []byte("---\nplan: yes\n---\n# A\n"))
	require.ErrorContains(t, err, "plan: want approve")
}
