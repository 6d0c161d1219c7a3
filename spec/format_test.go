package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return src
}

// TestRealFiles parses the tools' own files (testdata/SOURCE.md) at the
// path each tool keeps them, as discovery would find them.
func TestRealFiles(t *testing.T) {
	t.Parallel()

	tests := []struct {
		file, path string
		format     Format
		counts     map[State]int
		next       string
		warnings   []string // "line: substring"
		check      func(t *testing.T, s *Spec)
	}{
		{
			file: "speckit/tasks-template.md", path: "specs/001-photos/tasks.md", format: FormatSpecKit,
			counts:   map[State]int{StateOpen: 33, StateBlocked: 1},
			next:     "T001",
			warnings: []string{`3: warning: front matter: unknown key "description" ignored`},
			check: func(t *testing.T, s *Spec) {
				o := s.Obligation("T005")
				require.NotNil(t, o, "[P] before the text is a tag, T005 the id")
				require.Equal(t, []string{"P"}, o.Tags)
				require.Equal(t, "Implement authentication/authorization framework", o.Text)
				o = s.Obligation("T014")
				require.Equal(t, []string{"US1"}, o.Tags)
				require.Equal(t, []string{"T012", "T013"}, o.After, "(depends on …) is an after:")
				require.NotContains(t, o.Text, "depends on")
				require.Equal(t, []string{"Tasks: [FEATURE NAME]", "Phase 3: User Story 1 - [Title] (Priority: P1) 🎯 MVP", "Implementation for User Story 1"}, o.Headings, "phases are sections")
				require.Equal(t, []string{"P", "US1"}, s.Obligation("T010").Tags)
			},
		},
		{
			file: "kiro/sample.tasks.md", path: ".kiro/specs/users/tasks.md", format: FormatKiro,
			counts: map[State]int{StateDone: 1, StateBlocked: 2, StateInProgress: 1, StateOpen: 2, StateOptional: 2},
			next:   "2.2",
			check: func(t *testing.T, s *Spec) {
				two := s.Obligation("2")
				require.Equal(t, []string{"2.1", "2.2", "2.3"}, two.Children, "flat 2.1 is a child of 2.")
				require.Equal(t, "2", s.Obligation("2.1").Parent)
				require.Equal(t, byte('-'), s.Obligation("2.1").Marker)
				require.True(t, s.Obligation("2.3").Optional)
				require.Equal(t, []string{"2.1", "3.3", "1.2"}, s.Obligation("2.1").Requirements)
				require.Equal(t, []string{
					"- Write TypeScript interfaces for all data models",
					"- Implement validation functions for data integrity",
					"- _Requirements: 2.1, 3.3, 1.2_",
				}, s.Obligation("2.1").Details)
				require.Equal(t, "3", s.Obligation("3.2").Parent, "nested by indent too")
				require.Equal(t, []string{"- Write connection management code", "- _Requirements: 2.1_"}, s.Obligation("3.1").Details, "a child's bullets are its own")
				require.True(t, strings.HasPrefix(s.Obligation("2.2").Section, "- [ ] 2. Implement data models"), "a Kiro section is the top-level task")
				require.NotContains(t, s.Obligation("2.2").Section, "3. Create storage")

				s.IncludeOptional = true
				var ids []string
				for _, st := range s.Status() {
					if st.State == StateOpen {
						ids = append(ids, st.ID)
					}
				}
				require.Equal(t, []string{"2.2", "2.3", "3.1", "3.2"}, ids, "include_optional: true makes * items work")
			},
		},
		{
			file: "openspec/fix-schemas-root-selection.tasks.md", path: "openspec/changes/fix-schemas-root-selection/tasks.md", format: FormatOpenSpec,
			counts: map[State]int{StateDone: 13, StateOpen: 1},
			next:   "3.4",
			check: func(t *testing.T, s *Spec) {
				require.Equal(t, []string{"3. Regression and cross-platform verification"}, s.Obligation("3.4").Headings)
				require.Empty(t, s.Obligation("3.4").Parent, "## 1. Group is a heading, not a task")
			},
		},
		{
			file: "openspec/add-global-install-scope.tasks.md", path: "openspec/changes/add-global-install-scope/tasks.md", format: FormatOpenSpec,
			counts: map[State]int{StateOpen: 38},
			next:   "1.1",
		},
		{
			file: "openspec/simplify-skill-installation.tasks.md", path: "openspec/changes/simplify-skill-installation/tasks.md", format: FormatOpenSpec,
			counts: map[State]int{StateDone: 90}, // its two open items are inside an HTML comment
		},
		{
			file: "plain/auth.md", path: "specs/auth.md", format: FormatPlain,
			counts: map[State]int{StateDone: 1, StateOpen: 1, StateBlocked: 2},
			next:   "auth-3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			src := readTestdata(t, tt.file)
			errs := Lint(tt.path, src)
			require.False(t, HasErrors(errs), "%v", errs)
			require.Len(t, errs, len(tt.warnings), "%v", errs)
			for i, w := range tt.warnings {
				require.Contains(t, errs[i].Error(), tt.path+":"+w)
			}
			s, err := Parse(tt.path, src)
			require.NoError(t, err)
			require.Equal(t, tt.format, s.Format)
			counts := map[State]int{}
			for _, st := range s.Status() {
				counts[st.State]++
			}
			require.Equal(t, tt.counts, counts)
			if next, ok := s.Next(); tt.next != "" {
				require.True(t, ok)
				require.Equal(t, tt.next, next.ID)
			} else if ok {
				require.NotEmpty(t, next.ID)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
			// Ticking whatever is next changes one byte, the marker.
			if next, ok := s.Next(); ok {
				out, err := s.Tick(next.ID)
				require.NoError(t, err)
				requireOneByte(t, src, out, next.Box+1)
			}
		})
	}
}

