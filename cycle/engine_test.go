package cycle

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/verify"
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
	cfg, err := repoconfig.Parse(nil)
	require.NoError(t, err)
	free := mustSpec(t, "specs/a.md", "- [ ] [a-1] x\n")
	fenced := mustSpec(t, "specs/b.md", "---\npaths: [\"src/**\"]\n---\n- [ ] [b-1] x\n")
	kit := mustSpec(t, "specs/001-x/tasks.md", "- [ ] T001 update quickstart.md\n")
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
		{"spec kit: context documents are editable", kit, []string{"specs/001-x/quickstart.md", "specs/001-x/plan.md", "specs/001-x/contracts/api.md"}, nil},
		{"spec kit: the task file is not", kit, []string{"specs/001-x/tasks.md"}, []string{"specs/001-x/tasks.md"}},
		{"kiro: tasks.md protected, design.md not", kit, []string{".kiro/specs/u/design.md", ".kiro/specs/u/tasks.md"}, []string{".kiro/specs/u/tasks.md"}},
		{"a CI workflow", free, []string{"main.go", ".github/workflows/ci.yml"}, []string{".github/workflows/ci.yml"}},
		{"a workflow even inside paths", mustSpec(t, "specs/w.md", "---\npaths: [\".github/**\"]\n---\n- [ ] [w-1] x\n"), []string{".github/workflows/release.yaml", ".github/CODEOWNERS"}, []string{".github/workflows/release.yaml"}},
		{"prose under specs/ is not a spec", kit, []string{"specs/notes.md", "specs/b.md"}, []string{"specs/b.md"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var changes []workspace.Change
			for _, p := range tt.changed {
				changes = append(changes, workspace.Change{Path: p, Status: 'M'})
			}
			plainSpec := func(path string) bool { return path != "specs/notes.md" }
			require.Equal(t, tt.bad, tampered(cfg, tt.s, changes, plainSpec))
			require.Subset(t, tampered(cfg, tt.s, changes, nil), tt.bad, "without knowing, every candidate is protected")
		})
	}
}

func TestFilterDiff(t *testing.T) {
	t.Parallel()
	diff := "diff --git a/main.go b/main.go\n+code\ndiff --git a/specs/a.md b/specs/a.md\n-- [ ] x\n+- [x] x\n"
	require.Equal(t, "diff --git a/specs/a.md b/specs/a.md\n-- [ ] x\n+- [x] x\n", string(filterDiff([]byte(diff), []string{"specs/a.md"})))
	require.Equal(t, diff, string(filterDiff([]byte(diff), []string{"nothing"})), "nothing matched: the whole diff")
}

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644))
	cfg, err := repoconfig.Parse(nil)
	require.NoError(t, err)
	withCfg, err := repoconfig.Parse([]byte("verify: {command: make check}"))
	require.NoError(t, err)
	plain := mustSpec(t, "specs/a.md", "- [ ] x\n")
	own := mustSpec(t, "specs/a.md", "---\nverify: ./test.sh\n---\n- [ ] x\n")
	require.Equal(t, "./test.sh", verifyCommand(Input{Config: withCfg, Spec: own}, dir), "the spec's first")
	require.Equal(t, "make check", verifyCommand(Input{Config: withCfg, Spec: plain}, dir), "then the repo's")
	require.Equal(t, verify.DetectedGo, verifyCommand(Input{Config: cfg, Spec: plain}, dir), "then detected")
	require.Equal(t, "", verifyCommand(Input{Config: cfg, Spec: plain}, t.TempDir()))
}

func TestWithoutScratch(t *testing.T) {
	t.Parallel()
	got := withoutScratch([]workspace.Change{{Path: ".specloop/audit.json"}, {Path: "a.go"}})
	require.Equal(t, []workspace.Change{{Path: "a.go"}}, got)
}
