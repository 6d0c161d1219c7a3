package jobs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWithPlan(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, tasks, want string }{
		{"first plan", "Build it.\n", "- [ ] [p-1] One\n",
			"Build it.\n\n## Plan\n\n" + planMarker + "\n- [ ] [p-1] One\n"},
		{"a new plan replaces the old", "Build it.\n\n## Plan\n\n" + planMarker + "\n- [x] [p-1] One\n", "- [ ] [q-1] Other\n",
			"Build it.\n\n## Plan\n\n" + planMarker + "\n- [ ] [q-1] Other\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, withPlan(tt.body, tt.tasks))
		})
	}
}

func TestPlanTasksPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"specs/auth.md": "specs/auth/tasks.md", "docs/x/y.md": "docs/x/y/tasks.md"} {
		require.Equal(t, want, PlanTasksPath(in))
	}
}
