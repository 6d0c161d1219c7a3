package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// formatsRepo lays out one task file of each format as the tools do, with
// their context documents and an archived OpenSpec change beside them.
func formatsRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"specs/001-photos/tasks.md":             "---\ndescription: \"Task list\"\n---\n# Tasks\n\n## Phase 1: Setup\n\n- [X] T001 Create structure\n- [ ] T002 [P] Init project (depends on T001)\n- [~] T003 Odd marker\n",
		"specs/001-photos/plan.md":              "- [ ] a gate, not work\n",
		"specs/001-photos/spec.md":              "# Spec\n",
		".kiro/specs/users/tasks.md":            "- [x] 1. Set up\n- [ ] 2. Models\n- [-] 2.1 Interfaces\n- [ ]* 2.2 Tests\n- [ ] 2.3 User model\n",
		".kiro/specs/users/requirements.md":     "### Requirement 1\n",
		"openspec/changes/add-x/tasks.md":       "## 1. Group\n\n- [ ] 1.1 First\n- [ ] 1.2 Second\n",
		"openspec/changes/archive/old/tasks.md": "- [ ] 1.1 old\n",
		"specs/bad.md":                          "- [ ] [a] one\n- [ ] [a] two\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

func TestSpecLintDir(t *testing.T) {
	t.Parallel()
	dir := formatsRepo(t)
	var stdout, stderr bytes.Buffer
	code := runSpec(t.Context(), []string{"lint", dir}, &stdout, &stderr)
	require.Equal(t, 1, code, "specs/bad.md has an error; stderr: %s", &stderr)
	at := func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
	require.Equal(t, strings.Join([]string{
		"ok " + at(".kiro/specs/users/tasks.md") + " (kiro, 5 obligations, 4 open)",
		"ok " + at("openspec/changes/add-x/tasks.md") + " (openspec, 2 obligations, 2 open)",
		at("specs/001-photos/tasks.md") + `:2: warning: front matter: unknown key "description" ignored (specloop reads verify, require, paths, after, title, plan)`,
		at("specs/001-photos/tasks.md") + ":10: warning: unknown marker [~]: read as open; use [ ], [x], [-] or [ ]*",
		"ok " + at("specs/001-photos/tasks.md") + " (spec-kit, 3 obligations, 2 open)",
		at("specs/bad.md") + `:2: duplicate id "a" (first at line 1)`,
	}, "\n")+"\n", stdout.String())

	// Only warnings: exit 0.
	require.NoError(t, os.Remove(at("specs/bad.md")))
	stdout.Reset()
	require.Equal(t, 0, runSpec(t.Context(), []string{"lint", dir}, &stdout, &stderr))

	// A directory without task files says so.
	stdout.Reset()
	require.Equal(t, 1, runSpec(t.Context(), []string{"lint", t.TempDir()}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "no task files found")
}

func TestSpecList(t *testing.T) {
	t.Parallel()
	dir := formatsRepo(t)
	require.NoError(t, os.Remove(filepath.Join(dir, "specs/bad.md")))
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, runSpec(t.Context(), []string{"list", "--repo", dir}, &stdout, &stderr), stderr.String())
	rows := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	space := regexp.MustCompile(`\s{2,}`)
	var got [][]string
	for _, r := range rows {
		got = append(got, space.Split(strings.TrimSpace(r), -1))
	}
	require.Equal(t, [][]string{
		{"FILE", "FORMAT", "DONE", "OPEN", "OPTIONAL", "IN PROGRESS", "BLOCKED", "NEXT"},
		{".kiro/specs/users/tasks.md", "kiro", "1", "1", "1", "1", "1", "2.3 User model"},
		{"openspec/changes/add-x/tasks.md", "openspec", "0", "2", "0", "0", "0", "1.1 First"},
		{"specs/001-photos/tasks.md", "spec-kit", "1", "2", "0", "0", "0", "T002 Init project"},
	}, got)

	// include_optional: true in the config counts the optional task as open.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".github"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".github/specloop.yml"), []byte("include_optional: true\n"), 0o644))
	stdout.Reset()
	require.Equal(t, 0, runSpec(t.Context(), []string{"list", "--repo", dir}, &stdout, &stderr))
	require.Regexp(t, `\.kiro/specs/users/tasks\.md\s+kiro\s+1\s+2\s+0\s+1\s+1\s+2\.2 Tests`, stdout.String())

	require.Equal(t, 2, runSpec(t.Context(), []string{"list", "extra"}, &stdout, &stderr))
}

func TestSpecNextSaysWhatIsLeft(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "tasks.md")
	require.NoError(t, os.WriteFile(file, []byte("- [x] 1. a\n- [ ]* 2. optional\n- [-] 3. going\n"), 0o644))
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, runSpec(t.Context(), []string{"next", file}, &stdout, &stderr), stderr.String())
	require.Equal(t, "nothing to pick: 1 done, 1 optional, 1 in progress, 0 blocked\n", stdout.String())
}
