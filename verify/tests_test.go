package verify

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// statuses renders results as "name=status" for comparison.
func statuses(r Results) []string {
	var out []string
	for _, t := range r.Tests {
		out = append(out, t.Name+"="+string(t.Status))
	}
	return out
}

func TestPerTest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		output  string   // testdata file, or "" for none
		reports []string // testdata JUnit files
		format  string
		want    []string
	}{
		{name: "go test -json", output: "gotest.json", format: FormatGoJSON, want: []string{
			"example.com/calc.TestAdd=pass", "example.com/calc.TestSub=fail",
			"example.com/calc.TestTable/one=pass", "example.com/calc.TestTable/two=skip"}},
		{name: "pytest junit, xunit1", reports: []string{"pytest-junit.xml"}, format: FormatJUnit, want: []string{
			"tests.test_calc.test_add=pass", "tests.test_calc.test_sub=fail", "tests.test_calc.test_mul=skip",
			"tests.test_calc.TestGroup.test_inner=pass"}},
		{name: "jest-junit and surefire together", reports: []string{"jest-junit.xml", "surefire.xml"}, format: FormatJUnit, want: []string{
			"calc adds.calc adds=pass", "calc subtracts.calc subtracts=fail", "calc multiplies.calc multiplies=skip",
			"com.example.CalcTest.adds=pass", "com.example.CalcTest.divides=fail"}},
		{name: "node tap with subtests", output: "node_tap_subtests.txt", format: FormatTAP, want: []string{
			"adds=pass", "group > inner ok=pass", "group > inner bad=fail", "later=skip"}},
		{name: "cargo test", output: "cargo.txt", format: FormatCargo, want: []string{
			"tests::it_works=pass", "tests::it_fails=fail", "tests::slow=skip"}},
		{name: "plain go test is counts only", output: "go_plain.txt"},
		{name: "pytest without junit is counts only", output: "pytest.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out []byte
			if tt.output != "" {
				out = readTestdata(t, tt.output)
			}
			var reps [][]byte
			for _, r := range tt.reports {
				reps = append(reps, readTestdata(t, r))
			}
			r := PerTest(out, reps)
			require.Equal(t, tt.format, r.Format)
			require.Equal(t, tt.format != "", r.Available())
			require.Equal(t, tt.want, statuses(r))
		})
	}
}

func TestParseGoJSONKeepsTheText(t *testing.T) {
	t.Parallel()
	r, text, ok := ParseGoJSON(readTestdata(t, "gotest.json"))
	require.True(t, ok)
	require.Contains(t, string(text), "calc_test.go:13: Sub(3, 1) = 4, want 2")
	c := ParseCounts(text)
	require.Equal(t, Counts{Passed: 2, Failed: 1, Skipped: 1, Known: true, Failing: []TestFailure{
		{Name: "TestSub", File: "calc_test.go", Line: 13, Message: "Sub(3, 1) = 4, want 2"}}}, c)
	require.Equal(t, TestResult{Name: "example.com/calc.TestSub", Status: Fail, File: "calc_test.go", Line: 13, Message: "Sub(3, 1) = 4, want 2"}, r.Tests[1])
	require.Equal(t, 3, r.CountsOf().Passed+r.CountsOf().Skipped)

	// A build error printed outside the events stays in the text.
	_, text, ok = ParseGoJSON([]byte("# example.com/calc\n./calc.go:3:1: syntax error\n" +
		`{"Action":"output","Package":"example.com/calc","Output":"FAIL\texample.com/calc [build failed]\n"}` + "\n"))
	require.True(t, ok)
	require.Contains(t, string(text), "./calc.go:3:1: syntax error")
	require.Equal(t, 1, ParseCounts(text).Failed)
}

func TestParseJUnitRefusesOtherXML(t *testing.T) {
	t.Parallel()
	_, err := ParseJUnit([]byte(`<project><name>x</name></project>`))
	require.ErrorContains(t, err, "root element <project>")
	require.False(t, PerTest(nil, [][]byte{[]byte("not xml")}).Available())
}

func TestCompare(t *testing.T) {
	t.Parallel()
	res := func(pairs ...string) Results {
		r := Results{Format: FormatGoJSON}
		for i := 0; i < len(pairs); i += 2 {
			r.Tests = append(r.Tests, TestResult{Name: pairs[i], Status: Status(pairs[i+1])})
		}
		return r
	}
	before := res("A", "pass", "B", "fail", "C", "pass", "D", "fail", "E", "skip", "G", "pass")
	after := res("A", "pass", "B", "pass", "C", "fail", "D", "fail", "E", "pass", "F", "pass", "H", "fail")
	require.Equal(t, Comparison{
		NewlyPassing: []string{"B", "E", "F"},
		Regressions:  []string{"C"},
		StillFailing: []string{"D"},
		NewFailures:  []string{"H"},
		Gone:         []string{"G"},
	}, Compare(before, after))
	require.Equal(t, Comparison{}, Compare(Results{}, after), "nothing known before: nothing said")
}

// BenchmarkCompare: red → green over two runs of 20,000 tests each.
func BenchmarkCompare(b *testing.B) {
	var before, after Results
	before.Format, after.Format = FormatGoJSON, FormatGoJSON
	for i := range 20000 {
		name := fmt.Sprintf("example.com/pkg%d.TestCase%d", i%300, i)
		before.Tests = append(before.Tests, TestResult{Name: name, Status: []Status{Pass, Fail, Skip}[i%3]})
		after.Tests = append(after.Tests, TestResult{Name: name, Status: []Status{Pass, Pass, Fail}[i%3]})
	}
	for b.Loop() {
		if c := Compare(before, after); len(c.NewlyPassing) == 0 {
			b.Fatal("nothing newly passing")
		}
	}
}

// BenchmarkParseGoJSON: the events of a go test -json run of 20,000 tests.
func BenchmarkParseGoJSON(b *testing.B) {
	var out strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&out, `{"Action":"run","Package":"example.com/p%d","Test":"TestX%d"}`+"\n", i%50, i)
		fmt.Fprintf(&out, `{"Action":"output","Package":"example.com/p%d","Test":"TestX%d","Output":"--- PASS: TestX%d (0.00s)\n"}`+"\n", i%50, i, i)
		fmt.Fprintf(&out, `{"Action":"pass","Package":"example.com/p%d","Test":"TestX%d"}`+"\n", i%50, i)
	}
	data := []byte(out.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if r, _, ok := ParseGoJSON(data); !ok || len(r.Tests) != 20000 {
			b.Fatal("wrong results")
		}
	}
}
