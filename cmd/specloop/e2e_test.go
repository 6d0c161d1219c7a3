package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent/scripted"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/modelproxy"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

func TestMain(m *testing.M) {
	// The stack runs this test binary as the scripted agent.
	// ... and as the model proxy's bridge inside the sandbox.
	if len(os.Args) > 1 && os.Args[1] == "model-bridge" {
		os.Exit(modelproxy.BridgeMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "agent-script" {
		os.Exit(scripted.Main(os.Args[2:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	// TestTwoWorkers holds agents at a barrier with it.
	if len(os.Args) == 3 && os.Args[1] == "await-barrier" {
		os.Exit(awaitBarrier(os.Args[2]))
	}
	storetest.Main(m)
}

// testSandbox is the driver the end-to-end tests use: bwrap, as in
// production, unless SPECLOOP_TEST_SANDBOX says otherwise.
func testSandbox() string {
	if s := os.Getenv("SPECLOOP_TEST_SANDBOX"); s != "" {
		return s
	}
	return "bwrap"
}

func newStack(t *testing.T, opts stack.Options) *stack.Stack {
	t.Helper()
	ctx := context.Background()
	opts.DatabaseURL = storetest.URL(t)
	if opts.Sandbox == "" {
		opts.Sandbox = testSandbox()
	}
	if os.Getenv("SPECLOOP_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	} else {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st, err := stack.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// openLabelledIssue opens an issue as the maintainer and labels it.
func openLabelledIssue(t *testing.T, st *stack.Stack, repo, body string) int {
	t.Helper()
	ctx := context.Background()
	gh := st.UserClient("maintainer")
	issue, _, err := gh.Issues.Create(ctx, st.Owner, repo, &github.IssueRequest{Title: github.String("Work for " + repo), Body: &body})
	require.NoError(t, err)
	_, _, err = gh.Issues.AddLabelsToIssue(ctx, st.Owner, repo, issue.GetNumber(), []string{"specloop"})
	require.NoError(t, err)
	return issue.GetNumber()
}

// waitCycles waits until the run of issue has n finished cycles.
func waitCycles(t *testing.T, st *stack.Stack, repo string, issue, n int) (*store.Run, []*store.Cycle) {
	t.Helper()
	run, cycles, err := st.WaitCycles(context.Background(), repo, issue, n, 2*time.Minute)
	require.NoError(t, err)
	return run, cycles
}

// prOf finds the open PR of a branch on the emulator.
func prOf(st *stack.Stack, repo, branch string) *github.PullRequest {
	for _, pr := range st.Emulator.PullRequests(st.Owner, repo) {
		if pr.GetHead().GetRef() == branch {
			return pr
		}
	}
	return nil
}

// checksAt returns specloop's check runs on a commit, by name; with a
// cycle id, only that cycle's (several cycles can start from one commit).
func checksAt(st *stack.Stack, repo, sha string, cycle ...int64) map[string]*github.CheckRun {
	out := map[string]*github.CheckRun{}
	for _, cr := range st.Emulator.CheckRuns(st.Owner, repo) {
		if cr.GetHeadSHA() != sha || !strings.HasPrefix(cr.GetName(), "specloop/") {
			continue
		}
		if len(cycle) > 0 && cr.GetExternalID() != fmt.Sprintf("cycle:%d", cycle[0]) {
			continue
		}
		out[cr.GetName()] = cr
	}
	return out
}

// fileAt reads a file of a branch through the emulator's contents API.
func fileAt(t *testing.T, st *stack.Stack, repo, ref, path string) (string, bool) {
	t.Helper()
	fc, _, resp, err := st.UserClient("maintainer").Repositories.GetContents(context.Background(), st.Owner, repo, path, &github.RepositoryContentGetOptions{Ref: ref})
	if resp != nil && resp.StatusCode == 404 {
		return "", false
	}
	require.NoError(t, err)
	s, err := fc.GetContent()
	require.NoError(t, err)
	return s, true
}

// addRepo creates and installs another repo on the stack's emulator.
func addRepo(t *testing.T, st *stack.Stack, name string, files map[string]string) {
	t.Helper()
	_, err := st.Emulator.CreateRepo(st.Owner, name, emulator.RepoOptions{DefaultBranch: "main", Private: true, Files: files})
	require.NoError(t, err)
	for user, perm := range map[string]string{"maintainer": "admin", "reader": "read"} {
		st.Emulator.SetPermission(st.Owner, name, user, perm)
	}
	st.Emulator.Install(st.Owner, name)
}

// repoFiles is a sample repo whose config runs the scripted agent with the
// given agent timeout.
func repoFiles(st *stack.Stack, agentTimeout string) map[string]string {
	files := stack.SampleRepo(st.AgentBin())
	files[".github/specloop.yml"] = strings.Replace(files[".github/specloop.yml"], "timeout: 2m", "timeout: "+agentTimeout, 1)
	return files
}

func TestCycleEndToEnd(t *testing.T) {
	t.Parallel()
	st := newStack(t, stack.Options{Workers: 4})
	addRepo(t, st, "slow", repoFiles(st, "3s"))

	type want struct {
		conclusion state.Conclusion
		pushed     bool
		draft      bool
		checks     map[string]string // check run → conclusion on the pushed commit (or start commit when nothing is pushed)
		summary    map[string]string // check run → text its summary must contain
		file       string            // a file the branch must hold
	}
	tests := []struct {
		name string
		repo string
		body string
		want want
	}{
		{"success", "widgets", "- [ ] [ok-1] Add the widget table", want{
			conclusion: "success", pushed: true,
			checks:  map[string]string{"specloop/implement": "success", "specloop/verify": "success", "specloop/audit": "success"},
			summary: map[string]string{"specloop/implement": "`ok-1`: Add the widget table", "specloop/verify": "| exit code | 0 |", "specloop/audit": "Tamper check:** passed"},
			file:    "impl/ok-1.ok",
		}},
		{"verify fails then the fixer fixes it", "widgets", "- [ ] [fix-1] Tricky change [script:breaktests]", want{
			conclusion: "success", pushed: true,
			checks:  map[string]string{"specloop/implement": "success", "specloop/verify": "success", "specloop/audit": "success"},
			summary: map[string]string{"specloop/verify": "| fix attempts | 1 |"},
			file:    "impl/fix-1.ok",
		}},
		{"verify still fails after the attempts", "widgets", "- [ ] [bad-1] Impossible change [script:breakalways]", want{
			conclusion: "failure", pushed: true, draft: true,
			checks:  map[string]string{"specloop/implement": "success", "specloop/verify": "failure"},
			summary: map[string]string{"specloop/verify": "| fix attempts | 2 |"},
		}},
		{"audit fails with findings", "widgets", "- [ ] [aud-1] Sloppy change [script:auditfail]", want{
			conclusion: "failure", pushed: true, draft: true,
			checks:  map[string]string{"specloop/verify": "success", "specloop/audit": "failure"},
			summary: map[string]string{"specloop/audit": "**Verdict:** fail"},
		}},
		{"agent times out", "slow", "- [ ] [slow-1] Think forever [script:hang]", want{
			conclusion: "timed_out",
			checks:     map[string]string{"specloop/implement": "timed_out", "specloop/verify": "skipped"},
		}},
		{"agent makes no change", "widgets", "- [ ] [noop-1] Nothing to do [script:nochange]", want{
			conclusion: "neutral",
			checks:     map[string]string{"specloop/implement": "success", "specloop/verify": "skipped", "specloop/audit": "skipped"},
			summary:    map[string]string{"specloop/implement": "**Files changed:** none."},
		}},
		{"agent edits the spec", "widgets", "- [ ] [tamper-1] Cheat [script:editspec]", want{
			conclusion: "action_required",
			checks:     map[string]string{"specloop/implement": "success", "specloop/audit": "action_required"},
			summary:    map[string]string{"specloop/audit": "Tamper check:** failed"},
		}},
		{"every obligation done", "widgets", "- [x] [done-1] Already done\n- [x] [done-2] Also done", want{
			conclusion: "neutral",
			checks:     map[string]string{"specloop/implement": "skipped", "specloop/verify": "skipped", "specloop/audit": "skipped"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			issue := openLabelledIssue(t, st, tt.repo, tt.body)
			run, cycles := waitCycles(t, st, tt.repo, issue, 1)
			c := cycles[0]
			require.Equal(t, tt.want.conclusion, c.Conclusion, "cycle summary: %s", c.Summary)
			pr := prOf(st, tt.repo, run.Branch)
			branchSHA, branchErr := st.Emulator.Ref(st.Owner, tt.repo, "heads/"+run.Branch)
			if !tt.want.pushed {
				require.Nil(t, pr, "nothing pushed: no PR")
				require.Error(t, branchErr, "nothing pushed: no branch")
				if len(tt.want.checks) > 0 {
					// The evidence is on the commit the cycle started from.
					main, err := st.Emulator.Ref(st.Owner, tt.repo, "heads/main")
					require.NoError(t, err)
					assertChecks(t, checksAt(st, tt.repo, main, c.ID), tt.want.checks, tt.want.summary, issue)
				}
				return
			}
			require.NoError(t, branchErr)
			require.NotNil(t, pr, "a PR was opened")
			require.Equal(t, branchSHA, pr.GetHead().GetSHA())
			require.Equal(t, tt.want.draft, pr.GetDraft(), "draft while a check fails")
			require.Contains(t, pr.GetBody(), fmt.Sprintf("Closes #%d", issue))
			require.Equal(t, c.HeadSHA, branchSHA, "the cycle records the commit it pushed")
			assertChecks(t, checksAt(st, tt.repo, branchSHA, c.ID), tt.want.checks, tt.want.summary, issue)
			if tt.want.file != "" {
				_, ok := fileAt(t, st, tt.repo, run.Branch, tt.want.file)
				require.True(t, ok, "the branch holds %s", tt.want.file)
			}
			_, scratch := fileAt(t, st, tt.repo, run.Branch, ".specloop/audit.json")
			require.False(t, scratch, "the auditor's verdict file is never committed")
			if tt.want.conclusion == "success" {
				body := st.Emulator.Issue(st.Owner, tt.repo, issue).GetBody()
				require.Contains(t, body, "- [x] ", "the obligation is ticked in the issue body")
			}
		})
	}
}

func assertChecks(t *testing.T, got map[string]*github.CheckRun, conclusions, summaries map[string]string, issue int) {
	t.Helper()
	for name, want := range conclusions {
		cr, ok := got[name]
		require.True(t, ok, "issue #%d: check run %s exists (have %v)", issue, name, keys(got))
		require.Equal(t, "completed", cr.GetStatus(), name)
		require.Equal(t, want, cr.GetConclusion(), "%s: %s", name, cr.GetOutput().GetSummary())
		require.Contains(t, cr.GetDetailsURL(), "/runs/", "%s links to the run page", name)
	}
	for name, text := range summaries {
		require.Contains(t, got[name].GetOutput().GetSummary(), text, name)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
