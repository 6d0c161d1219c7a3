package verify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// Detect returns the verify command a repo's files suggest when
// neither the spec nor the repo config names one, or "" when nothing fits:
// go.mod → "go test -json ./..." (per-test results; the log shows the
// text go test prints), Cargo.toml → "cargo test", package.json with a
// test script → "npm test", pyproject.toml, pytest.ini or setup.py →
// pytest writing a JUnit report into ReportDir. The first match in that
// order wins.
func Detect(dir string) string {
	exists := func(name string) bool {
		fi, err := os.Stat(filepath.Join(dir, name))
		return err == nil && fi.Mode().IsRegular()
	}
	switch {
	case exists("go.mod"):
		return DetectedGo
	case exists("Cargo.toml"):
		return "cargo test"
	case hasNPMTest(filepath.Join(dir, "package.json")):
		return "npm test"
	case exists("pyproject.toml"), exists("pytest.ini"), exists("setup.py"):
		return DetectedPytest
	}
	return ""
}

// The detected commands that give per-test results. pytest's xunit1 report
// carries each test's file.
const (
	DetectedGo = "go test -json ./..."
	// pytest writes neither bytecode nor its cache into the working copy,
	// which would otherwise end up in the commit.
	DetectedPytest = "PYTHONDONTWRITEBYTECODE=1 pytest -p no:cacheprovider -o junit_family=xunit1 --junitxml=" + ReportDir + "junit.xml"
)

// hasNPMTest reports whether the package.json at name has a test script
// other than the placeholder "npm init" writes, which always fails.
func hasNPMTest(name string) bool {
	data, err := os.ReadFile(name)
	if err != nil {
		return false
	}
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
	}
	if json.Unmarshal(data, &pkg) != nil {
		return false
	}
	test := strings.TrimSpace(pkg.Scripts["test"])
	return test != "" && !strings.Contains(test, "Error: no test specified")
}