func requireOneByte(t *testing.T, src, out []byte, at int) {
	t.Helper()
	require.Len(t, out, len(src))
	for i := range out {
		if i != at {
			require.Equal(t, src[i], out[i], "byte %d changed", i)
		}
	}
	require.NotEqual(t, src[at], out[at])
}

func TestTickKeepsStyle(t *testing.T) {
	t.Parallel()

	tests := []struct{ name, src, id, want string }{
		{"capital X file", "- [X] T001 one\n- [ ] T002 two\n", "T002", "- [X] T001 one\n- [X] T002 two\n"},
		{"lower x file", "- [x] T001 one\n- [ ] T002 two\n", "T002", "- [x] T001 one\n- [x] T002 two\n"},
		{"mixed takes x", "- [X] T001 one\n- [x] T003 three\n- [ ] T002 two\n", "T002", "- [X] T001 one\n- [x] T003 three\n- [x] T002 two\n"},
		{"optional keeps star", "- [ ]* 1.1 tests\n", "1.1", "- [x]* 1.1 tests\n"},
		{"in progress", "- [-] 2.1 model\n", "2.1", "- [x] 2.1 model\n"},
		{"crlf", "- [ ] 1. a\r\n  - _Requirements: 1.1_\r\n", "1", "- [x] 1. a\r\n  - _Requirements: 1.1_\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Tick("specs/s.md", []byte(tt.src), tt.id)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(out))
		})
	}
}

