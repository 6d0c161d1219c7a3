package cycle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
)

// gitDiff commits before in a fresh repository, writes after over it ("" deletes
// a file) and returns git's diff of the change, as the engine gets it.
func gitDiff(t *testing.T, before, after map[string]string) []byte {
	t.Helper()
	dir, _ := newRepo(t, t.TempDir(), before)
	for name, content := range after {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if content == "" {
			require.NoError(t, os.Remove(p))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	gitT(t, dir, "add", "-A")
	return []byte(gitT(t, dir, "diff", "--cached", "--no-renames", "HEAD") + "\n")
}

const (
	goTests = `package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(2, 2) != 4 {
		t.Fatal("2+2")
	}
}

func TestSub(t *testing.T) {
	if Sub(3, 1) != 2 {
		t.Errorf("3-1")
	}
}
`
	pyTests = `import pytest

from calc import add


def test_add():
    assert add(2, 2) == 4


def test_sub():
    assert add(3, -1) == 2
`
	jsTests = `const { add } = require('./calc');

test('adds', () => {
  expect(add(2, 2)).toBe(4);
});

test('subtracts', () => {
  expect(add(3, -1)).toBe(2);
});
`
)

func TestWeakening(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		before     map[string]string
		after      map[string]string
		command    string
		obligation string
		want       []agent.Finding
	}{
		// Go
		{name: "go: test function deleted", before: map[string]string{"calc_test.go": goTests},
			after: map[string]string{"calc_test.go": replace(goTests, "func TestAdd(t *testing.T) {\n\tif Add(2, 2) != 4 {\n\t\tt.Fatal(\"2+2\")\n\t}\n}\n\n", "")},
			want: []agent.Finding{
				{File: "calc_test.go", Line: 5, Severity: "failure", Message: "test `TestAdd` deleted (or renamed: no test of that name is left)"},
				{File: "calc_test.go", Line: 5, Severity: "failure", Message: "1 assertion(s) removed from a test without a replacement (1 removed, 0 added)"}}},
		{name: "go: last test deleted points at the file's end", before: map[string]string{"calc_test.go": goTests},
			after: map[string]string{"calc_test.go": replace(goTests, "\nfunc TestSub(t *testing.T) {\n\tif Sub(3, 1) != 2 {\n\t\tt.Errorf(\"3-1\")\n\t}\n}\n", "")},
			want: []agent.Finding{
				{File: "calc_test.go", Line: 9, Severity: "failure", Message: "test `TestSub` deleted (or renamed: no test of that name is left)"},
				{File: "calc_test.go", Line: 9, Severity: "failure", Message: "1 assertion(s) removed from a test without a replacement (1 removed, 0 added)"}}},
		{name: "go: test file deleted", before: map[string]string{"calc_test.go": goTests}, after: map[string]string{"calc_test.go": ""},
			want: []agent.Finding{{File: "calc_test.go", Line: 1, Severity: "failure", Message: "test file deleted"}}},
		{name: "go: skip added", before: map[string]string{"calc_test.go": goTests},
			after: map[string]string{"calc_test.go": replace(goTests, "func TestSub(t *testing.T) {\n", "func TestSub(t *testing.T) {\n\tt.Skip(\"flaky\")\n")},
			want:  []agent.Finding{{File: "calc_test.go", Line: 12, Severity: "failure", Message: "skip added (`t.Skip`)"}}},
		{name: "go: assertion removed", before: map[string]string{"calc_test.go": goTests},
			after: map[string]string{"calc_test.go": replace(goTests, "\t\tt.Errorf(\"3-1\")\n", "\t\t_ = 0\n")},
			want: []agent.Finding{{File: "calc_test.go", Line: 13, Severity: "failure",
				Message: "1 assertion(s) removed from a test without a replacement (1 removed, 0 added)"}}},
		{name: "go: assertion reworded is not weakening", before: map[string]string{"calc_test.go": goTests},
			after: map[string]string{"calc_test.go": replace(goTests, "\t\tt.Errorf(\"3-1\")\n", "\t\tt.Errorf(\"3-1 is not 2\")\n")}},
		{name: "go: test moved to another file", before: map[string]string{"calc_test.go": goTests},
			after: map[string]string{"calc_test.go": replace(goTests, "func TestSub(t *testing.T) {\n\tif Sub(3, 1) != 2 {\n\t\tt.Errorf(\"3-1\")\n\t}\n}\n", ""),
				"sub_test.go": "package calc\n\nimport \"testing\"\n\nfunc TestSub(t *testing.T) {\n\tif Sub(3, 1) != 2 {\n\t\tt.Errorf(\"3-1\")\n\t}\n}\n"}},
		{name: "go: expected value edited with the code", before: map[string]string{"calc_test.go": goTests, "calc.go": "package calc\n\nfunc Sub(a, b int) int { return a - b }\n"},
			after: map[string]string{"calc_test.go": replace(goTests, "if Sub(3, 1) != 2 {", "if Sub(3, 1) != 4 {"), "calc.go": "package calc\n\nfunc Sub(a, b int) int { return a + b }\n"},
			want: []agent.Finding{{File: "calc_test.go", Line: 12, Severity: "warning",
				Message: "expected value edited (`2` → `4`) together with the code under test; the obligation does not name it"}}},
		{name: "go: expected value the obligation names", before: map[string]string{"calc_test.go": goTests, "calc.go": "package calc\n"},
			after:      map[string]string{"calc_test.go": replace(goTests, "if Sub(3, 1) != 2 {", "if Sub(3, 1) != 4 {"), "calc.go": "package calc\n\n// x\n"},
			obligation: "Sub(3, 1) must now return 4"},
		{name: "go: skip in non-test code is not a test skip", before: map[string]string{"calc.go": "package calc\n"},
			after: map[string]string{"calc.go": "package calc\n\nfunc Skip() { r.Skip(1) }\n"}},

		// Python
		{name: "python: test function deleted", before: map[string]string{"tests/test_calc.py": pyTests},
			after: map[string]string{"tests/test_calc.py": replace(pyTests, "def test_add():\n    assert add(2, 2) == 4\n\n\n", "")},
			want: []agent.Finding{
				{File: "tests/test_calc.py", Line: 6, Severity: "failure", Message: "test `test_add` deleted (or renamed: no test of that name is left)"},
				{File: "tests/test_calc.py", Line: 6, Severity: "failure", Message: "1 assertion(s) removed from a test without a replacement (1 removed, 0 added)"}}},
		{name: "python: skip mark added", before: map[string]string{"tests/test_calc.py": pyTests},
			after: map[string]string{"tests/test_calc.py": replace(pyTests, "def test_sub():", "@pytest.mark.skip(reason=\"later\")\ndef test_sub():")},
			want:  []agent.Finding{{File: "tests/test_calc.py", Line: 10, Severity: "failure", Message: "skip added (`@pytest.mark.skip`)"}}},
		{name: "python: xfail added", before: map[string]string{"tests/test_calc.py": pyTests},
			after: map[string]string{"tests/test_calc.py": replace(pyTests, "def test_add():", "@pytest.mark.xfail\ndef test_add():")},
			want:  []agent.Finding{{File: "tests/test_calc.py", Line: 6, Severity: "failure", Message: "expected failure added (`@pytest.mark.xfail`)"}}},
		{name: "python: assertion removed", before: map[string]string{"tests/test_calc.py": pyTests},
			after: map[string]string{"tests/test_calc.py": replace(pyTests, "    assert add(3, -1) == 2\n", "    add(3, -1)\n")},
			want: []agent.Finding{{File: "tests/test_calc.py", Line: 11, Severity: "failure",
				Message: "1 assertion(s) removed from a test without a replacement (1 removed, 0 added)"}}},
		{name: "python: pytest settings edited", before: map[string]string{"pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n"},
			after: map[string]string{"pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = [\"tests/fast\"]\n"},
			want:  []agent.Finding{{File: "pyproject.toml", Line: 2, Severity: "failure", Message: "test settings in `pyproject.toml` edited"}}},

		// JavaScript
		{name: "js: test deleted", before: map[string]string{"calc.test.js": jsTests},
			after: map[string]string{"calc.test.js": replace(jsTests, "test('adds', () => {\n  expect(add(2, 2)).toBe(4);\n});\n\n", "")},
			want: []agent.Finding{
				{File: "calc.test.js", Line: 3, Severity: "failure", Message: "test `adds` deleted (or renamed: no test of that name is left)"},
				{File: "calc.test.js", Line: 3, Severity: "failure", Message: "1 assertion(s) removed from a test without a replacement (1 removed, 0 added)"}}},
		{name: "js: it.skip and xit", before: map[string]string{"calc.test.js": jsTests},
			after: map[string]string{"calc.test.js": replace(replace(jsTests, "test('adds'", "test.skip('adds'"), "test('subtracts'", "xit('subtracts'")},
			want: []agent.Finding{
				{File: "calc.test.js", Line: 3, Severity: "failure", Message: "skip added (`it.skip`/`xit`)"},
				{File: "calc.test.js", Line: 7, Severity: "failure", Message: "skip added (`it.skip`/`xit`)"}}},
		{name: "js: .only", before: map[string]string{"calc.test.js": jsTests},
			after: map[string]string{"calc.test.js": replace(jsTests, "test('adds'", "test.only('adds'")},
			want:  []agent.Finding{{File: "calc.test.js", Line: 3, Severity: "failure", Message: "focus added (`.only`): the other tests stop running"}}},
		{name: "js: expect removed", before: map[string]string{"calc.test.js": jsTests},
			after: map[string]string{"calc.test.js": replace(jsTests, "  expect(add(2, 2)).toBe(4);\n", "  add(2, 2);\n")},
			want: []agent.Finding{{File: "calc.test.js", Line: 4, Severity: "failure",
				Message: "1 assertion(s) removed from a test without a replacement (1 removed, 0 added)"}}},
		{name: "js: test script edited", before: map[string]string{"package.json": "{\n  \"scripts\": {\n    \"test\": \"jest\"\n  }\n}\n"},
			after: map[string]string{"package.json": "{\n  \"scripts\": {\n    \"test\": \"jest --passWithNoTests calc\"\n  }\n}\n"}, command: "npm test",
			want: []agent.Finding{{File: "package.json", Line: 3, Severity: "failure", Message: "test settings in `package.json` edited"}}},

		// Rust and Java
		{name: "rust: #[ignore]", before: map[string]string{"src/lib.rs": "#[test]\nfn adds() {\n    assert_eq!(2, 1 + 1);\n}\n"},
			after: map[string]string{"src/lib.rs": "#[test]\n#[ignore]\nfn adds() {\n    assert_eq!(2, 1 + 1);\n}\n"},
			want:  []agent.Finding{{File: "src/lib.rs", Line: 2, Severity: "failure", Message: "skip added (`#[ignore]`)"}}},
		{name: "java: @Disabled", before: map[string]string{"src/test/java/CalcTest.java": "class CalcTest {\n  @Test\n  void adds() {\n    assertEquals(2, 1 + 1);\n  }\n}\n"},
			after: map[string]string{"src/test/java/CalcTest.java": "class CalcTest {\n  @Test\n  @Disabled\n  void adds() {\n    assertEquals(2, 1 + 1);\n  }\n}\n"},
			want:  []agent.Finding{{File: "src/test/java/CalcTest.java", Line: 3, Severity: "failure", Message: "skip added (`@Disabled`)"}}},

		// The verify command and CI
		{name: "the verify script edited", before: map[string]string{"check.sh": "go test ./...\n"}, after: map[string]string{"check.sh": "exit 0\n"}, command: "sh check.sh",
			want: []agent.Finding{{File: "check.sh", Line: 1, Severity: "failure", Message: "the verify command's own file edited (`sh check.sh` runs it)"}}},
		{name: "a workflow added", before: map[string]string{"README.md": "x\n"}, after: map[string]string{".github/workflows/ci.yml": "on: push\n"},
			want: []agent.Finding{{File: ".github/workflows/ci.yml", Line: 1, Severity: "failure",
				Message: "CI workflow edited: specloop never pushes `.github/workflows/**` (the app has no workflows permission)"}}},
		{name: "the Makefile of make test", before: map[string]string{"Makefile": "test:\n\tgo test ./...\n"}, after: map[string]string{"Makefile": "test:\n\ttrue\n"}, command: "make test",
			want: []agent.Finding{{File: "Makefile", Line: 2, Severity: "failure", Message: "`Makefile` edited, which the verify command `make test` runs"}}},
		{name: "a new test is no weakening", before: map[string]string{"calc_test.go": goTests},
			after: map[string]string{"calc_test.go": goTests + "\nfunc TestMul(t *testing.T) {\n\tif Mul(2, 3) != 6 {\n\t\tt.Fatal(\"2*3\")\n\t}\n}\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Weakening(WeakenInput{Patch: gitDiff(t, tt.before, tt.after), VerifyCommand: tt.command, Obligation: tt.obligation})
			require.Equal(t, tt.want, got)
		})
	}
}

func replace(s, old, nu string) string {
	out, n := "", 0
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			out, n = s[:i]+nu+s[i+len(old):], n+1
			break
		}
	}
	if n == 0 {
		panic("replace: " + old + " not in the text")
	}
	return out
}

