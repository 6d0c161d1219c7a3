package cycle

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/specloop/specloop/agent"
)

// The deterministic test-weakening checks: read from the diff alone, so no
// model can talk its way past them. Each finding points at file:line of
// the change (for something removed, the line where it was).

// WeakenInput is what the checks read.
type WeakenInput struct {
	Patch []byte // the change as a unified diff (git diff)
	// VerifyCommand is the cycle's verify command: files it names are its
	// config.
	VerifyCommand string
	// Obligation is the obligation's text (and details): an expected value
	// it names is asked for, not slipped in.
	Obligation string
}

// Weakening checks the change for weakened tests: a test file or function
// deleted, a skip or focus added, assertions removed without a
// replacement, the verify command's config or a CI workflow edited
// (failures), and a test's expected value edited with the code under test
// in a way the obligation does not name (a warning).
func Weakening(in WeakenInput) []agent.Finding {
	files := parseDiff(in.Patch)
	var out []agent.Finding
	add := func(f *diffFile, line int, sev, msg string) {
		if line < 1 {
			line = 1
		}
		out = append(out, agent.Finding{File: f.path, Line: line, Severity: sev, Message: msg})
	}
	// Test names still defined anywhere after the change: a test moved to
	// another file or renamed within a hunk is not deleted.
	defined := map[string]bool{}
	for _, f := range files {
		lang := langOf(f.path)
		for _, l := range f.lines {
			if l.kind == '+' {
				if name := testDef(lang, l.text, ""); name != "" {
					defined[name] = true
				}
			}
		}
	}
	// Assertions are counted over every test file, so a test moved from
	// one file to another loses none.
	lostAll, gainedAll := 0, 0
	for _, f := range files {
		lang := langOf(f.path)
		if !isTestFile(f.path) || f.deleted {
			continue
		}
		for _, l := range f.lines {
			if l.kind == '-' && isAssertion(lang, l.text) {
				lostAll++
			}
			if l.kind == '+' && isAssertion(lang, l.text) {
				gainedAll++
			}
		}
	}
	sourceChanged := slices.ContainsFunc(files, func(f *diffFile) bool { return langOf(f.path) != "" && !isTestFile(f.path) })
	for _, f := range files {
		lang := langOf(f.path)
		if why := verifyConfig(f, in.VerifyCommand); why != "" {
			add(f, f.firstChange(), agent.SeverityFailure, why)
		}
		if lang == "" {
			continue
		}
		test := isTestFile(f.path)
		if f.deleted && test {
			add(f, 1, agent.SeverityFailure, "test file deleted")
			continue
		}
		removed := map[string]int{} // trimmed text of removed lines: a moved line is no new skip
		for _, l := range f.lines {
			if l.kind == '-' {
				removed[strings.TrimSpace(l.text)]++
			}
		}
		var lost, gained int
		firstLost := 0
		prev := ""
		for _, l := range f.lines {
			switch l.kind {
			case '-':
				if name := testDef(lang, l.text, prev); name != "" && !defined[name] && (test || lang == "rust" || lang == "java") {
					add(f, l.newPos, agent.SeverityFailure, fmt.Sprintf("test `%s` deleted (or renamed: no test of that name is left)", name))
				}
				if test && isAssertion(lang, l.text) {
					lost++
					if firstLost == 0 {
						firstLost = l.newPos
					}
				}
			case '+':
				if what := skipAdded(lang, l.text, test); what != "" && removed[strings.TrimSpace(l.text)] == 0 {
					add(f, l.newLine, agent.SeverityFailure, what)
				}
				if test && isAssertion(lang, l.text) {
					gained++
				}
			}
			prev = l.text
		}
		if lost > gained && lostAll > gainedAll {
			add(f, firstLost, agent.SeverityFailure, fmt.Sprintf("%d assertion(s) removed from a test without a replacement (%d removed, %d added)", lost-gained, lost, gained))
		}
		if test && sourceChanged {
			for _, w := range expectedEdits(f, lang, in.Obligation) {
				add(f, w.line, agent.SeverityWarning, w.msg)
			}
		}
	}
	return out
}

// Failing counts the findings that fail the audit.
func Failing(findings []agent.Finding) int {
	n := 0
	for _, f := range findings {
		if f.Severity == agent.SeverityFailure {
			n++
		}
	}
	return n
}

// --- the diff ---

type diffLine struct {
	kind byte // '+', '-' or ' '
	text string
	// newLine is the line in the new file (for '+' and ' ' lines); newPos
	// is where a removed line was, as a line of the new file.
	newLine, newPos int
}

type diffFile struct {
	path    string // the new path, or the old one of a deleted file
	deleted bool
	lines   []diffLine
}

