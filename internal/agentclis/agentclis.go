// Package agentclis finds the real agent CLIs the tests run, as .ci/run
// installs them. Tests only; it imports nothing of specloop.
package agentclis

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir is the npm prefix holding the real agent CLIs, as .ci/run installs
// them (SPECLOOP_AGENT_CLIS overrides). A machine without Codex and Claude
// Code there fails the test: a skipped agent test is an agent nobody
// tested.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SPECLOOP_AGENT_CLIS")
	if dir == "" {
		dir = "/var/cache/specloop/npm"
	}
	for _, bin := range []string{"codex", "claude"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", bin)); err != nil {
			t.Fatalf("the real %s CLI is not installed under %s: run .ci/run (or set SPECLOOP_AGENT_CLIS): %v", bin, dir, err)
		}
	}
	return dir
}