func TestItemSyntax(t *testing.T) {
	t.Parallel()

	tests := []struct {
		item  string
		id    string // "" means derived
		text  string
		tags  []string
		after []string
	}{
		{"- [ ] T001 [P] [US1] Create model", "T001", "Create model", []string{"P", "US1"}, nil},
		{"- [ ] [P] T005 Parallel first", "T005", "Parallel first", []string{"P"}, nil},
		{"- [ ] CHK001 Are requirements complete?", "CHK001", "Are requirements complete?", nil, nil},
		{"- [ ] T014 Service (depends on T001, T005)", "T014", "Service", nil, []string{"T001", "T005"}},
		{"- [ ] T015 Svc (depends on T001 and T005) in src/", "T015", "Svc in src/", nil, []string{"T001", "T005"}},
		{"- [ ] T016 Svc (depends on T001 + T005 completion)", "T016", "Svc", nil, []string{"T001", "T005"}},
		{"- [ ] 12.1 Kiro child", "12.1", "Kiro child", nil, nil},
		{"- [ ] 3. Kiro parent", "3", "Kiro parent", nil, nil},
		{"- [ ] 1.2. trailing dot", "1.2", "trailing dot", nil, nil},
		{"- [ ] [P1] [auth-1] tag then bracket", "", "[auth-1] tag then bracket", []string{"P1"}, nil},
		{"- [ ] [auth-1] explicit id", "auth-1", "explicit id", nil, nil},
		{"- [ ] 2024 was a year", "", "2024 was a year", nil, nil},
		{"- [ ] T1 too short a code", "", "T1 too short a code", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.item, func(t *testing.T) {
			t.Parallel()
			src := tt.item + "\n- [ ] T001 a\n- [ ] T005 b\n"
			if strings.HasPrefix(tt.item, "- [ ] T001") {
				src = tt.item + "\n"
			}
			s, _ := parse("specs/s.md", []byte(src), false, "")
			o := s.Obligations[0]
			require.Equal(t, tt.text, o.Text)
			require.Equal(t, tt.tags, o.Tags)
			require.Equal(t, tt.after, o.After)
			if tt.id != "" {
				require.Equal(t, tt.id, o.ID)
			} else {
				require.Equal(t, derivedID("specs/s.md", tt.text), o.ID)
			}
		})
	}
}

func TestMarkers(t *testing.T) {
	t.Parallel()

	src := "- [ ] open\n- [x] done\n- [X] Done\n- [-] going\n- [ ]* maybe\n- [x]* did maybe\n- [~] odd\n- [a] a link\n- [ ]no blank\n"
	s, errs := parse("specs/s.md", []byte(src), false, "")
	require.Len(t, errs, 1)
	require.True(t, errs[0].Warning)
	require.Equal(t, "specs/s.md:7: warning: unknown marker [~]: read as open; use [ ], [x], [-] or [ ]*", errs[0].Error())
	var got []string
	for _, st := range s.Status() {
		got = append(got, st.Text+"="+string(st.State))
	}
	require.Equal(t, []string{"open=open", "done=done", "Done=done", "going=in_progress", "maybe=optional", "did maybe=done", "odd=open"}, got,
		"an unknown marker is never skipped; [a] and [ ]no are not boxes")
}

func TestFrontMatterOfOtherTools(t *testing.T) {
	t.Parallel()

	for _, src := range []string{
		"---\ndescription: \"Task list template for feature implementation\"\n---\n- [ ] T001 a\n",
		"---\nname: Bug report\nabout: Create a report\nlabels: bug\n---\n- [ ] a\n",
	} {
		s, err := Parse("specs/s.md", []byte(src))
		require.NoError(t, err, "keys of other tools do not stop a cycle")
		require.NotEmpty(t, s.Warnings)
		for _, w := range s.Warnings {
			require.Contains(t, w.Error(), "warning: front matter: unknown key")
		}
	}
}

func TestRequirements(t *testing.T) {
	t.Parallel()

	doc := readTestdata(t, "kiro/requirements.md")
	got := Requirements(doc, []string{"1.2", "2.1", "9.9", "2"})
	require.Equal(t, "IF the e-mail address is already taken THEN the system SHALL reject the request with a clear message.", got[0].Text)
	require.Equal(t, "WHEN the service restarts THEN the system SHALL keep every stored user.", got[1].Text)
	require.Empty(t, got[2].Text)
	require.True(t, strings.HasPrefix(got[3].Text, "### Requirement 2\n"))
	require.Equal(t, got[3].Text, Requirements(doc, []string{"2.*"})[0].Text, "Kiro's 2.* is all of requirement 2")

	spec := []byte("## Requirements\n\n- **FR-001**: System MUST allow sign-up\n- **FR-0010**: other\n")
	require.Equal(t, "**FR-001**: System MUST allow sign-up", Requirements(spec, []string{"FR-001"})[0].Text)

	real := []byte("### Requirement 3 — Resume on decision\n\n#### Acceptance Criteria\n1. WHEN the operator approves THEN go.\n2. WHEN the operator rejects THEN stop.\n")
	require.Equal(t, "WHEN the operator rejects THEN stop.", Requirements(real, []string{"3.2"})[0].Text)
}

