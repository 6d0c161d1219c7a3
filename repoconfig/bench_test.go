package repoconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specloop/specloop/spec"
)

// BenchmarkDiscoverAndLint is `specloop spec lint DIR` on a repository of
// 1,000 task files of 200 items, a quarter in each format, beside context
// documents discovery must pass over: discovery, then reading and linting
// every file.
func BenchmarkDiscoverAndLint(b *testing.B) {
	dir := b.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	items := func(code func(i int) string) string {
		var s strings.Builder
		s.WriteString("# Tasks\n\n")
		for i := 1; i <= 200; i++ {
			if i%20 == 1 {
				fmt.Fprintf(&s, "\n## %d. Group\n\n", i/20+1)
			}
			fmt.Fprintf(&s, "- [ ] %s Implement part %d\n  - detail\n", code(i), i)
		}
		return s.String()
	}
	for n := range 250 {
		write(fmt.Sprintf("specs/plain-%03d.md", n), items(func(i int) string { return fmt.Sprintf("[p-%d]", i) }))
		write(fmt.Sprintf("specs/%03d-kit/tasks.md", n), items(func(i int) string { return fmt.Sprintf("T%03d [P] [US1]", i) }))
		write(fmt.Sprintf("specs/%03d-kit/plan.md", n), "# Plan\n\n- [ ] gate\n")
		write(fmt.Sprintf("specs/%03d-kit/spec.md", n), "# Spec\n")
		write(fmt.Sprintf(".kiro/specs/k%03d/tasks.md", n), items(func(i int) string { return fmt.Sprintf("%d.%d", i/10+1, i%10+1) }))
		write(fmt.Sprintf(".kiro/specs/k%03d/requirements.md", n), "### Requirement 1\n")
		write(fmt.Sprintf("openspec/changes/c%03d/tasks.md", n), items(func(i int) string { return fmt.Sprintf("%d.%d", i/10+1, i%10+1) }))
		write(fmt.Sprintf("openspec/changes/c%03d/proposal.md", n), "# Why\n")
	}
	cfg, err := Parse(nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		paths, err := cfg.SpecFiles(dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(paths) != 1000 {
			b.Fatalf("found %d task files, want 1000", len(paths))
		}
		// As `specloop spec lint DIR` does.
		for _, l := range spec.LintAll(paths, func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, p)) }) {
			if l.Err != nil || spec.HasErrors(l.Problems) {
				b.Fatal(l.Err, l.Problems)
			}
		}
	}
}
