package spec

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// crlf turns a spec written with "\n" into the same spec with Windows
// line endings, as issue bodies and some checkouts have them.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const authSpec = `# Auth

Users sign in with a password.

## Login

- [ ] [auth-1] Add the login form
  with a remember-me box
  - [x] Render the form
  - [ ] Validate the password
- [ ] Rate-limit failed attempts

## Logout

` + "```" + `
- [ ] not an obligation: inside a code block
` + "```" + `

- [x] [auth-9] Clear the session
`

func TestParseObligations(t *testing.T) {
	t.Parallel()

	s, err := Parse("specs/auth.md", []byte(authSpec))
	require.NoError(t, err)
	require.Equal(t, "Auth", s.Title)
	require.Len(t, s.Obligations, 5)

	type want struct {
		text     string
		done     bool
		line     int
		headings []string
		parent   string
		children int
	}
	render, validate, rate := s.Obligations[1].ID, s.Obligations[2].ID, s.Obligations[3].ID
	wants := []want{
		{"Add the login form with a remember-me box", false, 7, []string{"Auth", "Login"}, "", 2},
		{"Render the form", true, 9, []string{"Auth", "Login"}, "auth-1", 0},
		{"Validate the password", false, 10, []string{"Auth", "Login"}, "auth-1", 0},
		{"Rate-limit failed attempts", false, 11, []string{"Auth", "Login"}, "", 0},
		{"Clear the session", true, 19, []string{"Auth", "Logout"}, "", 0},
	}
	for i, w := range wants {
		o := s.Obligations[i]
		require.Equal(t, w.text, o.Text, "obligation %d", i)
		require.Equal(t, w.done, o.Done, "obligation %d", i)
		require.Equal(t, w.line, o.Line, "obligation %d", i)
		require.Equal(t, w.headings, o.Headings, "obligation %d", i)
		require.Equal(t, w.parent, o.Parent, "obligation %d", i)
		require.Len(t, o.Children, w.children, "obligation %d", i)
		require.Equal(t, "[", authSpec[o.Box:o.Box+1])
		require.Same(t, o, s.Obligation(o.ID))
	}
	require.Equal(t, "auth-1", s.Obligations[0].ID)
	require.Equal(t, "auth-9", s.Obligations[4].ID)
	require.Equal(t, []string{render, validate}, s.Obligations[0].Children)
	require.Regexp(t, `^rate-limit-failed-[0-9a-f]{6}$`, rate)

	login := s.Obligations[0].Section
	require.True(t, strings.HasPrefix(login, "## Login\n"), login)
	require.True(t, strings.HasSuffix(login, "- [ ] Rate-limit failed attempts"), login)
	require.NotContains(t, login, "Logout")
	require.True(t, strings.HasPrefix(s.Obligations[4].Section, "## Logout"))
}

func TestParseHeadings(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		src      string
		headings []string
		section  string
	}{
		{"before any heading", "intro\n\n- [ ] a\n\n# H\n", nil, "intro\n\n- [ ] a"},
		{"deeper heading pops", "# A\n## B\n### C\n## D\n- [ ] a\n", []string{"A", "D"}, "## D\n- [ ] a"},
		{"skipped level", "# A\n### C\n- [ ] a\n", []string{"A", "C"}, "### C\n- [ ] a"},
		{"setext", "Title\n=====\nSub\n---\n- [ ] a\n", []string{"Title", "Sub"}, "Sub\n---\n- [ ] a"},
		{"closing hashes", "## Login ##\n- [ ] a\n", []string{"Login"}, "## Login ##\n- [ ] a"},
		{"heading in a quote does not count", "# A\n> # Q\n> - [ ] a\n", []string{"A"}, "# A\n> # Q\n> - [ ] a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("s.md", []byte(tt.src))
			require.NoError(t, err)
			require.Len(t, s.Obligations, 1)
			require.Equal(t, tt.headings, s.Obligations[0].Headings)
			require.Equal(t, tt.section, s.Obligations[0].Section)
		})
	}
}

func TestItemText(t *testing.T) {
	t.Parallel()

	tests := []struct {
		item  string
		id    string // "" means derived
		text  string
		after []string
	}{
		{"- [ ] [auth-1] Add login", "auth-1", "Add login", nil},
		{"- [ ] [a.b_c-2] x", "a.b_c-2", "x", nil},
		{"- [ ] [docs](http://x) update the docs", "", "[docs](http://x) update the docs", nil},
		{"- [ ] [not an id] text", "", "[not an id] text", nil},
		{"- [ ] use `[x]` in code", "", "use `[x]` in code", nil},
		{"- [ ] Deploy (after: a-1, a-2)", "", "Deploy", []string{"a-1", "a-2"}},
		{"- [ ] [d-1] Deploy (After: a-1 a-2)", "d-1", "Deploy", []string{"a-1", "a-2"}},
		{"- [ ] Deploy (after: a-1) later", "", "Deploy (after: a-1) later", nil},
		{"* [X] star and capital X", "", "star and capital X", nil},
		{"1. [ ] ordered", "", "ordered", nil},
	}
	for _, tt := range tests {
		t.Run(tt.item, func(t *testing.T) {
			t.Parallel()
			src := tt.item + "\n"
			if len(tt.after) > 0 {
				src += "- [ ] [a-1] one\n- [ ] [a-2] two\n"
			}
			s, err := Parse("s.md", []byte(src))
			require.NoError(t, err)
			o := s.Obligations[0]
			require.Equal(t, tt.text, o.Text)
			require.Equal(t, tt.after, o.After)
			if tt.id != "" {
				require.Equal(t, tt.id, o.ID)
			} else {
				require.Equal(t, derivedID("s.md", tt.text), o.ID)
			}
		})
	}
}

func TestDerivedIDStable(t *testing.T) {
	t.Parallel()

	const base = "# Auth\n\n- [ ] Add the login form\n- [ ] Log out\n"
	id := func(t *testing.T, path, src, text string) string {
		t.Helper()
		s, err := Parse(path, []byte(src))
		require.NoError(t, err)
		for _, o := range s.Obligations {
			if o.Text == text || strings.EqualFold(normalize(o.Text), normalize(text)) {
				return o.ID
			}
		}
		t.Fatalf("no obligation %q in %q", text, src)
		return ""
	}
	want := id(t, "specs/auth.md", base, "Add the login form")
	require.Regexp(t, `^add-the-login-form-[0-9a-f]{6}$`, want)

	same := []struct{ name, path, src string }{
		{"item added before", "specs/auth.md", "# Auth\n\n- [ ] First things\n- [ ] Add the login form\n- [ ] Log out\n"},
		{"other item removed", "specs/auth.md", "# Auth\n\n- [ ] Add the login form\n"},
		{"heading moved and renamed", "specs/auth.md", "intro\n\n# Sessions\n\n## Web\n\n- [ ] Log out\n- [ ] Add the login form\n"},
		{"ticked", "specs/auth.md", "# Auth\n\n- [x] Add the login form\n- [ ] Log out\n"},
		{"nested under another item", "specs/auth.md", "# Auth\n\n- [ ] Log out\n  - [ ] Add the login form\n"},
		{"case and spacing", "specs/auth.md", "# Auth\n\n- [ ]  add the   Login form\n"},
		{"after clause added", "specs/auth.md", "# Auth\n\n- [ ] Add the login form (after: lo)\n- [ ] [lo] Log out\n"},
		{"crlf and front matter", "specs/auth.md", crlf("---\nverify: make\n---\n# Auth\n\n- [ ] Add the login form\n")},
		{"dot slash path", "./specs/auth.md", base},
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, want, id(t, tt.path, tt.src, "Add the login form"))
		})
	}

	require.NotEqual(t, want, id(t, "specs/auth.md", "- [ ] Add a login form\n", "Add a login form"), "reworded")
	require.NotEqual(t, want, id(t, "specs/other.md", base, "Add the login form"), "other file")
}

func TestNotABox(t *testing.T) {
	t.Parallel()

	for _, src := range []string{
		"- [ ]no blank after the box\n",
		"- [\r] carriage return\n",
		"text - [ ] mid-line\n",
		"    - [ ] indented code\n",
		"- [y] other letter\n",
		"- x [ ] not first\n",
	} {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("s.md", []byte(src))
			require.NoError(t, err)
			require.Len(t, s.Obligations, 1)
			require.Equal(t, -1, s.Obligations[0].Box, "the whole spec is the obligation")
		})
	}
}

func TestDuplicateTextGetsSuffix(t *testing.T) {
	t.Parallel()

	s, err := Parse("s.md", []byte("# A\n- [ ] Add tests\n# B\n- [ ] Add tests\n- [ ] add  tests\n"))
	require.NoError(t, err)
	base := derivedID("s.md", "Add tests")
	require.Equal(t, base, s.Obligations[0].ID)
	require.Equal(t, base+"-2", s.Obligations[1].ID)
	require.Equal(t, base+"-3", s.Obligations[2].ID)
}

func TestFrontMatter(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		src     string
		verify  string
		require string
		paths   []string
		after   []string
		title   string
		line    int // line of the first obligation
	}{
		{
			name:   "lists",
			src:    "---\nverify: go test ./...\nrequire: red_green\npaths: [\"auth/**\", cmd/*.go]\nafter: [a]\n---\n# T\n- [ ] [a] x\n- [ ] y\n",
			verify: "go test ./...", require: "red_green", paths: []string{"auth/**", "cmd/*.go"}, after: []string{"a"}, title: "T", line: 8,
		},
		{
			name:  "scalars",
			src:   "---\npaths: docs/**\nafter: a, b\ntitle: Given\n---\n- [ ] [a] x\n- [ ] [b] y\n- [ ] z\n",
			paths: []string{"docs/**"}, after: []string{"a", "b"}, title: "Given", line: 6,
		},
		{
			name:   "crlf and dots",
			src:    crlf("---\nverify: make check\n...\n- [ ] x\n"),
			verify: "make check", title: "s", line: 4,
		},
		{
			name:  "bom and empty",
			src:   "\xef\xbb\xbf---\n---\n- [ ] x\n",
			title: "s", line: 3,
		},
		{
			name:  "not at the top is a thematic break",
			src:   "\n---\nverify: x\n---\n- [ ] x\n",
			title: "verify: x", line: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("specs/s.md", []byte(tt.src))
			require.NoError(t, err)
			require.Equal(t, tt.verify, s.Verify)
			require.Equal(t, tt.require, s.Require)
			require.Equal(t, tt.paths, s.Paths)
			require.Equal(t, tt.after, s.After)
			require.Equal(t, tt.title, s.Title)
			require.Equal(t, tt.line, s.Obligations[0].Line)
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		src  string
		want []string // "line: message substring", in order
	}{
		{"unclosed front matter", "---\nverify: x\n- [ ] a\n", []string{"1: front matter: no closing ---"}},
		{"invalid yaml", "---\nverify: x\nafter: a: b\n---\n- [ ] a\n", []string{"3: front matter: not valid YAML: mapping values are not allowed in this context"}},
		{"unclosed flow", "---\nverify: x\npaths: [a\n---\n- [ ] a\n", []string{"2: front matter: not valid YAML: did not find expected ',' or ']'"}},
		{"yaml not a mapping", "---\n- a\n---\n- [ ] a\n", []string{"2: front matter: want key: value"}},
		{"verify not a string", "---\nverify: [a, b]\n---\n- [ ] a\n", []string{"2: front matter: verify: want a string"}},
		{"require unknown", "---\nrequire: green\n---\n- [ ] a\n", []string{"2: front matter: require: want red_green"}},
		{"bad glob", "---\npaths: [\"a/[\"]\n---\n- [ ] a\n", []string{`2: front matter: paths: bad glob "a/["`}},
		{"paths a map", "---\npaths: {a: b}\n---\n- [ ] a\n", []string{"2: front matter: paths: want a glob"}},
		{"after a map", "---\nafter: {a: b}\n---\n- [ ] a\n", []string{"2: front matter: after: want an id"}},
		{"duplicate ids", "- [ ] [a] one\n- [ ] [b] two\n\n- [ ] [a] three\n", []string{`4: duplicate id "a" (first at line 1)`}},
		{"unknown after on item", "- [ ] [a] one\n- [ ] two (after: a, zz)\n", []string{`2: after: unknown id "zz"`}},
		{"unknown after in front matter", "---\nverify: x\nafter: [nope]\n---\n- [ ] a\n", []string{`3: after: unknown id "nope"`}},
		{"empty after", "- [ ] two (after: )\n", []string{"1: empty (after: ) list"}},
		{"empty item", "- [ ] [a] one\n- [ ]\n", []string{"2: task item has no text"}},
		{"self cycle", "- [ ] [a] one (after: a)\n", []string{"1: dependency cycle: a -> a"}},
		{"cycle", "- [ ] [a] one (after: c)\n- [ ] [b] two (after: a)\n- [ ] [c] three (after: b)\n", []string{"1: dependency cycle: a -> c -> b -> a"}},
		{"child after parent", "- [ ] [p] parent\n  - [ ] [c] child (after: p)\n", []string{"1: dependency cycle: p -> c -> p (a parent waits for its nested items)"}},
		{"several, in line order", "---\nbogus: 1\n---\n- [ ] [a] x (after: q)\n- [ ] [a] y\n", []string{`2: warning: front matter: unknown key "bogus"`, `4: after: unknown id "q"`, `5: duplicate id "a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := Lint("specs/s.md", []byte(tt.src))
			require.Len(t, errs, len(tt.want), "%v", errs)
			for i, w := range tt.want {
				require.Contains(t, errs[i].Error(), "specs/s.md:"+w)
			}

			_, err := Parse("specs/s.md", []byte(tt.src))
			require.Error(t, err)
			var e *Error
			require.True(t, errors.As(err, &e))
			for _, w := range errs {
				if !w.Warning {
					require.Equal(t, w, e, "the first error, warnings left out")
					break
				}
			}
		})
	}
}

