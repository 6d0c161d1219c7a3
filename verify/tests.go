package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ReportDir is where a verify command may write JUnit XML reports, relative
// to the working copy: the detected pytest command writes there, and a
// repo's own command gets per-test results by doing the same. It lies in
// the scratch directory, which is never committed.
const ReportDir = ".specloop/verify/"

// Status is one test's outcome in one run.
type Status string

// The outcomes a test can have.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Formats of per-test results, as the evidence names them.
const (
	FormatGoJSON = "go test -json"
	FormatJUnit  = "JUnit XML"
	FormatTAP    = "TAP"
	FormatCargo  = "cargo test"
)

// TestResult is one test of one run.
type TestResult struct {
	Name    string `json:"name"`
	Status  Status `json:"status"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message,omitempty"`
}

// Results are the per-test results of one run. A zero Format means the
// run's output held none that specloop reads: nothing is known per test,
// which is not the same as "no tests".
type Results struct {
	Format string       `json:"format,omitempty"`
	Tests  []TestResult `json:"tests,omitempty"`
}

// Available reports whether the run gave per-test results.
func (r Results) Available() bool { return r.Format != "" }

// byName indexes the results; a name seen twice keeps its worst outcome.
func (r Results) byName() map[string]TestResult {
	m := make(map[string]TestResult, len(r.Tests))
	for _, t := range r.Tests {
		if old, ok := m[t.Name]; ok && rank(old.Status) >= rank(t.Status) {
			continue
		}
		m[t.Name] = t
	}
	return m
}

func rank(s Status) int {
	switch s {
	case Fail:
		return 2
	case Pass:
		return 1
	}
	return 0
}

// PerTest reads per-test results from a run: the JUnit XML reports it
// wrote (reports, already read from ReportDir and the runners' usual
// report paths), else `go test -json` events, TAP or cargo test's
// "test x ... ok" lines in its output. Nothing recognised: a zero Results.
func PerTest(output []byte, reports [][]byte) Results {
	if len(reports) > 0 {
		var r Results
		for _, rep := range reports {
			tests, err := ParseJUnit(rep)
			if err != nil {
				continue
			}
			r.Format = FormatJUnit
			r.Tests = append(r.Tests, tests...)
		}
		if r.Available() {
			return r
		}
	}
	if r, _, ok := ParseGoJSON(output); ok {
		return r
	}
	if r, ok := ParseTAP(output); ok {
		return r
	}
	if r, ok := parseCargoTests(output); ok {
		return r
	}
	return Results{}
}

// --- go test -json ---

type goEvent struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

// ParseGoJSON reads `go test -json` output: the per-test results (leaf
// tests only, named "package.TestX/sub"), and the plain text go test would
// have printed with -v, rebuilt from the events' Output, for ParseCounts
// and the log a reviewer reads. Lines that are not events (a build error
// go printed outside JSON) are kept in the text. ok is false when the
// output held no test2json events.
func ParseGoJSON(output []byte) (r Results, text []byte, ok bool) {
	var out bytes.Buffer
	type key struct{ pkg, test string }
	final := map[key]Status{}
	var order []key
	sc := bufio.NewScanner(bytes.NewReader(output))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev goEvent
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			out.Write(line)
			out.WriteByte('\n')
			continue
		}
		ok = true
		out.WriteString(ev.Output)
		if ev.Test == "" {
			continue
		}
		k := key{ev.Package, ev.Test}
		var st Status
		switch ev.Action {
		case "pass":
			st = Pass
		case "fail":
			st = Fail
		case "skip":
			st = Skip
		case "run":
			if _, seen := final[k]; !seen {
				order = append(order, k)
				final[k] = ""
			}
			continue
		default:
			continue
		}
		if _, seen := final[k]; !seen {
			order = append(order, k)
		}
		final[k] = st
	}
	if !ok {
		return Results{}, output, false
	}
	text = out.Bytes()
	// Locations and messages come from the text, as ParseCounts finds them.
	where := map[string]TestFailure{}
	for _, f := range ParseCounts(text).Failing {
		where[f.Name] = f
	}
	r.Format = FormatGoJSON
	// A test with subtests counts through them: mark every prefix of a
	// subtest's name as a parent.
	parents := map[key]bool{}
	for _, k := range order {
		for i := strings.LastIndexByte(k.test, '/'); i > 0; i = strings.LastIndexByte(k.test[:i], '/') {
			parents[key{k.pkg, k.test[:i]}] = true
		}
	}
	for _, k := range order {
		st := final[k]
		if st == "" {
			st = Fail // started, never finished: the binary died under it
		}
		if parents[k] {
			continue
		}
		t := TestResult{Name: k.pkg + "." + k.test, Status: st}
		if st == Fail {
			if f, ok := where[k.test]; ok {
				t.File, t.Line, t.Message = f.File, f.Line, f.Message
			}
		}
		r.Tests = append(r.Tests, t)
	}
	return r, text, true
}

