package jobs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/workspace"
)

func mustSpec(t *testing.T, path, src string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse(path, []byte(src))
	require.NoError(t, err)
	return s
}

func TestTampered(t *testing.T) {
	t.Parallel()
	cfg, err := ParseRepoConfig(nil)
	require.NoError(t, err)
	e := &Engine{}
	free := mustSpec(t, "specs/a.md", "- [ ] [a-1] x\n")
	fenced := mustSpec(t, "specs/b.md", "---\npaths: [\"src/**\"]\n---\n- [ ] [b-1] x\n")
	issue, err := spec.ParseIssue(3, "t", "- [ ] [i-1] x")
	require.NoError(t, err)
	tests := []struct {
		name    string
		s       *spec.Spec
		changed []string
		bad     []string
	}{
		{"code only", free, []string{"main.go", "impl/x.txt"}, nil},
		{"its own spec", free, []string{"main.go", "specs/a.md"}, []string{"specs/a.md"}},
		{"another spec", free, []string{"specs/other/c.md"}, []string{"specs/other/c.md"}},
		{"the repo config", free, []string{".github/specloop.yml"}, []string{".github/specloop.yml"}},
		{"inside paths", fenced, []string{"src/x/y.go"}, nil},
		{"outside paths", fenced, []string{"src/ok.go", "README.md"}, []string{"README.md"}},
		{"issue spec: markdown elsewhere is fine", issue, []string{"docs/notes.md"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var changes []workspace.Change
			for _, p := range tt.changed {
				changes = append(changes, workspace.Change{Path: p, Status: 'M'})
			}
			require.Equal(t, tt.bad, e.tampered(cfg, tt.s, changes))
		})
	}
}

func TestFilterDiff(t *testing.T) {
	t.Parallel()
	diff := "diff --git a/main.go b/main.go\n+code\ndiff --git a/specs/a.md b/specs/a.md\n-- [ ] x\n+- [x] x\n"
	require.Equal(t, "diff --git a/specs/a.md b/specs/a.md\n-- [ ] x\n+- [x] x\n", string(filterDiff([]byte(diff), []string{"specs/a.md"})))
	require.Equal(t, diff, string(filterDiff([]byte(diff), []string{"nothing"})), "nothing matched: the whole diff")
}

func TestCapOutput(t *testing.T) {
	t.Parallel()
	short := "fine"
	require.Equal(t, short, capOutput(short, "https://x/runs/1"))
	long := strings.Repeat("é", maxOutput) // two bytes each
	got := capOutput(long, "https://x/runs/1")
	require.LessOrEqual(t, len(got), maxOutput, "within GitHub's limit")
	require.True(t, utf8.ValidString(got), "not cut inside a character")
	require.Contains(t, got, "truncated")
	require.True(t, strings.HasSuffix(got, "Full log: https://x/runs/1"))
}

func TestSpecBranch(t *testing.T) {
	t.Parallel()
	cfg, err := ParseRepoConfig([]byte("branch_prefix: bot/\nspecs: [\"**/*.md\"]"))
	require.NoError(t, err)
	for in, want := range map[string]string{
		"specs/auth.md":         "bot/spec/auth",
		"specs/api/v2.md":       "bot/spec/api/v2",
		"docs/Design Notes.md":  "bot/spec/docs/Design-Notes",
		"specs/weird:~^name.md": "bot/spec/weird---name",
	} {
		require.Equal(t, want, SpecBranch(cfg, in), in)
	}
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

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644))
	cfg, err := ParseRepoConfig(nil)
	require.NoError(t, err)
	withCfg, err := ParseRepoConfig([]byte("verify: {command: make check}"))
	require.NoError(t, err)
	plain := mustSpec(t, "specs/a.md", "- [ ] x\n")
	own := mustSpec(t, "specs/a.md", "---\nverify: ./test.sh\n---\n- [ ] x\n")
	require.Equal(t, "./test.sh", verifyCommand(CycleInput{Config: withCfg, Spec: own}, dir), "the spec's first")
	require.Equal(t, "make check", verifyCommand(CycleInput{Config: withCfg, Spec: plain}, dir), "then the repo's")
	require.Equal(t, "go test ./...", verifyCommand(CycleInput{Config: cfg, Spec: plain}, dir), "then detected")
	require.Equal(t, "", verifyCommand(CycleInput{Config: cfg, Spec: plain}, t.TempDir()))
}

func TestFindingsToAnnotations(t *testing.T) {
	t.Parallel()
	got := findingsToAnnotations([]agent.Finding{
		{File: "a.go", Line: 3, Message: "m", Severity: "warning"},
		{File: "b.go", Line: 0, Message: "n"},
	})
	require.Equal(t, "warning", got[0].GetAnnotationLevel())
	require.Equal(t, "failure", got[1].GetAnnotationLevel())
	require.Equal(t, 1, got[1].GetStartLine(), "GitHub needs a line; whole-file findings go on line 1")
}

func TestWithoutScratch(t *testing.T) {
	t.Parallel()
	got := withoutScratch([]workspace.Change{{Path: ".specloop/audit.json"}, {Path: "a.go"}})
	require.Equal(t, []workspace.Change{{Path: "a.go"}}, got)
}