func TestNextAndStatus(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		src    string
		next   string // "" when none
		states map[string]string
	}{
		{
			name:   "first open in document order",
			src:    "- [x] [a] one\n- [ ] [b] two\n- [ ] [c] three\n",
			next:   "b",
			states: map[string]string{"a": "done", "b": "open", "c": "open"},
		},
		{
			name:   "item after",
			src:    "- [ ] [a] one (after: c)\n- [ ] [b] two\n- [ ] [c] three\n",
			next:   "b",
			states: map[string]string{"a": "blocked c", "b": "open", "c": "open"},
		},
		{
			name:   "after satisfied",
			src:    "- [ ] [a] one (after: c)\n- [x] [c] three\n",
			next:   "a",
			states: map[string]string{"a": "open", "c": "done"},
		},
		{
			name:   "children before parent",
			src:    "- [ ] [p] parent\n  - [x] [c1] one\n  - [ ] [c2] two\n  - [ ] [c3] three\n- [ ] [q] next\n",
			next:   "c2",
			states: map[string]string{"p": "blocked c2 c3", "c1": "done", "c2": "open", "c3": "open", "q": "open"},
		},
		{
			name:   "parent once children are done",
			src:    "- [ ] [p] parent\n  - [x] [c1] one\n- [ ] [q] next\n",
			next:   "p",
			states: map[string]string{"p": "open", "c1": "done", "q": "open"},
		},
		{
			name:   "front matter after goes first with what it waits for",
			src:    "---\nafter: [s]\n---\n- [ ] [a] one\n- [ ] [s] setup (after: t)\n  - [ ] [sc] sub\n- [ ] [t] tools\n",
			next:   "sc",
			states: map[string]string{"a": "blocked s", "s": "blocked sc t", "sc": "open", "t": "open"},
		},
		{
			name:   "all done",
			src:    "- [x] [a] one\n  - [x] [b] two\n",
			states: map[string]string{"a": "done", "b": "done"},
		},
		{
			name:   "done parent does not hold back open child",
			src:    "- [x] [p] parent\n  - [ ] [c] child\n",
			next:   "c",
			states: map[string]string{"p": "done", "c": "open"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("s.md", []byte(tt.src))
			require.NoError(t, err)

			next, ok := s.Next()
			require.Equal(t, tt.next != "", ok)
			if ok {
				require.Equal(t, tt.next, next.ID)
			}

			got := map[string]string{}
			for _, st := range s.Status() {
				got[st.ID] = strings.Join(append([]string{string(st.State)}, st.WaitingOn...), " ")
			}
			require.Equal(t, tt.states, got)
		})
	}
}

