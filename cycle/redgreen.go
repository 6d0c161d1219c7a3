package cycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/verify"
)

// VerifyRun is one run of the verify command, as the evidence and the
// signed statement record it.
type VerifyRun struct {
	Command  string `json:"command"`
	ExitCode int    `json:"exit_code"`
	TimedOut bool   `json:"timed_out,omitempty"`
	// Error says why the command could not run at all.
	Error   string         `json:"error,omitempty"`
	Passed  int            `json:"passed"`
	Failed  int            `json:"failed"`
	Skipped int            `json:"skipped"`
	Counted bool           `json:"counted"` // the output had counts specloop reads
	Tests   verify.Results `json:"tests"`
}

// VerifyRecord is what verify found on the start commit and after the
// change, test by test.
type VerifyRecord struct {
	Command string `json:"command"`
	// Before is the run on the cycle's start commit; BeforeCached says it
	// came from the baseline cache instead of running again.
	Before       *VerifyRun `json:"before,omitempty"`
	BeforeCached bool       `json:"before_cached,omitempty"`
	// After is the last run, after the fix attempts.
	After   *VerifyRun        `json:"after,omitempty"`
	Compare verify.Comparison `json:"compare"`
	// Require is the verify requirement in force ("red_green" or "").
	Require string `json:"require,omitempty"`
}

// RedGreen reports whether both runs gave per-test results, so Compare
// means something.
func (r *VerifyRecord) RedGreen() bool {
	return r != nil && r.Before != nil && r.After != nil && r.Before.Tests.Available() && r.After.Tests.Available()
}

// BaselineCache keeps verify runs on a commit, so a chain of cycles on the
// same commit runs the baseline once. Keys come from BaselineKey.
type BaselineCache interface {
	Get(key string) (*VerifyRun, bool)
	Put(key string, run *VerifyRun)
}

// BaselineKey names a verify run of command on commit of repo.
func BaselineKey(repo, commit, command string) string {
	h := sha256.Sum256([]byte(repo + "\x00" + commit + "\x00" + command))
	return hex.EncodeToString(h[:])
}

// DirCache is a BaselineCache of JSON files in a directory: it outlives
// the process, and workers sharing the directory share it. A file that
// cannot be read or written is a miss, never an error: the baseline then
// runs again.
type DirCache struct{ Dir string }

func (c DirCache) path(key string) string { return filepath.Join(c.Dir, key+".json") }

func (c DirCache) Get(key string) (*VerifyRun, bool) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	var r VerifyRun
	if json.Unmarshal(b, &r) != nil || r.Command == "" {
		return nil, false
	}
	return &r, true
}

func (c DirCache) Put(key string, run *VerifyRun) {
	b, err := json.Marshal(run)
	if err != nil || os.MkdirAll(c.Dir, 0o700) != nil {
		return
	}
	// Write and rename, so a reader never sees half a file.
	tmp, err := os.CreateTemp(c.Dir, key+".*.tmp")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), c.path(key)) != nil {
		os.Remove(tmp.Name())
	}
}

// Prune removes entries not written for age, and returns how many: the
// cache is small JSON files, but one per verified commit adds up.
func (c DirCache) Prune(age time.Duration) int {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return 0
	}
	n := 0
	cutoff := time.Now().Add(-age)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(c.Dir, e.Name())) == nil {
			n++
		}
	}
	return n
}

// cacheable reports whether a run says something about the commit rather
// than about the moment: a timeout or a command that could not start may
// go another way next time.
func (r *VerifyRun) cacheable() bool { return r != nil && r.Error == "" && !r.TimedOut }

// requirement is the verify requirement of the cycle: the spec's, else the
// repo's.
func (p *pass) requirement() string {
	if p.in.Spec.Require != "" {
		return p.in.Spec.Require
	}
	return p.cfg.Verify.Require
}

