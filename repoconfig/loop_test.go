package repoconfig

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoopKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src        string
		review, ci, plan string
		ciFixes          int
		err              string
	}{
		{"defaults", "", OnCycle, OnCycle, "", DefaultCIFixes, ""},
		{"set", "on_review: none\non_ci_failure: none\nplan: approve\nlimits: {ci_fixes: 0}\n", OnNone, OnNone, PlanApprove, 0, ""},
		{"bad on_review", "on_review: always\n", "", "", "", 0, `on_review "always" must be cycle or none`},
		{"bad plan", "plan: yes\n", "", "", "", 0, `plan "yes" must be approve`},
		{"bad ci_fixes", "limits: {ci_fixes: -1}\n", "", "", "", 0, "limits.ci_fixes -1 must be between 0 and 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.src))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.review, c.OnReview)
			require.Equal(t, tt.ci, c.OnCIFailure)
			require.Equal(t, tt.plan, c.Plan)
			require.Equal(t, tt.ciFixes, *c.Limits.CIFixes)
		})
	}
}