func TestNoTaskList(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, path, src, text string
		line                  int
	}{
		{"first heading", "specs/auth/login.md", "# Login page\n\nBuild it.\n\n- a plain bullet\n", "Login page", 1},
		{"file name", "specs/auth/login.md", "Just build it.\n", "login", 1},
		{"front matter title", "specs/login.md", "---\ntitle: Log in\n---\n# H\nbody\n", "Log in", 4},
		{"empty", "specs/empty.md", "", "empty", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tt.path, []byte(tt.src))
			require.NoError(t, err)
			require.Len(t, s.Obligations, 1)
			o := s.Obligations[0]
			require.Equal(t, tt.text, o.Text)
			require.Equal(t, tt.line, o.Line)
			require.Equal(t, -1, o.Box)
			require.Regexp(t, `^[a-z0-9-]+-[0-9a-f]{6}$`, o.ID)
			require.Equal(t, fileID(tt.path), o.ID)

			next, ok := s.Next()
			require.True(t, ok)
			require.Same(t, o, next)

			_, err = s.Tick(o.ID)
			require.ErrorIs(t, err, ErrNoCheckbox)
		})
	}

	s, err := Parse("specs/x.md", []byte("---\nverify: x\n---\n# Do it\n\nAll of it.\n"))
	require.NoError(t, err)
	require.Equal(t, "# Do it\n\nAll of it.", s.Obligations[0].Section)
}

