package spec

import (
	"fmt"
	"strings"
	"testing"
)

// BenchFile is a task file of n items in format f, shaped like the tool's
// own: phases or groups of ten, tags, dependencies, sub-bullets and
// requirement references.
func benchFile(f Format, n int) []byte {
	var b strings.Builder
	b.WriteString("---\ndescription: \"benchmark\"\n---\n# Tasks\n")
	for i := 1; i <= n; i++ {
		group := (i-1)/10 + 1
		if (i-1)%10 == 0 {
			fmt.Fprintf(&b, "\n## %d. Group %d\n\n", group, group)
		}
		switch f {
		case FormatSpecKit:
			fmt.Fprintf(&b, "- [ ] T%03d [P] [US%d] Implement part %d in src/p%d.go", i, group, i, i)
			if i > 1 {
				fmt.Fprintf(&b, " (depends on T%03d)", i-1)
			}
			b.WriteString("\n")
		case FormatKiro:
			if (i-1)%10 == 0 {
				fmt.Fprintf(&b, "- [ ] %d. Group task %d\n", group, group)
				continue
			}
			fmt.Fprintf(&b, "- [ ] %d.%d Implement part %d\n  - Write the code\n  - _Requirements: %d.1, %d.2_\n", group, (i-1)%10, i, group, group)
		case FormatOpenSpec:
			fmt.Fprintf(&b, "- [ ] %d.%d Implement part %d\n", group, (i-1)%10+1, i)
		default:
			fmt.Fprintf(&b, "- [ ] Implement part %d of the thing\n", i)
		}
	}
	return []byte(b.String())
}

func BenchmarkLint200(b *testing.B) {
	for _, f := range []Format{FormatPlain, FormatSpecKit, FormatKiro, FormatOpenSpec} {
		src := benchFile(f, 200)
		path := map[Format]string{FormatPlain: "specs/a.md", FormatSpecKit: "specs/001-a/tasks.md",
			FormatKiro: ".kiro/specs/a/tasks.md", FormatOpenSpec: "openspec/changes/a/tasks.md"}[f]
		b.Run(string(f), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if errs := Lint(path, src); HasErrors(errs) {
					b.Fatal(errs)
				}
			}
		})
	}
}
