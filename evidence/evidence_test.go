package evidence

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/spec"
)

func mustSpec(t *testing.T, path, src string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse(path, []byte(src))
	require.NoError(t, err)
	return s
}

func TestCapOutput(t *testing.T) {
	t.Parallel()
	short := "fine"
	require.Equal(t, short, Cap(short, "https://x/runs/1"))
	long := strings.Repeat("é", MaxOutput) // two bytes each
	got := Cap(long, "https://x/runs/1")
	require.LessOrEqual(t, len(got), MaxOutput, "within GitHub's limit")
	require.True(t, utf8.ValidString(got), "not cut inside a character")
	require.Contains(t, got, "truncated")
	require.True(t, strings.HasSuffix(got, "Full log: https://x/runs/1"))
}
func TestSpecSummary(t *testing.T) {
	t.Parallel()
	s := mustSpec(t, "specs/a.md", "- [x] [a-1] done | piped\n- [ ] [a-2] open\n- [ ] [a-3] later (after: a-2)\n")
	summary, annotations, counts := SpecSummary([]*spec.Spec{s}, []*spec.Error{{Path: "specs/b.md", Line: 4, Msg: "duplicate id"}})
	require.Equal(t, 1, counts[spec.StateDone])
	require.Equal(t, 1, counts[spec.StateOpen])
	require.Equal(t, 1, counts[spec.StateBlocked])
	require.Contains(t, summary, `done \| piped`, "table cells are escaped")
	require.Contains(t, summary, "**Next:** `a-2` open")
	require.Len(t, annotations, 1)
	require.Equal(t, 4, annotations[0].GetStartLine())
}
func TestFindingsToAnnotations(t *testing.T) {
	t.Parallel()
	got := Annotations([]agent.Finding{
		{File: "a.go", Line: 3, Message: "m", Severity: "warning"},
		{File: "b.go", Line: 0, Message: "n"},
	})
	require.Equal(t, "warning", got[0].GetAnnotationLevel())
	require.Equal(t, "failure", got[1].GetAnnotationLevel())
	require.Equal(t, 1, got[1].GetStartLine(), "GitHub needs a line; whole-file findings go on line 1")
}
