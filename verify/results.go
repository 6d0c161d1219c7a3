package verify

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Counts is what a verify run's output says about its tests.
type Counts struct {
	Passed  int
	Failed  int
	Skipped int
	// Failing lists failed tests in the order the output reports them, at
	// most maxFailing of them.
	Failing []TestFailure
	// Known reports that the output had a format ParseCounts knows;
	// without it the counts mean nothing.
	Known bool
}

// TestFailure is one failing test, with where it failed when the output
// says.
type TestFailure struct {
	Name string
	// File and Line locate the failure, as the test tool printed them
	// (usually relative to the package or the repo); empty and 0 when
	// unknown.
	File    string
	Line    int
	Message string
}

const (
	maxFailing        = 200
	maxFailureMessage = 1 << 10
)

// ParseCounts reads test results from verify output. It knows:
//
//   - go test, with and without -v: "--- PASS/FAIL/SKIP: TestX (0.00s)"
//     lines, counting subtests and not their parents, "file_test.go:12:
//     msg" lines for where a test failed, and "FAIL pkg [build failed]".
//     Without -v, go test prints neither passing nor skipped tests, so
//     those counts stay 0 even though the packages' "ok" lines show tests
//     ran.
//   - pytest: the "=== 3 failed, 10 passed, 1 skipped in 0.12s ===" line
//     (errors count as failed, xfailed as skipped, xpassed as passed), and
//     the "FAILED tests/test_x.py::test_y - msg" and "ERROR ..." lines of
//     the short summary, located from the "tests/test_x.py:12: Error"
//     lines of the tracebacks.
//   - cargo test: every "test result: FAILED. 3 passed; 1 failed; 0
//     ignored; ..." line (one per test binary; ignored count as skipped),
//     "test x ... FAILED" lines, and "panicked at src/lib.rs:8:21" in the
//     failures' stdout sections.
//   - node --test, TAP and spec reporters: "# pass 3" / "ℹ pass 3" summary
//     lines (cancelled counts as failed), "not ok 2 - name" with its YAML
//     location and error, and the spec reporter's "failing tests" section.
//
// Output holding several formats (a script that runs two tools) adds them
// up.
func ParseCounts(output []byte) Counts {
	text := strings.ReplaceAll(string(output), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	var total Counts
	for _, parse := range []func([]string) Counts{parseGo, parsePytest, parseCargo, parseNode} {
		c := parse(lines)
		if !c.Known {
			continue
		}
		total.Known = true
		total.Passed += c.Passed
		total.Failed += c.Failed
		total.Skipped += c.Skipped
		total.Failing = append(total.Failing, c.Failing...)
	}
	if len(total.Failing) > maxFailing {
		total.Failing = total.Failing[:maxFailing]
	}
	return total
}

// addFailure appends f with its message trimmed to size.
func (c *Counts) addFailure(f TestFailure) {
	f.Message = strings.TrimSpace(f.Message)
	if len(f.Message) > maxFailureMessage {
		f.Message = strings.ToValidUTF8(f.Message[:maxFailureMessage], "") + " …" // drops a rune the cut split
	}
	c.Failing = append(c.Failing, f)
}

// --- go test ---

var (
	goResult   = regexp.MustCompile(`^(\s*)--- (PASS|FAIL|SKIP): (\S+) \(`)
	goRun      = regexp.MustCompile(`^=== (?:RUN|CONT|NAME|PAUSE)\s+(\S+)`)
	goLog      = regexp.MustCompile(`^\s+([^\s:]+\.go):(\d+): ?(.*)$`)
	goPkg      = regexp.MustCompile(`^(ok|FAIL|\?) *\t(\S+)[\t ]?(.*)$`)
	goBuildHdr = regexp.MustCompile(`^# (\S+)`)
	goCompile  = regexp.MustCompile(`^(\S+\.go):(\d+)(?::\d+)?: (.*)$`)
)

type goTest struct {
	name   string
	result string
	file   string
	line   int
	msg    []string
}

func parseGo(lines []string) Counts {
	var (
		c        Counts
		order    []string
		tests    = map[string]*goTest{}
		current  string // test the next log line belongs to
		inMsg    bool   // continuation lines extend current's message
		failPkgs []string
		buildErr = map[string]*TestFailure{}
		buildPkg string
	)
	get := func(name string) *goTest {
		t, ok := tests[name]
		if !ok {
			t = &goTest{name: name}
			tests[name] = t
			order = append(order, name)
		}
		return t
	}
	for _, line := range lines {
		if m := goRun.FindStringSubmatch(line); m != nil {
			c.Known = true
			current, inMsg = m[1], false
			continue
		}
		if m := goResult.FindStringSubmatch(line); m != nil {
			c.Known = true
			t := get(m[3])
			t.result = m[2]
			// Without -v a test's log follows its result line.
			current, inMsg = m[3], false
			continue
		}
		if m := goLog.FindStringSubmatch(line); m != nil && current != "" {
			t := get(current)
			if t.file == "" {
				t.file = m[1]
				t.line, _ = strconv.Atoi(m[2])
				t.msg = []string{m[3]}
				inMsg = true
			} else {
				inMsg = false
			}
			continue
		}
		if m := goPkg.FindStringSubmatch(line); m != nil {
			// "ok  \tpkg\t0.1s", "FAIL\tpkg\t0.1s", "FAIL\tpkg [build failed]",
			// "?   \tpkg\t[no test files]".
			c.Known = true
			current, inMsg = "", false
			if m[1] == "FAIL" {
				failPkgs = append(failPkgs, m[2])
				if strings.Contains(m[3], "[build failed]") || strings.Contains(m[3], "[setup failed]") {
					if _, ok := buildErr[m[2]]; !ok {
						buildErr[m[2]] = &TestFailure{Name: m[2], Message: "build failed"}
					}
				}
			}
			continue
		}
		if m := goBuildHdr.FindStringSubmatch(line); m != nil {
			buildPkg, inMsg = m[1], false
			continue
		}
		if m := goCompile.FindStringSubmatch(line); m != nil && buildPkg != "" {
			if _, ok := buildErr[buildPkg]; !ok {
				n, _ := strconv.Atoi(m[2])
				buildErr[buildPkg] = &TestFailure{Name: buildPkg, File: m[1], Line: n, Message: m[3]}
			}
			continue
		}
		if inMsg && current != "" && strings.HasPrefix(line, "    ") && len(tests[current].msg) < 8 {
			t := tests[current]
			t.msg = append(t.msg, strings.TrimSpace(line))
			continue
		}
		inMsg = false
	}

	// A test with subtests passes or fails with them; count the leaves so a
	// failing subtest is one failure, not two.
	// Parents are marked from their subtests' names, once: comparing every
	// pair of tests is quadratic, and go test -json reports every test.
	parent, failedParent := map[string]bool{}, map[string]bool{}
	for _, name := range order {
		failed := tests[name].result == "FAIL"
		for i := strings.LastIndexByte(name, '/'); i > 0; i = strings.LastIndexByte(name[:i], '/') {
			parent[name[:i]] = true
			if failed {
				failedParent[name[:i]] = true
			}
		}
	}
	hasChild := func(name string, result string) bool {
		if result == "FAIL" {
			return failedParent[name]
		}
		return parent[name]
	}
	for _, name := range order {
		t := tests[name]
		switch t.result {
		case "PASS":
			if !hasChild(name, "") {
				c.Passed++
			}
		case "SKIP":
			if !hasChild(name, "") {
				c.Skipped++
			}
		case "FAIL":
			if hasChild(name, "FAIL") {
				continue
			}
			c.Failed++
			c.addFailure(TestFailure{Name: name, File: t.file, Line: t.line, Message: goMessage(t.msg)})
		}
	}
	// Packages that failed without a failing test: build errors, panics
	// outside a test, TestMain exiting non-zero.
	for _, pkg := range failPkgs {
		if f, ok := buildErr[pkg]; ok {
			c.Failed++
			c.addFailure(*f)
			delete(buildErr, pkg)
			continue
		}
		if c.Failed == 0 {
			c.Failed++
			c.addFailure(TestFailure{Name: pkg, Message: "package failed"})
		}
	}
	return c
}

// goMessage joins a test's first log line with its continuation lines,
// which is where testify puts the actual error.
func goMessage(msg []string) string {
	msg = slices.DeleteFunc(slices.Clone(msg), func(s string) bool { return strings.TrimSpace(s) == "" })
	return strings.Join(msg, "\n")
}

// --- pytest ---

var (
	pytestSummary = regexp.MustCompile(`^(?:=+ )?((?:\d+ (?:failed|passed|skipped|deselected|xfailed|xpassed|errors?|warnings?|rerun)(?:, )?)+) in [\d.]+s(?: \([\d:]+\))?(?: =+)?$`)
	pytestItem    = regexp.MustCompile(`(\d+) (\w+)`)
	pytestFailed  = regexp.MustCompile(`^(FAILED|ERROR) (\S+?)(?: - (.*))?$`)
	pytestSection = regexp.MustCompile(`^_{3,} (?:ERROR (?:at \w+ of |collecting ))?(.+?) _{3,}$`)
	pytestLoc     = regexp.MustCompile(`^(\S+\.py):(\d+): (.*)$`)
)

func parsePytest(lines []string) Counts {
	var c Counts
	type loc struct {
		file string
		line int
		msg  string
	}
	sections := map[string][]loc{}
	section := ""
	for _, line := range lines {
		if m := pytestSection.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		if m := pytestLoc.FindStringSubmatch(line); m != nil && section != "" {
			n, _ := strconv.Atoi(m[2])
			sections[section] = append(sections[section], loc{m[1], n, m[3]})
			continue
		}
		if m := pytestSummary.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			c.Known = true
			for _, it := range pytestItem.FindAllStringSubmatch(m[1], -1) {
				n, _ := strconv.Atoi(it[1])
				switch it[2] {
				case "passed", "xpassed":
					c.Passed += n
				case "failed", "error", "errors":
					c.Failed += n
				case "skipped", "xfailed":
					c.Skipped += n
				}
			}
			continue
		}
		m := pytestFailed.FindStringSubmatch(line)
		if m != nil && (strings.Contains(m[2], "::") || strings.HasSuffix(m[2], ".py")) {
			f := TestFailure{Name: m[2], Message: m[3]}
			file, rest, _ := strings.Cut(m[2], "::")
			// Sections are headed by the test's name within its file, with
			// "." for "::": "TestLogin.test_bad_token".
			key := strings.ReplaceAll(rest, "::", ".")
			if rest == "" {
				key = file
			}
			if locs := sections[key]; len(locs) > 0 {
				// The last location in the test's own file is the failing
				// line of the test; deeper frames come after it.
				best := locs[len(locs)-1]
				for _, l := range locs {
					if l.file == file {
						best = l
					}
				}
				f.File, f.Line = best.file, best.line
				if f.Message == "" {
					f.Message = best.msg
				}
			} else {
				f.File = file
			}
			c.addFailure(f)
		}
	}
	return c
}