func TestCandidate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		path string
		want bool
	}{
		{"specs/auth.md", true},
		{"specs/a/b/c.md", true},
		{"specs/001-photos/tasks.md", true},
		{"specs/001-photos/spec.md", false},
		{"specs/001-photos/plan.md", false},
		{"specs/001-photos/data-model.md", false},
		{"specs/001-photos/research.md", false},
		{"specs/001-photos/quickstart.md", false},
		{"specs/001-photos/checklists/requirements.md", false},
		{"specs/001-photos/contracts/api.md", false},
		{"specs/tasks-template.md", false},
		{"specs/templates/x.md", false},
		{".specify/templates/tasks-template.md", false},
		{".kiro/specs/users/tasks.md", true},
		{".kiro/specs/users/requirements.md", false},
		{".kiro/specs/users/design.md", false},
		{"openspec/changes/add-x/tasks.md", true},
		{"openspec/changes/add-x/proposal.md", false},
		{"openspec/changes/archive/2025-01-11-add-x/tasks.md", false},
		{"openspec/changes/archive/tasks.md", false},
		{"docs/tasks.md", false},
		{"specs/a.txt", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Candidate(tt.path), tt.path)
	}
	require.False(t, HasTaskList("specs/notes.md", []byte("# Notes\n\nprose, `- [ ] in code`\n\n```\n- [ ] fenced\n```\n")))
	require.True(t, HasTaskList("specs/notes.md", []byte("# Notes\n\n- [ ] a task\n")))
}

func TestContextDocs(t *testing.T) {
	t.Parallel()

	have := map[string]bool{
		"specs/001-x/spec.md": true, "specs/001-x/plan.md": true, "specs/001-x/contracts": true,
		".specify/memory/constitution.md": true,
		".kiro/specs/u/requirements.md":   true, ".kiro/specs/u/design.md": true,
		"openspec/changes/c/proposal.md": true, "openspec/changes/c/specs": true, "openspec/specs": true,
	}
	exists := func(p string) bool { return have[p] }
	require.Equal(t, []string{"specs/001-x/spec.md", "specs/001-x/plan.md", "specs/001-x/contracts/", ".specify/memory/constitution.md"}, ContextDocs("specs/001-x/tasks.md", exists))
	require.Equal(t, []string{".kiro/specs/u/requirements.md", ".kiro/specs/u/design.md"}, ContextDocs(".kiro/specs/u/tasks.md", exists))
	require.Equal(t, []string{"openspec/changes/c/proposal.md", "openspec/changes/c/specs/", "openspec/specs/"}, ContextDocs("openspec/changes/c/tasks.md", exists))
	require.Empty(t, ContextDocs("specs/auth.md", exists))
}

func TestLintAll(t *testing.T) {
	t.Parallel()
	files := map[string]string{"a.md": "- [ ] [a] x\n- [ ] [a] y\n", "b.md": "- [ ] fine\n", "c.md": ""}
	paths := []string{"c.md", "missing.md", "a.md", "b.md"}
	got := LintAll(paths, func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	})
	require.Len(t, got, 4)
	for i, p := range paths {
		require.Equal(t, p, got[i].Path, "in the order given")
	}
	require.ErrorIs(t, got[1].Err, os.ErrNotExist)
	require.Len(t, got[2].Problems, 1)
	require.Empty(t, got[3].Problems)
	require.Nil(t, got[2].Spec, "no spec when lint found errors")
	require.Equal(t, "fine", got[3].Spec.Obligations[0].Text)
	require.Empty(t, LintAll(nil, nil))
}

func TestHasTaskList(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]bool{
		"- [ ] a\n":                          true,
		"# T\n\ntext\n- [x] b\n":             true,
		"1. [ ] ordered\n":                   true,
		"> - [ ] quoted\n":                   true,
		"```\n- [ ] fenced\n```\n":           false,
		"<!--\n- [ ] commented\n-->\n":       false,
		"    - [ ] indented code\n":          false,
		"```\nx\n```\n\n- [ ] after fence\n": true,
		"- [ ]no blank\n":                    false,
		"prose\n":                            false,
	} {
		require.Equal(t, want, HasTaskList("specs/x.md", []byte(src)), "%q", src)
	}
}
