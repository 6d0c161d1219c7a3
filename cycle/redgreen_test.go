package cycle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/verify"
	"github.com/specloop/specloop/workspace"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	tap := func(pairs ...string) *VerifyRun {
		r := &VerifyRun{Command: "sh t.sh", Tests: verify.Results{Format: verify.FormatTAP}}
		for i := 0; i < len(pairs); i += 2 {
			r.Tests.Tests = append(r.Tests.Tests, verify.TestResult{Name: pairs[i], Status: verify.Status(pairs[i+1])})
		}
		return r
	}
	plain := &VerifyRun{Command: "sh t.sh"}
	tests := []struct {
		name    string
		require string
		before  *VerifyRun
		after   *VerifyRun
		why     string
	}{
		{name: "green", before: tap("a", "pass", "b", "fail"), after: tap("a", "pass", "b", "pass")},
		{name: "a regression fails", before: tap("a", "pass", "b", "fail"), after: tap("a", "fail", "b", "pass"),
			why: "1 test(s) passed on the start commit and fail now: `a`"},
		{name: "red_green met by a new test", require: repoconfig.RequireRedGreen, before: tap("a", "pass"), after: tap("a", "pass", "c", "pass")},
		{name: "red_green unmet", require: repoconfig.RequireRedGreen, before: tap("a", "pass"), after: tap("a", "pass"),
			why: "`require: red_green` is set, but no test went from failing or absent on the start commit to passing"},
		{name: "red_green without per-test results", require: repoconfig.RequireRedGreen, before: plain, after: plain,
			why: "`require: red_green` is set, but per-test results are not available from `sh t.sh`, so no test can be shown to go from red to green"},
		{name: "red_green without a baseline", require: repoconfig.RequireRedGreen, after: tap("a", "pass"),
			why: "`require: red_green` is set, but the start commit was not verified, so no test can be shown to go from red to green"},
		{name: "no per-test results, no requirement: nothing to say", before: plain, after: plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &VerifyRecord{Command: "sh t.sh", Require: tt.require, Before: tt.before}
			short, why := rec.judge(tt.after)
			require.Equal(t, tt.why, why)
			require.Equal(t, why == "", short == "")
			require.NotContains(t, short, "\n")
		})
	}
}

func TestDirCache(t *testing.T) {
	t.Parallel()
	c := DirCache{Dir: filepath.Join(t.TempDir(), "baselines")}
	key := BaselineKey("acme/widgets", "0123abcd", "go test -json ./...")
	require.NotEqual(t, key, BaselineKey("acme/widgets", "0123abcd", "go test ./..."), "the command is part of the key")
	_, ok := c.Get(key)
	require.False(t, ok)
	run := &VerifyRun{Command: "go test -json ./...", ExitCode: 1, Passed: 3, Failed: 1, Counted: true,
		Tests: verify.Results{Format: verify.FormatGoJSON, Tests: []verify.TestResult{{Name: "x.TestA", Status: verify.Fail}}}}
	c.Put(key, run)
	got, ok := c.Get(key)
	require.True(t, ok)
	require.Equal(t, run, got)
	require.Equal(t, 0, c.Prune(time.Hour), "fresh entries stay")
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(c.Dir, key+".json"), old, old))
	require.Equal(t, 1, c.Prune(time.Hour))
	_, ok = c.Get(key)
	require.False(t, ok, "pruned")
	c.Put(key, run)
	require.NoError(t, os.WriteFile(filepath.Join(c.Dir, key+".json"), []byte("{not json"), 0o600))
	_, ok = c.Get(key)
	require.False(t, ok, "a damaged entry is a miss")
}

// TestBaselineRunsOncePerCommit: the verify command runs on the start
// commit before the agent, once per commit: a second cycle on the same
// commit takes the run from the cache (and says so), and the run after a
// change is cached as the baseline of the commit it is published as.
func TestBaselineRunsOncePerCommit(t *testing.T) {
	t.Parallel()
	runs := filepath.Join(t.TempDir(), "runs.log")
	// A TAP suite: one test per impl/*.txt, failing while it says broken;
	// each run is logged outside the working copy.
	check := "echo run >> " + runs + "\necho 'TAP version 13'\nn=0\nfor f in impl/*.txt; do [ -e \"$f\" ] || continue; n=$((n+1))\n" +
		"  if grep -q broken \"$f\"; then echo \"not ok $n - $f\"; else echo \"ok $n - $f\"; fi\ndone\necho \"1..$n\"\n"
	files := sampleRepo()
	files["check.sh"] = check
	cache := DirCache{Dir: filepath.Join(t.TempDir(), "baselines")}
	cfg := func() *repoconfig.Config {
		c, err := repoconfig.Parse([]byte("agent: {command: \"" + writeGreeting + "\"}\nverify: {command: sh check.sh}\naudit: false\n"))
		require.NoError(t, err)
		return c
	}
	parent := t.TempDir()
	repo, sha := newRepo(t, parent, files)
	count := func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run\n")
	}
	var last *Result
	for i := range 2 {
		wd := newWorkdirOf(t, parent, repo, sha, i)
		e := newEngine(t, nil)
		e.Baselines = cache
		sp, err := spec.Parse(specPath, []byte(greetSpec))
		require.NoError(t, err)
		last = e.Run(t.Context(), wd, Input{Config: cfg(), Spec: sp, Repo: "acme/greet"}, &recorder{})
		require.Equal(t, state.Success, last.Conclusion, last.Summary)
		v := last.Step(StepVerify)
		require.Contains(t, v.Summary, "| newly passing (red or absent → green) | 1: `impl/a.txt` |")
		if i == 0 {
			require.Equal(t, 2, count(), "the first cycle runs the baseline and the change")
			require.Contains(t, v.Summary, "(ran before the agent): exit 0")
		} else {
			require.Equal(t, 3, count(), "the second cycle on the commit takes the baseline from the cache")
			require.Contains(t, v.Summary, "(from the baseline cache: this commit was verified before): exit 0")
			require.True(t, last.Verify.BeforeCached)
		}
	}
	e := newEngine(t, nil)
	e.Baselines = cache
	e.CacheAfter("acme/greet", "feedface", last)
	got, ok := cache.Get(BaselineKey("acme/greet", "feedface", "sh check.sh"))
	require.True(t, ok, "the run after the change is the baseline of the published commit")
	require.Equal(t, []verify.TestResult{{Name: "impl/a.txt", Status: verify.Pass}}, got.Tests.Tests)
}

// newWorkdirOf is another working copy of repo at sha, from a mirror cache
// of its own (the i-th).
func newWorkdirOf(t *testing.T, parent, repo, sha string, i int) *workspace.Workdir {
	t.Helper()
	cacheDir := filepath.Join(parent, fmt.Sprintf("cache-%d", i))
	require.NoError(t, os.MkdirAll(cacheDir, 0o755))
	cache := &workspace.Cache{Dir: cacheDir, NoOverlay: true}
	_, err := cache.Fetch(t.Context(), repo, "")
	require.NoError(t, err)
	wd, err := cache.Checkout(t.Context(), repo, sha)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, wd.Close()) })
	return wd
}