// --- JUnit XML ---

type junitSuite struct {
	Name      string       `xml:"name,attr"`
	File      string       `xml:"file,attr"`
	Suites    []junitSuite `xml:"testsuite"`
	TestCases []junitCase  `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      string        `xml:"line,attr"`
	Failures  []junitDetail `xml:"failure"`
	Errors    []junitDetail `xml:"error"`
	Skipped   *junitDetail  `xml:"skipped"`
}

type junitDetail struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// ParseJUnit reads a JUnit XML report (a <testsuites> or a <testsuite>
// root, suites nested or not), as pytest --junitxml, jest-junit, vitest's
// junit reporter, cargo nextest and Maven Surefire write it. A test is
// named "classname.name" (or its name alone without a classname); a
// <failure> or <error> fails it, <skipped> skips it.
func ParseJUnit(report []byte) ([]TestResult, error) {
	dec := xml.NewDecoder(bytes.NewReader(report))
	dec.Strict = false
	var root struct {
		XMLName xml.Name
		junitSuite
	}
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("read JUnit XML: %w", err)
	}
	if root.XMLName.Local != "testsuites" && root.XMLName.Local != "testsuite" {
		return nil, fmt.Errorf("read JUnit XML: root element <%s> is not <testsuites> or <testsuite>", root.XMLName.Local)
	}
	var out []TestResult
	var walk func(s junitSuite, file string)
	walk = func(s junitSuite, file string) {
		if s.File != "" {
			file = s.File
		}
		for _, c := range s.TestCases {
			t := TestResult{Name: c.Name, Status: Pass, File: c.File}
			if c.Classname != "" {
				t.Name = c.Classname + "." + c.Name
			}
			if t.File == "" {
				t.File = file
			}
			t.Line, _ = strconv.Atoi(c.Line)
			switch {
			case len(c.Failures) > 0 || len(c.Errors) > 0:
				t.Status = Fail
				d := append(c.Failures, c.Errors...)[0]
				t.Message = firstLines(strings.TrimSpace(d.Message+"\n"+d.Text), 4)
			case c.Skipped != nil:
				t.Status = Skip
			}
			out = append(out, t)
		}
		for _, sub := range s.Suites {
			walk(sub, file)
		}
	}
	walk(root.junitSuite, "")
	return out, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// --- TAP ---

var (
	tapVersion = regexp.MustCompile(`^TAP version \d+`)
	tapPlan    = regexp.MustCompile(`^\s*1\.\.\d+`)
	tapLine    = regexp.MustCompile(`^(\s*)(not ok|ok)\b(?: \d+)?(?: -)? ?(.*)$`)
	tapSubtest = regexp.MustCompile(`^(\s*)# Subtest: (.*)$`)
)

// ParseTAP reads TAP output (node --test's tap reporter, tap, bats, prove):
// "ok 1 - name", "not ok 2 - name", a "# SKIP" or "# TODO" directive
// skips. Subtests (indented, under "# Subtest:") are named "parent >
// child", and a parent counts only through its children. ok is false
// without a "TAP version" line or a plan with tests; "TAP version 13"
// and "1..0" is a run of no tests.
func ParseTAP(output []byte) (Results, bool) {
	lines := strings.Split(strings.ReplaceAll(string(output), "\r\n", "\n"), "\n")
	versioned := slices.ContainsFunc(lines, func(l string) bool { return tapVersion.MatchString(l) })
	if !versioned && !slices.ContainsFunc(lines, func(l string) bool { return tapPlan.MatchString(l) }) {
		return Results{}, false
	}
	type frame struct {
		indent int
		name   string
	}
	var stack []frame
	var tests []TestResult
	hasChild := map[string]bool{}
	for _, l := range lines {
		if m := tapSubtest.FindStringSubmatch(l); m != nil {
			ind := len(m[1])
			for len(stack) > 0 && stack[len(stack)-1].indent >= ind {
				stack = stack[:len(stack)-1]
			}
			stack = append(stack, frame{ind, strings.TrimSpace(m[2])})
			continue
		}
		m := tapLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		ind := len(m[1])
		name, directive, _ := strings.Cut(m[3], " # ")
		name = strings.TrimSpace(name)
		var prefix []string
		for _, f := range stack {
			if f.indent < ind {
				prefix = append(prefix, f.name)
			}
		}
		if len(prefix) > 0 && prefix[len(prefix)-1] == name {
			prefix = prefix[:len(prefix)-1] // the subtest's own header
		}
		full := strings.Join(append(prefix, name), " > ")
		if len(prefix) > 0 {
			hasChild[strings.Join(prefix, " > ")] = true
		}
		st := Pass
		if m[2] == "not ok" {
			st = Fail
		}
		d := strings.ToUpper(strings.TrimSpace(directive))
		if strings.HasPrefix(d, "SKIP") || strings.HasPrefix(d, "TODO") {
			st = Skip
		}
		tests = append(tests, TestResult{Name: full, Status: st})
	}
	if len(tests) == 0 && !versioned { // a bare "1..0" may be anything
		return Results{}, false
	}
	r := Results{Format: FormatTAP}
	for _, t := range tests {
		if !hasChild[t.Name] {
			r.Tests = append(r.Tests, t)
		}
	}
	return r, true
}