// --- cargo test ---

var (
	cargoResult  = regexp.MustCompile(`^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored`)
	cargoTest    = regexp.MustCompile(`^test (.+) \.\.\. FAILED$`)
	cargoStdout  = regexp.MustCompile(`^---- (.+) stdout ----$`)
	cargoPanic   = regexp.MustCompile(`panicked at (?:'(.*)', )?([^\s:']+\.rs):(\d+):(\d+):?$`)
	cargoPanicTo = regexp.MustCompile(`^thread '.*' (?:\(\d+\) )?panicked at`)
)

func parseCargo(lines []string) Counts {
	var c Counts
	var failed []string
	details := map[string]*TestFailure{}
	section := ""
	wantMsg := false
	for _, line := range lines {
		if m := cargoResult.FindStringSubmatch(line); m != nil {
			c.Known = true
			p, _ := strconv.Atoi(m[1])
			f, _ := strconv.Atoi(m[2])
			s, _ := strconv.Atoi(m[3])
			c.Passed += p
			c.Failed += f
			c.Skipped += s
			section, wantMsg = "", false
			continue
		}
		if m := cargoTest.FindStringSubmatch(line); m != nil {
			failed = append(failed, m[1])
			continue
		}
		if m := cargoStdout.FindStringSubmatch(line); m != nil {
			section, wantMsg = m[1], false
			continue
		}
		if section == "" {
			continue
		}
		if cargoPanicTo.MatchString(line) {
			if m := cargoPanic.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[3])
				details[section] = &TestFailure{Name: section, File: m[2], Line: n, Message: m[1]}
				// Since Rust 1.73 the message follows on the next line.
				wantMsg = m[1] == ""
			}
			continue
		}
		if wantMsg {
			if d := details[section]; d != nil && strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "note: ") && !strings.HasPrefix(line, "stack backtrace:") {
				if d.Message != "" {
					d.Message += "\n"
				}
				d.Message += line
				if strings.Count(d.Message, "\n") >= 3 {
					wantMsg = false
				}
				continue
			}
			wantMsg = false
		}
	}
	for _, name := range failed {
		if d, ok := details[name]; ok {
			c.addFailure(*d)
		} else {
			c.addFailure(TestFailure{Name: name})
		}
	}
	return c
}