// baseline runs the verify command on the start commit, before the agent
// touches the working copy, unless the cache holds that run; whatever the
// command wrote is discarded.
func (p *pass) baseline(ctx context.Context) {
	command := verifyCommand(p.in, p.wd.Path)
	if command == "" {
		return
	}
	rec := &VerifyRecord{Command: command, Require: p.requirement()}
	p.res.Verify = rec
	key := BaselineKey(p.in.Repo, p.wd.Base, command)
	if p.e.Baselines != nil {
		if run, ok := p.e.Baselines.Get(key); ok {
			rec.Before, rec.BeforeCached = run, true
			return
		}
	}
	run, _, _ := p.runVerify(ctx, command, nil)
	rec.Before = run
	if err := p.wd.Reset(context.WithoutCancel(ctx)); err != nil {
		p.e.Logger.Warn("reset after the baseline verify run", "err", err)
	}
	if p.e.Baselines != nil && run.cacheable() && ctx.Err() == nil {
		p.e.Baselines.Put(key, run)
	}
}

// CacheAfter records the cycle's last verify run as the baseline of the
// commit it was published as, so the next cycle on that commit (a `/loop
// next`) does not run it again. The run saw that commit's tree but for the
// tick of the spec, which no verify command reads.
func (e *Engine) CacheAfter(repo, commit string, res *Result) {
	if e.Baselines == nil || res.Verify == nil || !res.Verify.After.cacheable() {
		return
	}
	e.Baselines.Put(BaselineKey(repo, commit, res.Verify.Command), res.Verify.After)
}

// reportPaths are where runners write JUnit XML by default, besides
// verify.ReportDir: Maven Surefire, cargo nextest, and the jest-junit and
// vitest defaults.
var reportGlobs = []string{
	"target/surefire-reports/TEST-*.xml",
	"target/nextest/*/junit.xml",
	"junit.xml",
	"reports/junit*.xml",
	"test-results/*.xml",
}

// runVerify runs command once and reads what it says: exit code, counts,
// per-test results. output is the log text (for go test -json, the text
// rebuilt from its events).
// live, when set, gets the output as it is written.
func (p *pass) runVerify(ctx context.Context, command string, live io.Writer) (*VerifyRun, []byte, agent.Result) {
	wd, cfg := p.wd, p.cfg
	reportDir := filepath.Join(wd.Path, filepath.FromSlash(strings.TrimSuffix(verify.ReportDir, "/")))
	// Reports of an earlier run must not pass for this one's.
	if err := os.RemoveAll(reportDir); err != nil {
		p.e.Logger.Warn("clear verify reports", "err", err)
	}
	start := time.Now()
	run := &VerifyRun{Command: command}
	r, err := p.e.Runner.Run(ctx, agent.Command{Dir: wd.Path, Shell: command, Network: cfg.Verify.Network, Timeout: time.Duration(cfg.Verify.Timeout), Output: live})
	if err != nil {
		run.Error = err.Error()
		return run, nil, r
	}
	output := p.e.Redactor.Redact(r.Output)
	run.ExitCode, run.TimedOut = r.ExitCode, r.TimedOut
	if _, text, ok := verify.ParseGoJSON(output); ok {
		output = text
	}
	run.Tests = verify.PerTest(r.Output, readReports(wd.Path, reportDir, start))
	counts := verify.ParseCounts(output)
	if !counts.Known && run.Tests.Available() {
		counts = run.Tests.CountsOf()
	}
	run.Passed, run.Failed, run.Skipped, run.Counted = counts.Passed, counts.Failed, counts.Skipped, counts.Known
	return run, output, r
}

// readReports reads the JUnit XML files a run wrote: under dir, and at the
// runners' default paths when written since start (a report committed to
// the repo is not this run's).
func readReports(root, dir string, start time.Time) [][]byte {
	var out [][]byte
	const maxReport = 32 << 20
	read := func(path string) {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxReport || fi.ModTime().Before(start) {
			return
		}
		if b, err := os.ReadFile(path); err == nil {
			out = append(out, b)
		}
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".xml") {
			read(path)
		}
		return nil
	})
	for _, g := range reportGlobs {
		matches, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(g)))
		for _, m := range matches {
			read(m)
		}
	}
	return out
}