func (f *diffFile) firstChange() int {
	for _, l := range f.lines {
		if l.kind == '+' {
			return l.newLine
		}
		if l.kind == '-' {
			return l.newPos
		}
	}
	return 1
}

var hunkHeader = regexp.MustCompile(`^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@`)

// parseDiff reads git's unified diff: files, and their lines with new-file
// line numbers.
func parseDiff(patch []byte) []*diffFile {
	var files []*diffFile
	var cur *diffFile
	next := 0
	inHunk := false
	for _, raw := range bytes.Split(patch, []byte("\n")) {
		line := string(raw)
		switch {
		case strings.HasPrefix(line, "diff --git "):
			fields := strings.Fields(line)
			cur = &diffFile{}
			if len(fields) >= 4 {
				cur.path = strings.TrimPrefix(fields[3], "b/")
			}
			files = append(files, cur)
			inHunk = false
			continue
		case cur == nil:
			continue
		case !inHunk && strings.HasPrefix(line, "deleted file mode"):
			cur.deleted = true
			continue
		case !inHunk && (strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "+++ ")):
			continue
		}
		if m := hunkHeader.FindStringSubmatch(line); m != nil {
			next, _ = strconv.Atoi(m[1])
			if next == 0 {
				next = 1 // a deleted file's hunk starts at +0,0
			}
			inHunk = true
			continue
		}
		if !inHunk || line == "" || line == `\ No newline at end of file` {
			continue
		}
		switch line[0] {
		case '+':
			cur.lines = append(cur.lines, diffLine{kind: '+', text: line[1:], newLine: next, newPos: next})
			next++
		case '-':
			cur.lines = append(cur.lines, diffLine{kind: '-', text: line[1:], newPos: next})
		case ' ':
			cur.lines = append(cur.lines, diffLine{kind: ' ', text: line[1:], newLine: next, newPos: next})
			next++
		}
	}
	// Lines removed at the end of a file point at its last line, not past
	// it.
	for _, f := range files {
		last := 0
		for _, l := range f.lines {
			last = max(last, l.newLine)
		}
		for i := range f.lines {
			if f.lines[i].kind == '-' && f.lines[i].newPos > last {
				f.lines[i].newPos = max(last, 1)
			}
		}
	}
	return files
}

// --- languages and test files ---

func langOf(p string) string {
	switch path.Ext(p) {
	case ".go":
		return "go"
	case ".py":
		return "python"
	case ".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts":
		return "js"
	case ".rs":
		return "rust"
	case ".java", ".kt":
		return "java"
	}
	return ""
}

var jsTestFile = regexp.MustCompile(`\.(test|spec)\.[cm]?[jt]sx?$`)

// isTestFile reports whether p holds tests by its runner's conventions.
func isTestFile(p string) bool {
	base := path.Base(p)
	dirs := "/" + path.Dir(p) + "/"
	switch langOf(p) {
	case "go":
		return strings.HasSuffix(base, "_test.go")
	case "python":
		return strings.HasPrefix(base, "test_") || strings.HasSuffix(base, "_test.py") || base == "conftest.py" || strings.Contains(dirs, "/tests/")
	case "js":
		return jsTestFile.MatchString(base) || strings.Contains(dirs, "/__tests__/") || strings.Contains(dirs, "/test/") || strings.Contains(dirs, "/tests/")
	case "rust":
		return strings.Contains(dirs, "/tests/")
	case "java":
		return strings.HasSuffix(strings.TrimSuffix(base, path.Ext(base)), "Test") || strings.HasSuffix(strings.TrimSuffix(base, path.Ext(base)), "Tests") || strings.Contains(dirs, "/src/test/")
	}
	return false
}

var (
	goTestDef   = regexp.MustCompile(`^func (Test\w*|Fuzz\w*|Example\w*)\(`)
	pyTestDef   = regexp.MustCompile(`^\s*(?:async\s+)?def (test\w*)\s*\(`)
	jsTestDef   = regexp.MustCompile(`^\s*(?:x|f)?(?:it|test)(?:\.(?:each\(.*?\)|concurrent|only|skip))?\s*\(\s*(['"` + "`" + `])(.+?)['"` + "`" + `]`)
	rsFnDef     = regexp.MustCompile(`^\s*(?:pub(?:\(\w+\))?\s+)?(?:async\s+)?fn (\w+)`)
	rsTestAttr  = regexp.MustCompile(`^\s*#\[(?:\w+::)?test\b`)
	javaFnDef   = regexp.MustCompile(`^\s*(?:public\s+|protected\s+|private\s+)?(?:static\s+)?void (\w+)\s*\(`)
	javaTestAnn = regexp.MustCompile(`^\s*@(?:Test|ParameterizedTest|RepeatedTest)\b`)
)