func TestParseIssue(t *testing.T) {
	t.Parallel()

	s, err := ParseIssue(12, "Support SSO", "We need SSO.\r\n\r\nNo checklist here.\r\n")
	require.NoError(t, err)
	require.Equal(t, "issue-12", s.Path)
	require.Len(t, s.Obligations, 1)
	require.Equal(t, "issue-12", s.Obligations[0].ID)
	require.Equal(t, "Support SSO", s.Obligations[0].Text)
	require.Equal(t, "We need SSO.\r\n\r\nNo checklist here.", s.Obligations[0].Section)

	body := "Steps:\r\n\r\n- [x] Add the SAML client\r\n- [ ] [sso-2] Wire the callback\r\n"
	s, err = ParseIssue(12, "Support SSO", body)
	require.NoError(t, err)
	require.Len(t, s.Obligations, 2)
	require.Equal(t, derivedID("issue-12", "Add the SAML client"), s.Obligations[0].ID)
	next, ok := s.Next()
	require.True(t, ok)
	require.Equal(t, "sso-2", next.ID)

	out, err := s.Tick("sso-2")
	require.NoError(t, err)
	require.Equal(t, strings.Replace(body, "- [ ] [sso-2]", "- [x] [sso-2]", 1), string(out))

	_, err = ParseIssue(3, "t", "- [ ] [a] x\n- [ ] [a] y\n")
	require.EqualError(t, err, `issue-3:2: duplicate id "a" (first at line 1)`)
}