// judge compares the run after the change with the baseline and applies
// the rules no passing exit code overrides: a regression fails verify, and
// so does `require: red_green` without a test gone red → green. It returns
// why verify fails, in short (for a title) and in full, or "" twice.
func (rec *VerifyRecord) judge(after *VerifyRun) (short, why string) {
	rec.After = after
	rec.Compare = verify.Comparison{}
	if rec.RedGreen() {
		rec.Compare = verify.Compare(rec.Before.Tests, after.Tests)
	}
	switch {
	case len(rec.Compare.Regressions) > 0:
		short = fmt.Sprintf("%d test(s) passed on the start commit and fail now", len(rec.Compare.Regressions))
		return short, short + ": " + nameList(rec.Compare.Regressions, 10)
	case rec.Require != repoconfig.RequireRedGreen:
		return "", ""
	case !rec.RedGreen():
		return "no test can be shown to go from red to green (`require: red_green`)",
			"`require: red_green` is set, but " + rec.unavailable() + ", so no test can be shown to go from red to green"
	case len(rec.Compare.NewlyPassing) == 0:
		return "no test went from red to green (`require: red_green`)",
			"`require: red_green` is set, but no test went from failing or absent on the start commit to passing"
	}
	return "", ""
}

// unavailable says which run lacked per-test results.
func (rec *VerifyRecord) unavailable() string {
	switch {
	case rec.Before == nil:
		return "the start commit was not verified"
	case rec.Before.Error != "":
		return "the verify command could not run on the start commit"
	case rec.Before.TimedOut:
		return "the run on the start commit timed out"
	case !rec.Before.Tests.Available() && (rec.After == nil || !rec.After.Tests.Available()):
		return "per-test results are not available from `" + rec.Command + "`"
	case !rec.Before.Tests.Available():
		return "per-test results are not available from the run on the start commit"
	}
	return "per-test results are not available from the run after the change"
}

func nameList(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(names)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("`" + n + "`")
	}
	return b.String()
}

// redGreenSummary is the verify check's red → green section, after a line
// on the run on the start commit.
func (rec *VerifyRecord) redGreenSummary(start string) string {
	var b strings.Builder
	if r := rec.Before; r != nil {
		how := "ran before the agent"
		if rec.BeforeCached {
			how = "from the baseline cache: this commit was verified before"
		}
		fmt.Fprintf(&b, "\n**On the start commit** `%.12s` (%s): %s\n", start, how, runLine(r))
	}
	b.WriteString("\n**Red → green**")
	if !rec.RedGreen() {
		b.WriteString(": " + rec.unavailable() + "; specloop shows no red → green rather than guess. " +
			"It reads `go test -json`, JUnit XML (written under `" + verify.ReportDir + "` or a runner's default report path), TAP and `cargo test`.\n")
		if rec.Require == repoconfig.RequireRedGreen {
			b.WriteString("\n`require: red_green` is set, so verify fails.\n")
		}
		return b.String()
	}
	fmt.Fprintf(&b, " against the start commit `%.12s` (%s, %d tests before, %d after)\n\n",
		start, rec.After.Tests.Format, len(rec.Before.Tests.Tests), len(rec.After.Tests.Tests))
	c := rec.Compare
	b.WriteString("| | tests |\n| --- | --- |\n")
	row := func(what string, names []string) {
		fmt.Fprintf(&b, "| %s | %d%s |\n", what, len(names), markdown.Cell(colonList(names)))
	}
	row("newly passing (red or absent → green)", c.NewlyPassing)
	row("regressions (green → red)", c.Regressions)
	row("unchanged failures", c.StillFailing)
	row("new failing tests", c.NewFailures)
	row("passed before, not run now", c.Gone)
	if rec.Require == repoconfig.RequireRedGreen {
		b.WriteString("\n`require: red_green`: some test must go from red or absent to green.\n")
	}
	return b.String()
}

func runLine(r *VerifyRun) string {
	switch {
	case r.Error != "":
		return "could not run: " + r.Error
	case r.TimedOut:
		return "timed out"
	case r.Counted:
		return fmt.Sprintf("exit %d, %d passed, %d failed, %d skipped", r.ExitCode, r.Passed, r.Failed, r.Skipped)
	}
	return fmt.Sprintf("exit %d", r.ExitCode)
}

func colonList(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ": " + nameList(names, 20)
}

// tokens adds an agent pass's reported token use to the cycle's.
func (p *pass) tokens(out *agent.Outcome) {
	if out == nil || out.Tokens == nil {
		return
	}
	if p.res.Tokens == nil {
		p.res.Tokens = &agent.Usage{}
	}
	t := p.res.Tokens
	t.Input += out.Tokens.Input
	t.Cached += out.Tokens.Cached
	t.Output += out.Tokens.Output
	t.Total += out.Tokens.Total
}