// testDef returns the name of the test line defines ("" if none); prev is
// the line before it, for Rust's #[test] and Java's @Test.
func testDef(lang, line, prev string) string {
	switch lang {
	case "go":
		if m := goTestDef.FindStringSubmatch(line); m != nil {
			return m[1]
		}
	case "python":
		if m := pyTestDef.FindStringSubmatch(line); m != nil {
			return m[1]
		}
	case "js":
		if m := jsTestDef.FindStringSubmatch(line); m != nil {
			return m[2]
		}
	case "rust":
		if m := rsFnDef.FindStringSubmatch(line); m != nil && rsTestAttr.MatchString(prev) {
			return m[1]
		}
	case "java":
		if m := javaFnDef.FindStringSubmatch(line); m != nil && javaTestAnn.MatchString(prev) {
			return m[1]
		}
	}
	return ""
}

// skip patterns by language: what they add, as a finding says it.
var skips = map[string][]struct {
	re   *regexp.Regexp
	what string
}{
	"go": {
		{regexp.MustCompile(`\b\w+\.Skip(?:f|Now)?\(`), "skip added (`t.Skip`)"},
	},
	"python": {
		{regexp.MustCompile(`@pytest\.mark\.(?:skip|skipif)\b`), "skip added (`@pytest.mark.skip`)"},
		{regexp.MustCompile(`@pytest\.mark\.xfail\b`), "expected failure added (`@pytest.mark.xfail`)"},
		{regexp.MustCompile(`\bpytest\.(?:skip|xfail)\(`), "skip added (`pytest.skip`/`pytest.xfail`)"},
		{regexp.MustCompile(`@unittest\.(?:skip\w*|expectedFailure)\b|\bself\.skipTest\(`), "skip added (`unittest.skip`)"},
	},
	"js": {
		{regexp.MustCompile(`\b(?:it|test|describe|suite|context)\.(?:skip|todo)\b|\bx(?:it|test|describe)\s*\(`), "skip added (`it.skip`/`xit`)"},
		{regexp.MustCompile(`\b(?:it|test|describe|suite|context)\.only\b|\bf(?:it|describe)\s*\(`), "focus added (`.only`): the other tests stop running"},
	},
	"rust": {
		{regexp.MustCompile(`#\[ignore\b`), "skip added (`#[ignore]`)"},
	},
	"java": {
		{regexp.MustCompile(`@(?:Disabled|Ignore)\b`), "skip added (`@Disabled`)"},
	},
}

// skipAdded says what skip an added line brings ("" for none). Go, Python
// and JavaScript skips count in test files; Rust's and Java's attributes
// anywhere, since their tests live beside the code.
func skipAdded(lang, line string, test bool) string {
	if !test && lang != "rust" && lang != "java" {
		return ""
	}
	code := stripComment(lang, line)
	for _, s := range skips[lang] {
		if s.re.MatchString(code) {
			return s.what
		}
	}
	return ""
}

func stripComment(lang, line string) string {
	t := strings.TrimSpace(line)
	switch lang {
	case "python":
		if strings.HasPrefix(t, "#") {
			return ""
		}
	default:
		if strings.HasPrefix(t, "//") || strings.HasPrefix(t, "/*") || strings.HasPrefix(t, "*") {
			return ""
		}
	}
	return line
}

var assertions = map[string]*regexp.Regexp{
	"go":     regexp.MustCompile(`\b(?:t|b|f|tb)\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\(|\b(?:assert|require|is|qt)\.\w+\(`),
	"python": regexp.MustCompile(`^\s*assert\b|\bself\.assert\w*\(|\bpytest\.raises\(|\bnp\.testing\.assert`),
	"js":     regexp.MustCompile(`\bexpect\s*\(|\bassert(?:\.\w+)?\s*\(|\.should\b`),
	"rust":   regexp.MustCompile(`\b(?:assert|assert_eq|assert_ne|debug_assert|debug_assert_eq|debug_assert_ne|assert_matches)!\s*\(`),
	"java":   regexp.MustCompile(`\bassert\w*\s*\(|\bAssert(?:ions)?\.\w+\(|\bverify\(`),
}

func isAssertion(lang, line string) bool {
	code := stripComment(lang, line)
	re := assertions[lang]
	return code != "" && re != nil && re.MatchString(code)
}

// --- the verify command's config ---

