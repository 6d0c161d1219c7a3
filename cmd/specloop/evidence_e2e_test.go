package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/attest"
	"github.com/specloop/specloop/verify"
)

// The evidence no model can forge, end to end: `specloop cycle` in the
// bwrap sandbox with real test runners (go test, pytest, node --test), the
// scripted agent making real changes (its overlay switch), and `specloop
// verify-evidence` checking the signed statement offline.

const (
	goMod     = "module example.com/calc\n\ngo 1.22\n"
	calcBuggy = "package calc\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Sub(a, b int) int { return a + b }\n"
	calcFixed = "package calc\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Sub(a, b int) int { return a - b }\n"
	calcTest  = `package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(2, 2) != 4 {
		t.Fatal("2+2")
	}
}

func TestSub(t *testing.T) {
	if got := Sub(3, 1); got != 2 {
		t.Errorf("Sub(3, 1) = %d, want 2", got)
	}
}
`
	pyCalcBuggy = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a + b\n"
	pyCalcFixed = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
	pyTest      = `from calc import add, sub


def test_add():
    assert add(2, 2) == 4


def test_sub():
    assert sub(3, 1) == 2
`
	jsCalcBuggy = "exports.add = (a, b) => a + b;\nexports.sub = (a, b) => a + b;\n"
	jsCalcFixed = "exports.add = (a, b) => a + b;\nexports.sub = (a, b) => a - b;\n"
	jsTest      = `const test = require('node:test');
const assert = require('node:assert');
const { add, sub } = require('./calc');

test('adds', () => {
  assert.strictEqual(add(2, 2), 4);
});

test('subtracts', () => {
  assert.strictEqual(sub(3, 1), 2);
});
`
)

// jsVerify runs node's test runner on the repo's own test files (not the
// scripted agent's overlays, which it would find too) with TAP output.
const jsVerify = "node --test --test-reporter=tap *.test.js"

// goCommand is go test in the sandbox: the toolchain of this test, never
// one downloaded.
func goCommand(t *testing.T, args string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	goBin, err = filepath.EvalSymlinks(goBin)
	require.NoError(t, err)
	return "GOTOOLCHAIN=local GOFLAGS= " + goBin + " test " + args
}

// evidenceConfig is a repo config for the scripted agent; verify: is
// verifyCmd (none: detected) and require.
func evidenceConfig(bin, verifyCmd string, require ...string) string {
	c := fmt.Sprintf("agent: {command: %q}\nfix_attempts: 0\n", bin+" agent-script")
	if verifyCmd != "" {
		c += fmt.Sprintf("verify:\n  command: %q\n", verifyCmd)
		for _, r := range require {
			c += "  require: " + r + "\n"
		}
	}
	return c
}

func newEvidenceKey(t *testing.T) (seed string, pub ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(priv.Seed()), pub
}