// --- node --test ---

var (
	nodeSummary  = regexp.MustCompile(`^(?:#|ℹ) (tests|pass|fail|cancelled|skipped|todo)\s+(\d+)$`)
	tapNotOK     = regexp.MustCompile(`^(\s*)not ok \d+ - (.*?)(?: # (?:SKIP|TODO).*)?$`)
	tapLocation  = regexp.MustCompile(`^\s+location: '(.*):(\d+):\d+'$`)
	tapError     = regexp.MustCompile(`^\s+error: (.*)$`)
	tapFailType  = regexp.MustCompile(`^\s+failureType: '(\w+)'$`)
	specFailHdr  = regexp.MustCompile(`^✖ failing tests:$`)
	specTestAt   = regexp.MustCompile(`^test at (.*):(\d+):\d+$`)
	specFailName = regexp.MustCompile(`^(\s*)✖ (.*?)(?: \([\d.]+m?s\))?$`)
)

func parseNode(lines []string) Counts {
	var c Counts
	// TAP: "not ok" entries with their YAML block.
	type tapFail struct {
		TestFailure
		parent bool
	}
	var taps []*tapFail
	var cur *tapFail
	inErr := false
	// Spec reporter's failing-tests section.
	var specs []TestFailure
	inFailSection, stackStarted := false, false
	var at *TestFailure
	for _, line := range lines {
		t := strings.TrimRight(line, " ")
		if m := nodeSummary.FindStringSubmatch(t); m != nil {
			c.Known = true
			n, _ := strconv.Atoi(m[2])
			switch m[1] {
			case "pass":
				c.Passed += n
			case "fail", "cancelled":
				c.Failed += n
			case "skipped", "todo":
				c.Skipped += n
			}
			cur, inErr = nil, false
			continue
		}
		if m := tapNotOK.FindStringSubmatch(t); m != nil && !strings.Contains(t, "# SKIP") && !strings.Contains(t, "# TODO") {
			cur = &tapFail{TestFailure: TestFailure{Name: m[2]}}
			taps = append(taps, cur)
			inErr = false
			continue
		}
		if cur != nil {
			if m := tapLocation.FindStringSubmatch(t); m != nil {
				cur.File = m[1]
				cur.Line, _ = strconv.Atoi(m[2])
				inErr = false
				continue
			}
			if m := tapFailType.FindStringSubmatch(t); m != nil {
				cur.parent = m[1] == "subtestsFailed"
				inErr = false
				continue
			}
			if m := tapError.FindStringSubmatch(t); m != nil {
				if v := strings.Trim(m[1], "'\""); v != "|-" && v != "|" && v != ">-" {
					cur.Message = v
				} else {
					inErr = true
				}
				continue
			}
			if inErr {
				// The block scalar's lines are indented deeper than its key.
				if strings.HasPrefix(line, "    ") {
					if s := strings.TrimSpace(line); s != "" && strings.Count(cur.Message, "\n") < 4 {
						if cur.Message != "" {
							cur.Message += "\n"
						}
						cur.Message += s
					}
					continue
				}
				inErr = false
			}
		}
		if specFailHdr.MatchString(t) {
			c.Known = true
			inFailSection = true
			continue
		}
		if inFailSection {
			if m := specTestAt.FindStringSubmatch(t); m != nil {
				n, _ := strconv.Atoi(m[2])
				at = &TestFailure{File: m[1], Line: n}
				continue
			}
			if m := specFailName.FindStringSubmatch(t); m != nil {
				f := TestFailure{Name: m[2]}
				if at != nil {
					f.File, f.Line = at.File, at.Line
				}
				specs = append(specs, f)
				at, stackStarted = nil, false
				continue
			}
			if len(specs) > 0 && strings.HasPrefix(line, "  ") && !stackStarted {
				if strings.HasPrefix(strings.TrimSpace(line), "at ") {
					// The message ends where the stack trace starts.
					stackStarted = true
					continue
				}
				last := &specs[len(specs)-1]
				if s := strings.TrimSpace(line); s != "" && strings.Count(last.Message, "\n") < 3 {
					if last.Message != "" {
						last.Message += "\n"
					}
					last.Message += s
				}
			}
		}
	}
	switch {
	case len(taps) > 0:
		for _, f := range taps {
			if !f.parent {
				c.addFailure(f.TestFailure)
			}
		}
	default:
		for _, f := range specs {
			if strings.Contains(f.Message, "subtest failed") || strings.Contains(f.Message, "subtests failed") {
				continue
			}
			c.addFailure(f)
		}
	}
	return c
}