func TestTick(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		src  string
		id   string // "" means the first obligation's id
		want string
	}{
		{"lf", "- [ ] [a] one\n- [ ] [b] two\n", "b", "- [ ] [a] one\n- [x] [b] two\n"},
		{"crlf", crlf("# T\n\n- [ ] [a] one\n- [ ] [b] two\n"), "a", crlf("# T\n\n- [x] [a] one\n- [ ] [b] two\n")},
		{"front matter", crlf("---\npaths: [\"- [ ] a\"]\n---\n- [ ] [a] one\n"), "a", crlf("---\npaths: [\"- [ ] a\"]\n---\n- [x] [a] one\n")},
		{"nested", "- [ ] [p] parent\n\t- [ ] [c] child\n", "c", "- [ ] [p] parent\n\t- [x] [c] child\n"},
		{"quoted", "> - [ ] [q] quoted\n", "q", "> - [x] [q] quoted\n"},
		{"tab in box", "- [\t] [a] tab\n", "a", "- [x] [a] tab\n"},
		{"derived id", "- [ ] Do the thing\n", "", "- [x] Do the thing\n"},
		{"already done", "- [X] [a] one\n", "a", "- [X] [a] one\n"},
		{"no trailing newline", "- [ ] [a] one", "a", "- [x] [a] one"},
		{"spec that fails lint elsewhere", "- [ ] [a] one (after: nope)\n- [ ] [b] two\n", "b", "- [ ] [a] one (after: nope)\n- [x] [b] two\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := tt.id
			if id == "" {
				s, err := Parse("s.md", []byte(tt.src))
				require.NoError(t, err)
				id = s.Obligations[0].ID
			}
			src := []byte(tt.src)
			out, err := Tick("s.md", src, id)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(out))
			require.Equal(t, tt.src, string(src), "input must not change")

			s, _ := parse("s.md", out, false, "")
			require.True(t, s.Obligation(id).Done)
		})
	}

	_, err := Tick("s.md", []byte("- [ ] [a] one\n"), "b")
	require.ErrorIs(t, err, ErrUnknownID)
	require.EqualError(t, err, "tick b in s.md: no obligation with that id")
}