// --- cargo test ---

var cargoLine = regexp.MustCompile(`^test (\S+) \.\.\. (ok|FAILED|ignored)`)

// parseCargoTests reads libtest's "test a::b ... ok" lines; it needs a
// "test result:" line too, so unrelated output is not taken for tests.
func parseCargoTests(output []byte) (Results, bool) {
	if !bytes.Contains(output, []byte("test result: ")) {
		return Results{}, false
	}
	r := Results{Format: FormatCargo}
	for _, l := range strings.Split(string(output), "\n") {
		m := cargoLine.FindStringSubmatch(strings.TrimRight(l, "\r"))
		if m == nil {
			continue
		}
		st := map[string]Status{"ok": Pass, "FAILED": Fail, "ignored": Skip}[m[2]]
		r.Tests = append(r.Tests, TestResult{Name: m[1], Status: st})
	}
	return r, len(r.Tests) > 0
}

// --- red → green ---

// Comparison is what changed between the run on the cycle's start commit
// (before) and the run after the change, test by test.
type Comparison struct {
	// NewlyPassing failed, was skipped or did not exist before, and passes
	// now: the red → green evidence.
	NewlyPassing []string `json:"newly_passing"`
	// Regressions passed before and fail now.
	Regressions []string `json:"regressions"`
	// StillFailing failed before and fail now.
	StillFailing []string `json:"still_failing"`
	// NewFailures did not exist before and fail now.
	NewFailures []string `json:"new_failures"`
	// Gone passed before and did not run now (deleted, renamed or
	// skipped).
	Gone []string `json:"gone"`
}

// Compare lines two runs' per-test results up by name. Both must be
// Available; otherwise nothing can be said and the zero Comparison is
// returned.
func Compare(before, after Results) Comparison {
	var c Comparison
	if !before.Available() || !after.Available() {
		return c
	}
	b, a := before.byName(), after.byName()
	for _, name := range sortedKeys(a) {
		now := a[name].Status
		old, existed := b[name]
		switch {
		case now == Pass && (!existed || old.Status != Pass):
			c.NewlyPassing = append(c.NewlyPassing, name)
		case now == Fail && existed && old.Status == Pass:
			c.Regressions = append(c.Regressions, name)
		case now == Fail && existed && old.Status == Fail:
			c.StillFailing = append(c.StillFailing, name)
		case now == Fail && (!existed || old.Status == Skip):
			c.NewFailures = append(c.NewFailures, name)
		}
	}
	for _, name := range sortedKeys(b) {
		if b[name].Status != Pass {
			continue
		}
		if now, ok := a[name]; !ok || now.Status == Skip {
			c.Gone = append(c.Gone, name)
		}
	}
	return c
}

func sortedKeys(m map[string]TestResult) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CountsOf turns per-test results into counts, for output whose text
// ParseCounts does not read (TAP from a runner without a summary, JUnit
// files).
func (r Results) CountsOf() Counts {
	c := Counts{Known: r.Available()}
	for _, t := range r.Tests {
		switch t.Status {
		case Pass:
			c.Passed++
		case Fail:
			c.Failed++
			if len(c.Failing) < maxFailing {
				c.addFailure(TestFailure{Name: t.Name, File: t.File, Line: t.Line, Message: t.Message})
			}
		case Skip:
			c.Skipped++
		}
	}
	return c
}