// BenchmarkWeakening: the checks over a diff of 200 test files, each with
// a test deleted, a skip added and an expected value edited.
func BenchmarkWeakening(b *testing.B) {
	var patch strings.Builder
	for i := range 200 {
		fmt.Fprintf(&patch, "diff --git a/pkg%d/calc_test.go b/pkg%d/calc_test.go\n--- a/pkg%d/calc_test.go\n+++ b/pkg%d/calc_test.go\n@@ -1,20 +1,18 @@\n", i, i, i, i)
		patch.WriteString(" package calc\n \n import \"testing\"\n \n-func TestAdd(t *testing.T) {\n-\tif Add(2, 2) != 4 {\n-\t\tt.Fatal(\"2+2\")\n-\t}\n-}\n+func TestSub(t *testing.T) {\n+\tt.Skip(\"later\")\n+\tif Sub(3, 1) != 4 {\n+\t\tt.Errorf(\"3-1\")\n+\t}\n+}\n")
		for j := range 40 {
			fmt.Fprintf(&patch, " // line %d\n", j)
		}
	}
	patch.WriteString("diff --git a/calc.go b/calc.go\n--- a/calc.go\n+++ b/calc.go\n@@ -1 +1 @@\n-package calc\n+package calc // x\n")
	in := WeakenInput{Patch: []byte(patch.String()), VerifyCommand: "go test ./..."}
	b.SetBytes(int64(patch.Len()))
	b.ResetTimer()
	for b.Loop() {
		if len(Weakening(in)) == 0 {
			b.Fatal("no findings")
		}
	}
}