func TestMatch(t *testing.T) {
	t.Parallel()

	tests := []struct {
		patterns []string
		name     string
		want     bool
	}{
		{[]string{DefaultGlob}, "specs/a.md", true},
		{[]string{DefaultGlob}, "specs/auth/login.md", true},
		{[]string{DefaultGlob}, "specs/a/b/c.md", true},
		{[]string{DefaultGlob}, "./specs/a.md", true},
		{[]string{DefaultGlob}, "specs/a.txt", false},
		{[]string{DefaultGlob}, "docs/specs/a.md", false},
		{[]string{DefaultGlob}, "specs", false},
		{[]string{"**/*.md"}, "README.md", true},
		{[]string{"**/*.md"}, "a/b/README.md", true},
		{[]string{"auth/**"}, "auth/x/y.go", true},
		{[]string{"auth/**"}, "authz/y.go", false},
		{[]string{"a/**/**/b"}, "a/b", true},
		{[]string{"a/**/b"}, "a/x/y/b", true},
		{[]string{"cmd/*.go"}, "cmd/x/y.go", false},
		{[]string{"a/["}, "a/[", false},
		{[]string{"x.md", "docs/*.md"}, "docs/a.md", true},
		{nil, "a.md", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.patterns, ",")+" "+tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Match(tt.patterns, tt.name))
		})
	}
}