var (
	shellWord = regexp.MustCompile(`[A-Za-z0-9_./-]+\.(?:sh|bash|py|js|mjs|ts|mk|bats|pl|rb)\b`)
	testCfgRe = regexp.MustCompile(`(?i)pytest|addopts|testpaths|python_files|python_functions|norecursedirs|collect_ignore|pytest_collection_modifyitems|"test"\s*:|"jest"|testmatch|testpathignorepatterns|\[\[test\]\]|harness|test\s*=\s*false`)
)

// verifyConfig says why a changed file is the verify command's config or
// CI ("" if it is neither).
func verifyConfig(f *diffFile, command string) string {
	p := f.path
	base := path.Base(p)
	switch {
	case strings.HasPrefix(p, WorkflowsDir):
		// The tamper check refuses these before the audit; a fixer's edit
		// is caught there too. Said here as well for the evidence.
		return "CI workflow edited: specloop never pushes `.github/workflows/**` (the app has no workflows permission)"
	case slices.Contains(commandFiles(command), p):
		return fmt.Sprintf("the verify command's own file edited (`%s` runs it)", command)
	case base == "pytest.ini" || base == ".mocharc.yml" || base == ".mocharc.json" || base == ".mocharc.js" || base == "karma.conf.js" ||
		strings.HasPrefix(base, "jest.config.") || strings.HasPrefix(base, "vitest.config.") || strings.HasPrefix(base, "vitest.workspace.") ||
		base == ".nycrc" || base == "nextest.toml" || p == ".config/nextest.toml":
		return fmt.Sprintf("test runner config `%s` edited", p)
	case base == "Makefile" || base == "makefile" || base == "GNUmakefile" || base == "justfile" || base == "Taskfile.yml":
		if cmd := strings.Fields(command); len(cmd) > 0 && slices.Contains([]string{"make", "just", "task"}, cmd[0]) {
			return fmt.Sprintf("`%s` edited, which the verify command `%s` runs", p, command)
		}
	case base == "pyproject.toml" || base == "setup.cfg" || base == "tox.ini" || base == "package.json" || base == "Cargo.toml" || base == "conftest.py" || base == "pom.xml" || base == "build.gradle" || base == "build.gradle.kts":
		for _, l := range f.lines {
			if l.kind != ' ' && testCfgRe.MatchString(l.text) {
				return fmt.Sprintf("test settings in `%s` edited", p)
			}
		}
	}
	return ""
}

// commandFiles are the paths a verify command names: `sh check.sh`,
// `./scripts/test.sh`.
func commandFiles(command string) []string {
	var out []string
	for _, w := range shellWord.FindAllString(command, -1) {
		out = append(out, strings.TrimPrefix(path.Clean(w), "./"))
	}
	return out
}

// --- expected values ---

var literal = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" + `|\b\d+(?:\.\d+)?\b`)

type warning struct {
	line int
	msg  string
}

// expectedEdits finds lines of a test whose literals changed (the same
// line but for its literals: an assertion, a want value, a table row)
// where the obligation names none of the new ones: maybe the test was
// bent to the code.
func expectedEdits(f *diffFile, lang, obligation string) []warning {
	var out []warning
	var removed []diffLine
	flush := func() { removed = removed[:0] }
	for _, l := range f.lines {
		switch l.kind {
		case '-':
			if stripComment(lang, l.text) != "" && literal.MatchString(l.text) {
				removed = append(removed, l)
			}
		case '+':
			shape := literal.ReplaceAllString(strings.TrimSpace(l.text), "·")
			for i, r := range removed {
				if literal.ReplaceAllString(strings.TrimSpace(r.text), "·") != shape {
					continue
				}
				olds, news := changedLiterals(literal.FindAllString(r.text, -1), literal.FindAllString(l.text, -1))
				if len(news) == 0 {
					continue
				}
				named := slices.ContainsFunc(news, func(lit string) bool {
					return strings.Contains(obligation, strings.Trim(lit, "\"'`"))
				})
				if !named {
					out = append(out, warning{l.newLine, fmt.Sprintf("expected value edited (%s → %s) together with the code under test; the obligation does not name it",
						codeList(olds), codeList(news))})
				}
				removed = slices.Delete(removed, i, i+1)
				break
			}
		default:
			flush()
		}
	}
	return out
}

// changedLiterals pairs literals by position and keeps those that differ.
func changedLiterals(old, nu []string) (olds, news []string) {
	for i := range nu {
		if i < len(old) && old[i] != nu[i] {
			olds, news = append(olds, old[i]), append(news, nu[i])
		}
	}
	return olds, news
}

func codeList(lits []string) string {
	out := make([]string, len(lits))
	for i, l := range lits {
		out[i] = "`" + strings.ReplaceAll(l, "`", "") + "`"
	}
	return strings.Join(out, ", ")
}