func testCLIEvidence(t *testing.T, bin string) {
	if _, err := exec.LookPath("pytest"); err != nil {
		t.Fatalf("pytest is not installed (.ci/run installs python3-pytest): %v", err)
	}
	seed, pub := newEvidenceKey(t)
	pubFile := filepath.Join(t.TempDir(), "evidence.pub")
	require.NoError(t, os.WriteFile(pubFile, []byte(attest.PublicPEM(pub)), 0o644))
	env := append(cleanEnv("SANDBOX", "DATABASE_URL", "EVIDENCE_KEY", "EVIDENCE_KEY_PREVIOUS"), "EVIDENCE_KEY="+seed)
	goJSON := goCommand(t, "-json ./...")

	t.Run("evidence-key prints the public key", func(t *testing.T) {
		t.Parallel()
		res := runCLI(t, time.Minute, bin, "", env, "evidence-key")
		require.Equal(t, 0, res.code, res.stderr)
		require.Equal(t, "# key id "+attest.KeyID(pub)+"\n"+attest.PublicPEM(pub), res.stdout)
		res = runCLI(t, time.Minute, bin, "", cleanEnv("EVIDENCE_KEY"), "evidence-key")
		require.Equal(t, 1, res.code)
		require.Contains(t, res.stderr, "EVIDENCE_KEY is not set")
	})

	tests := []struct {
		name   string
		files  map[string]string
		spec   string
		code   int
		stdout []string
		check  func(t *testing.T, repo, branch string)
	}{
		{
			name: "go: a failing test made to pass is green evidence, signed",
			files: map[string]string{"go.mod": goMod, "calc.go": calcBuggy, "calc_test.go": calcTest,
				".script/c-1/calc.go": calcFixed, ".github/specloop.yml": evidenceConfig(bin, goJSON)},
			spec: "- [ ] [c-1] Make Sub subtract [script:overlay]\n",
			code: 0,
			stdout: []string{"verify: success", "| passed | 2 |", "| failed | 0 |",
				"**Red → green** against the start commit", "go test -json, 2 tests before, 2 after",
				"| newly passing (red or absent → green) | 1: `example.com/calc.TestSub` |", "| regressions (green → red) | 0 |",
				"Test-weakening check:** passed", "conclusion: success", "statement: signed and attached in refs/notes/specloop"},
			check: func(t *testing.T, repo, branch string) {
				trailers := git(t, repo, "log", "-1", "--format=%(trailers:only,unfold)", branch)
				for _, want := range []string{"Specloop-Run: local", "Specloop-Obligation: c-1", "Specloop-Verify: 2 passed, 0 failed",
					"Specloop-Red-Green: 1 newly passing, 0 regressions, 0 unchanged failures",
					"Specloop-Audit: pass, 0 failing, 0 warning findings (0 from the test-weakening check)", "Specloop-Tokens: not reported"} {
					require.Contains(t, trailers, want)
				}

				res := runCLI(t, time.Minute, bin, "", env, "verify-evidence", "--repo", repo, branch, "--key", pubFile)
				require.Equal(t, 0, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
				sha := git(t, repo, "rev-parse", branch)
				for _, want := range []string{"verifies", "ok   signature", "ok   subject       commit " + sha,
					"ok   start commit", "ok   spec          specs/calc.md at the start commit",
					"obligation c-1: Make Sub subtract", "red → green: 1 newly passing [example.com/calc.TestSub], 0 regressions",
					"before exit 1, 1 passed, 1 failed", "after exit 0, 2 passed, 0 failed", "What this proves"} {
					require.Contains(t, res.stdout, want)
				}

				// Another key: nothing verifies.
				_, other := newEvidenceKey(t)
				res = runCLI(t, time.Minute, bin, "", env, "verify-evidence", "--repo", repo, "--key", base64.StdEncoding.EncodeToString(other), branch)
				require.Equal(t, 1, res.code)
				require.Contains(t, res.stdout, "FAIL signature     no signature verifies with the given key(s)")

				// The commit amended afterwards (its message changed, the
				// same tree): it has no statement, and the statement copied
				// onto it names the original commit.
				amended := git(t, repo, "commit-tree", branch+"^{tree}", "-p", branch+"~1", "-m", "specloop: c-1 amended by hand")
				res = runCLI(t, time.Minute, bin, "", env, "verify-evidence", "--repo", repo, amended, "--key", pubFile)
				require.Equal(t, 1, res.code)
				require.Contains(t, res.stdout, "FAIL statement     no statement on "+amended[:12])
				git(t, repo, "notes", "--ref=specloop", "copy", sha, amended)
				res = runCLI(t, time.Minute, bin, "", env, "verify-evidence", "--repo", repo, amended, "--key", pubFile)
				require.Equal(t, 1, res.code)
				require.Contains(t, res.stdout, "FAIL subject       the statement is about commit "+sha+", not "+amended)
				require.Contains(t, res.stdout, "NOT trustworthy")

				// Without --key, EVIDENCE_KEY's public half is used.
				res = runCLI(t, time.Minute, bin, "", env, "verify-evidence", "--repo", repo, branch)
				require.Equal(t, 0, res.code, res.stdout)
			},
		},
		{
			name: "go: a change that breaks another test fails verify, even when the command exits 0",
			files: map[string]string{"go.mod": goMod, "calc.go": calcBuggy, "calc_test.go": calcTest,
				".script/c-1/calc.go":  "package calc\n\nfunc Add(a, b int) int { return a * b * 0 }\n\nfunc Sub(a, b int) int { return a - b }\n",
				".github/specloop.yml": evidenceConfig(bin, goJSON+" || true")},
			spec: "- [ ] [c-1] Make Sub subtract [script:overlay]\n",
			code: 1,
			stdout: []string{"verify: failure", "exited 0, but 1 test(s) passed on the start commit and fail now",
				"Verify fails: 1 test(s) passed on the start commit and fail now: `example.com/calc.TestAdd`",
				"| newly passing (red or absent → green) | 1: `example.com/calc.TestSub` |",
				"| regressions (green → red) | 1: `example.com/calc.TestAdd` |", "conclusion: failure"},
			check: func(t *testing.T, repo, branch string) {
				require.Contains(t, git(t, repo, "log", "-1", "--format=%(trailers:only,unfold)", branch), "Specloop-Red-Green: 1 newly passing, 1 regressions")
			},
		},
		{
			name: "go: require red_green with a change that adds no test fails verify",
			files: map[string]string{"go.mod": goMod, "calc.go": calcFixed, "calc_test.go": calcTest,
				".github/specloop.yml": evidenceConfig(bin, goJSON)},
			spec: "---\nrequire: red_green\n---\n- [ ] [c-1] Document Sub\n",
			code: 1,
			stdout: []string{"verify: failure", "exited 0, but no test went from red to green (`require: red_green`)\n",
				"`require: red_green` is set, but no test went from failing or absent on the start commit to passing",
				"| newly passing (red or absent → green) | 0 |", "conclusion: failure"},
		},
		{
			name: "go: a skip added fails the audit at its line",
			files: map[string]string{"go.mod": goMod, "calc.go": calcBuggy, "calc_test.go": calcTest,
				".script/c-1/calc_test.go": strings.Replace(calcTest, "func TestSub(t *testing.T) {\n", "func TestSub(t *testing.T) {\n\tt.Skip(\"later\")\n", 1),
				".github/specloop.yml":     evidenceConfig(bin, goJSON)},
			spec: "- [ ] [c-1] Make Sub subtract [script:overlay]\n",
			code: 1,
			stdout: []string{"verify: success", "audit: failure — Test-weakening check failed: 1 finding(s) (Auditor verdict: pass)",
				"  calc_test.go:12: skip added (`t.Skip`)", "The test-weakening check failed (1 finding(s))"},
		},
		{
			name: "javascript: require red_green in the repo config, with a new passing test, succeeds",
			files: map[string]string{"calc.js": jsCalcFixed, "calc.test.js": jsTest,
				".script/c-1/mul.test.js": "const test = require('node:test');\nconst assert = require('node:assert');\n\ntest('multiplies', () => {\n  assert.strictEqual(2 * 3, 6);\n});\n",
				".github/specloop.yml":    evidenceConfig(bin, jsVerify, "red_green")},
			spec:   "- [ ] [c-1] Add Mul [script:overlay]\n",
			code:   0,
			stdout: []string{"verify: success", "| newly passing (red or absent → green) | 1: `multiplies` |", "some test must go from red or absent to green", "conclusion: success"},
		},
		{
			name: "javascript: a command without per-test output says so",
			files: map[string]string{"calc.js": jsCalcBuggy, "calc.test.js": jsTest,
				".script/c-1/calc.js": jsCalcFixed, ".github/specloop.yml": evidenceConfig(bin, "node --test --test-reporter=spec *.test.js")},
			spec:   "- [ ] [c-1] Make sub subtract [script:overlay]\n",
			code:   0,
			stdout: []string{"verify: success", "**Red → green**: per-test results are not available from", "specloop shows no red → green rather than guess"},
		},
		{
			name: "python: detected pytest gives red → green through its JUnit report",
			files: map[string]string{"pyproject.toml": "[tool.pytest.ini_options]\npythonpath = [\".\"]\n", "calc.py": pyCalcBuggy, "tests/test_calc.py": pyTest,
				".script/c-1/calc.py": pyCalcFixed, ".github/specloop.yml": evidenceConfig(bin, "")},
			spec: "- [ ] [c-1] Make sub subtract [script:overlay]\n",
			code: 0,
			stdout: []string{"`" + verify.DetectedPytest + "` exited 0", "| passed | 2 |", "JUnit XML, 2 tests before, 2 after",
				"| newly passing (red or absent → green) | 1: `tests.test_calc.test_sub` |", "conclusion: success"},
			check: func(t *testing.T, repo, branch string) {
				tree := git(t, repo, "ls-tree", "-r", "--name-only", branch)
				require.NotContains(t, tree, "junit.xml", "the report is scratch")
				require.NotContains(t, tree, "__pycache__")
			},
		},
		{
			name: "python: a skip mark fails the audit at its line",
			files: map[string]string{"pyproject.toml": "[tool.pytest.ini_options]\npythonpath = [\".\"]\n", "calc.py": pyCalcBuggy, "tests/test_calc.py": pyTest,
				".script/c-1/tests/test_calc.py": strings.Replace("import pytest\n"+pyTest, "def test_sub():", "@pytest.mark.skip(reason=\"later\")\ndef test_sub():", 1),
				".github/specloop.yml":           evidenceConfig(bin, "")},
			spec:   "- [ ] [c-1] Make sub subtract [script:overlay]\n",
			code:   1,
			stdout: []string{"verify: success", "audit: failure — Test-weakening check failed", "  tests/test_calc.py:9: skip added (`@pytest.mark.skip`)"},
		},
		{
			name: "javascript: node --test's TAP gives red → green",
			files: map[string]string{"calc.js": jsCalcBuggy, "calc.test.js": jsTest,
				".script/c-1/calc.js": jsCalcFixed, ".github/specloop.yml": evidenceConfig(bin, jsVerify)},
			spec:   "- [ ] [c-1] Make sub subtract [script:overlay]\n",
			code:   0,
			stdout: []string{"verify: success", "TAP, 2 tests before, 2 after", "| newly passing (red or absent → green) | 1: `subtracts` |", "conclusion: success"},
		},
		{
			name: "javascript: an assertion removed fails the audit at its line",
			files: map[string]string{"calc.js": jsCalcBuggy, "calc.test.js": jsTest,
				".script/c-1/calc.test.js": strings.Replace(jsTest, "  assert.strictEqual(sub(3, 1), 2);\n", "  sub(3, 1);\n", 1),
				".github/specloop.yml":     evidenceConfig(bin, jsVerify)},
			spec: "- [ ] [c-1] Make sub subtract [script:overlay]\n",
			code: 1,
			stdout: []string{"audit: failure — Test-weakening check failed",
				"  calc.test.js:10: 1 assertion(s) removed from a test without a replacement (1 removed, 0 added)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sp := "# Calc\n\n" + tt.spec
			if strings.HasPrefix(tt.spec, "---\n") { // front matter stays on top
				sp = tt.spec
			}
			files := map[string]string{"specs/calc.md": sp, ".gitignore": "__pycache__/\n"}
			for k, v := range tt.files {
				files[k] = v
			}
			repo := gitRepo(t, files)
			res := runCLI(t, 4*time.Minute, bin, "", env, "cycle", "--repo", repo)
			require.Equal(t, tt.code, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			for _, w := range tt.stdout {
				require.Contains(t, res.stdout, w, "stderr:\n%s", res.stderr)
			}
			require.NotContains(t, res.stdout, seed, "the evidence key is never printed")
			if tt.check != nil {
				tt.check(t, repo, "specloop/spec/calc")
			}
		})
	}
}
