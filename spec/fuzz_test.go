package spec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		authSpec,
		crlf(authSpec),
		"---\nverify: x\nafter: [a]\n---\n- [ ] [a] one\n  - [x] two (after: a)\n",
		"---\n- [ ] x\n",
		"> - [ ] q\n>   - [ ] r\n",
		"1. [ ]\n2. [x] [b]\n",
		"Title\n===\n- [\t] tab\n",
		"- [ ] [a] x (after: a)\n",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) { checkParse(t, "f.md", src) })
}

// One fuzz target per format, seeded from the tools' own files, so the
// fuzzer starts from the syntax each of them writes.

func FuzzSpecKit(f *testing.F) {
	f.Add(string(readTestdata(f, "speckit/tasks-template.md")))
	f.Add("- [X] T001 [P] [US1] a (depends on T002)\n- [ ] T002 b\n")
	f.Fuzz(func(t *testing.T, src string) { checkParse(t, "specs/001-x/tasks.md", src) })
}

func FuzzKiro(f *testing.F) {
	f.Add(string(readTestdata(f, "kiro/sample.tasks.md")))
	f.Add("- [ ] 1. Parent\n- [ ] 1.1 Child\n  - detail\n  - _Requirements: 1.1, 2.3_\n- [ ]* 1.2 Optional\n- [-] 2. Going\n")
	f.Fuzz(func(t *testing.T, src string) { checkParse(t, ".kiro/specs/x/tasks.md", src) })
}

func FuzzOpenSpec(f *testing.F) {
	f.Add(string(readTestdata(f, "openspec/fix-schemas-root-selection.tasks.md")))
	f.Add(string(readTestdata(f, "openspec/add-global-install-scope.tasks.md")))
	f.Fuzz(func(t *testing.T, src string) { checkParse(t, "openspec/changes/x/tasks.md", src) })
}

// checkParse holds for any input: problems have lines, there is always an
// obligation, and ticking one changes exactly its marker byte to a done
// one and keeps its id.
func checkParse(t *testing.T, path, src string) {
	errs := Lint(path, []byte(src))
	for _, e := range errs {
		require.Positive(t, e.Line, "%v", e)
	}
	s, _ := parse(path, []byte(src), false, "")
	require.NotEmpty(t, s.Obligations)
	s.Status()
	s.Next()

	o := s.Obligations[0]
	out, err := Tick(path, []byte(src), o.ID)
	if o.Box < 0 {
		require.ErrorIs(t, err, ErrNoCheckbox)
		return
	}
	require.NoError(t, err)
	require.Len(t, out, len(src))
	diff := 0
	for i := range out {
		if out[i] != src[i] {
			diff++
			require.Equal(t, o.Box+1, i)
			require.Contains(t, "xX", string(out[i]))
		}
	}
	require.LessOrEqual(t, diff, 1)
	if !o.Done {
		require.Equal(t, 1, diff)
		ticked, _ := parse(path, out, false, "")
		require.NotNil(t, ticked.Obligation(o.ID), "ticking must not change the id")
		require.True(t, ticked.Obligation(o.ID).Done)
	}
}
