package verify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTestCounts(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		return string(b)
	}
	tests := []struct {
		name   string
		output string
		want   Counts
	}{
		{
			name:   "go test without -v",
			output: read("go_plain.txt"),
			want: Counts{Failed: 2, Known: true, Failing: []TestFailure{
				{Name: "TestFail", File: "x_test.go", Line: 7, Message: "got 1, want 2"},
				{Name: "TestSub/b", File: "x_test.go", Line: 13, Message: "boom"},
			}},
		},
		{
			name:   "go test -v",
			output: read("go_verbose.txt"),
			want: Counts{Passed: 3, Failed: 2, Skipped: 1, Known: true, Failing: []TestFailure{
				{Name: "TestFail", File: "x_test.go", Line: 7, Message: "got 1, want 2"},
				{Name: "TestSub/b", File: "x_test.go", Line: 13, Message: "boom"},
			}},
		},
		{
			name:   "go test build failure",
			output: read("go_build_failed.txt"),
			want: Counts{Failed: 1, Known: true, Failing: []TestFailure{
				{Name: "example.com/gt/z", File: "z/z_test.go", Line: 3, Message: "undefined: undefinedThing"},
			}},
		},
		{
			name:   "go test all passing",
			output: "ok  \texample.com/a\t0.012s\n?   \texample.com/b\t[no test files]\n",
			want:   Counts{Known: true},
		},
		{
			name: "go test testify failure",
			output: "--- FAIL: TestAdd (0.00s)\n" +
				"    add_test.go:12: \n" +
				"        \tError Trace:\t/src/add_test.go:12\n" +
				"        \tError:      \tNot equal: \n" +
				"        \t            \texpected: 4\n" +
				"        \t            \tactual  : 5\n" +
				"        \tTest:       \tTestAdd\n" +
				"FAIL\n" +
				"FAIL\texample.com/add\t0.004s\n",
			want: Counts{Failed: 1, Known: true, Failing: []TestFailure{{
				Name: "TestAdd", File: "add_test.go", Line: 12,
				Message: "Error Trace:\t/src/add_test.go:12\nError:      \tNot equal:\nexpected: 4\nactual  : 5\nTest:       \tTestAdd",
			}}},
		},
		{
			name: "go test panic",
			output: "--- FAIL: TestBoom (0.00s)\n" +
				"panic: runtime error: index out of range [3] with length 0 [recovered]\n" +
				"\tpanic: runtime error: index out of range [3] with length 0\n\n" +
				"goroutine 7 [running]:\n" +
				"FAIL\texample.com/boom\t0.007s\n",
			want: Counts{Failed: 1, Known: true, Failing: []TestFailure{{Name: "TestBoom"}}},
		},
		{
			name:   "go test package failure outside tests",
			output: "panic: init failed\nFAIL\texample.com/boom\t0.003s\nFAIL\n",
			want:   Counts{Failed: 1, Known: true, Failing: []TestFailure{{Name: "example.com/boom", Message: "package failed"}}},
		},
		{
			name:   "pytest",
			output: read("pytest.txt"),
			want: Counts{Passed: 2, Failed: 2, Skipped: 1, Known: true, Failing: []TestFailure{
				{Name: "tests/test_auth.py::test_bad_token", File: "tests/test_auth.py", Line: 14, Message: "AssertionError: assert True is False"},
				{Name: "tests/test_util.py::TestUtil::test_slugify", File: "tests/test_util.py", Line: 9, Message: "NotImplementedError"},
			}},
		},
		{
			name:   "pytest quiet, all passing, with warnings",
			output: "....                                                                     [100%]\n4 passed, 1 warning in 0.03s\n",
			want:   Counts{Passed: 4, Known: true},
		},
		{
			name: "pytest errors and xfail",
			output: "ERROR tests/test_db.py::test_query - fixture 'db' not found\n" +
				"=========== 1 passed, 1 xfailed, 1 xpassed, 1 error in 1.02s (0:00:01) ===========\n",
			want: Counts{Passed: 2, Failed: 1, Skipped: 1, Known: true, Failing: []TestFailure{
				{Name: "tests/test_db.py::test_query", File: "tests/test_db.py", Message: "fixture 'db' not found"},
			}},
		},
		{
			name:   "cargo test",
			output: read("cargo.txt"),
			want: Counts{Passed: 1, Failed: 1, Skipped: 1, Known: true, Failing: []TestFailure{
				{Name: "tests::it_fails", File: "src/lib.rs", Line: 8, Message: "assertion `left == right` failed\n  left: 4\n right: 5"},
			}},
		},
		{
			name: "cargo test, old panic format, several binaries",
			output: "running 2 tests\n" +
				"test tests::ok ... ok\n" +
				"test tests::bad ... FAILED\n\n" +
				"failures:\n\n" +
				"---- tests::bad stdout ----\n" +
				"thread 'tests::bad' panicked at 'called `Option::unwrap()` on a `None` value', src/parse.rs:41:10\n" +
				"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n" +
				"test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\n" +
				"running 3 tests\n" +
				"test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
			want: Counts{Passed: 4, Failed: 1, Known: true, Failing: []TestFailure{
				{Name: "tests::bad", File: "src/parse.rs", Line: 41, Message: "called `Option::unwrap()` on a `None` value"},
			}},
		},
		{
			name:   "node test runner, TAP",
			output: read("node_tap.txt"),
			want: Counts{Passed: 1, Failed: 1, Skipped: 1, Known: true, Failing: []TestFailure{
				{Name: "fails", File: "/tmp/nt/t.test.js", Line: 4, Message: "Expected values to be strictly equal:\n1 !== 2"},
			}},
		},
		{
			name:   "node test runner, spec reporter",
			output: read("node_spec.txt"),
			want: Counts{Passed: 1, Failed: 1, Skipped: 1, Known: true, Failing: []TestFailure{
				{Name: "fails", File: "t.test.js", Line: 4, Message: "AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\n1 !== 2"},
			}},
		},
		{
			name: "node TAP with failing subtest",
			output: "TAP version 13\n" +
				"# Subtest: suite\n" +
				"    # Subtest: inner\n" +
				"    not ok 1 - inner\n" +
				"      ---\n" +
				"      duration_ms: 0.4\n" +
				"      location: '/repo/test/a.test.js:3:3'\n" +
				"      failureType: 'testCodeFailure'\n" +
				"      error: 'boom'\n" +
				"      ...\n" +
				"    1..1\n" +
				"not ok 1 - suite\n" +
				"  ---\n" +
				"  duration_ms: 1.1\n" +
				"  location: '/repo/test/a.test.js:1:1'\n" +
				"  failureType: 'subtestsFailed'\n" +
				"  error: '1 subtest failed'\n" +
				"  ...\n" +
				"1..1\n# tests 1\n# suites 1\n# pass 0\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n",
			want: Counts{Failed: 1, Known: true, Failing: []TestFailure{
				{Name: "inner", File: "/repo/test/a.test.js", Line: 3, Message: "boom"},
			}},
		},
		{
			name:   "nothing recognisable",
			output: "make: *** [Makefile:3: check] Error 1\n",
			want:   Counts{},
		},
		{
			name:   "empty",
			output: "",
			want:   Counts{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, ParseCounts([]byte(tt.output)))
		})
	}
}

func TestParseTestCountsCapsFailures(t *testing.T) {
	t.Parallel()
	var out []byte
	for i := range 300 {
		out = append(out, []byte("--- FAIL: TestN"+string(rune('a'+i%26))+"x"+itoa(i)+" (0.00s)\n")...)
	}
	c := ParseCounts(out)
	require.Equal(t, 300, c.Failed)
	require.Len(t, c.Failing, maxFailing)
}

func itoa(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}
