package publish_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

func TestCommit(t *testing.T) {
	t.Parallel()
	dir, base := localRepo(t)
	cases := []struct {
		name string
		// edit changes the working copy and returns the change to commit.
		edit        func(t *testing.T, wd *workspace.Workdir) *publish.Change
		wantErr     error
		wantErrText string // an error without a sentinel
		wantSpec    string // specs/a.md in the commit
		wantFiles   []string
		wantMsg     string
	}{
		{
			name: "tick and change",
			edit: func(t *testing.T, wd *workspace.Workdir) *publish.Change {
				c := change(t, wd, specSrc, "w-1", prefix+"a")
				require.NoError(t, wd.WriteFile(".specloop/deep/prompt.md", []byte("scratch")))
				return c
			},
			wantSpec:  "# Widgets\n\n- [x] [w-1] add a widget\n- [ ] [w-2] paint it\n",
			wantFiles: []string{"README.md", "specs/a.md", "w-1.go"},
			wantMsg:   "specloop: w-1 add a widget\n\nObligation w-1 of specs/a.md (success), cycle 1 of run 1.",
		},
		{
			name: "failed cycle, no tick",
			edit: func(t *testing.T, wd *workspace.Workdir) *publish.Change {
				c := change(t, wd, specSrc, "w-2", prefix+"a")
				c.Ticked, c.Conclusion, c.Context = nil, state.Failure, ""
				return c
			},
			wantSpec:  specSrc,
			wantFiles: []string{"README.md", "specs/a.md", "w-2.go"},
			wantMsg:   "specloop: w-2 paint it\n\nObligation w-2 of specs/a.md (failure).",
		},
		{
			name: "the tick alone",
			edit: func(t *testing.T, wd *workspace.Workdir) *publish.Change {
				c := change(t, wd, specSrc, "w-2", prefix+"a")
				require.NoError(t, wd.Reset(t.Context(), "w-2.go", ".specloop"))
				return c
			},
			wantSpec:  "# Widgets\n\n- [ ] [w-1] add a widget\n- [x] [w-2] paint it\n",
			wantFiles: []string{"README.md", "specs/a.md"},
			wantMsg:   "specloop: w-2 paint it\n\nObligation w-2 of specs/a.md (success), cycle 1 of run 1.",
		},
		{
			name: "only scratch files",
			edit: func(t *testing.T, wd *workspace.Workdir) *publish.Change {
				c := change(t, wd, specSrc, "w-1", prefix+"a")
				require.NoError(t, wd.Reset(t.Context(), "w-1.go"))
				c.Ticked = nil
				return c
			},
			wantErr: workspace.ErrNothingToCommit,
		},
		{
			name: "a spec outside the tree",
			edit: func(t *testing.T, wd *workspace.Workdir) *publish.Change {
				c := change(t, wd, specSrc, "w-1", prefix+"a")
				c.Spec.Path = "../a.md"
				return c
			},
			wantErrText: `tick w-1: path "../a.md" is outside the working tree`,
		},
		{
			name: "no author",
			edit: func(t *testing.T, wd *workspace.Workdir) *publish.Change {
				c := change(t, wd, specSrc, "w-1", prefix+"a")
				c.Author = workspace.Signature{}
				return c
			},
			wantErrText: "commit: commit: author name and email are required",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wd := checkout(t, newCache(t), dir, "", base)
			c := tc.edit(t, wd)
			sha, err := publish.Commit(t.Context(), wd, c)
			if tc.wantErrText != "" {
				require.EqualError(t, err, tc.wantErrText)
				require.Equal(t, base, gitT(t, wd.Path, "rev-parse", "HEAD"), "nothing committed")
				return
			}
			require.NoDirExists(t, filepath.Join(wd.Path, ".specloop"), "the scratch directory is removed")
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Equal(t, base, gitT(t, wd.Path, "rev-parse", "HEAD"), "nothing committed")
				return
			}
			require.NoError(t, err)
			require.Equal(t, sha, gitT(t, wd.Path, "rev-parse", "HEAD"))
			require.Equal(t, base, gitT(t, wd.Path, "rev-parse", sha+"^"), "one commit on the checked-out one")
			require.Equal(t, tc.wantSpec, gitT(t, wd.Path, "show", sha+":specs/a.md")+"\n")
			require.Equal(t, strings.Join(tc.wantFiles, "\n"), gitT(t, wd.Path, "ls-tree", "-r", "--name-only", sha))
			require.Equal(t, tc.wantMsg, gitT(t, wd.Path, "log", "-1", "--format=%B", sha))
			require.Equal(t, "specloop[bot] <specloop[bot]@users.noreply.github.com>\nspecloop[bot] <specloop[bot]@users.noreply.github.com>",
				gitT(t, wd.Path, "log", "-1", "--format=%an <%ae>%n%cn <%ce>", sha), "authored and committed by the given signature")
			require.Empty(t, gitT(t, wd.Path, "status", "--porcelain"), "everything is in the commit")
		})
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	file := parseSpec(t, "specs/auth/login.md", "# Auth\n\n- [ ] [auth-1] Add the login\n  form and its handler\n")
	issue, err := spec.ParseIssue(7, "Add login", "- [ ] [i-1] add the form\n")
	require.NoError(t, err)
	prose, err := spec.ParseIssue(9, "Make it faster", "Startup takes a second; make it take less.")
	require.NoError(t, err)
	long := parseSpec(t, "specs/long.md", "- [ ] [l-1] "+strings.Repeat("word ", 20)+"\n")
	cases := []struct {
		name       string
		sp         *spec.Spec
		conclusion state.Conclusion
		context    string
		want       string
		wantName   string
	}{
		{"spec file with context", file, state.Success, "cycle 4 of run 2",
			"specloop: auth-1 Add the login form and its handler\n\nObligation auth-1 of specs/auth/login.md (success), cycle 4 of run 2.", "specs/auth/login.md"},
		{"spec file without context", file, state.Failure, "",
			"specloop: auth-1 Add the login form and its handler\n\nObligation auth-1 of specs/auth/login.md (failure).", "specs/auth/login.md"},
		{"issue", issue, state.Success, "a local cycle",
			"specloop: i-1 add the form\n\nObligation i-1 of the issue (success), a local cycle.", "the issue"},
		{"issue without a task list", prose, state.Neutral, "",
			fmt.Sprintf("specloop: %s Make it faster\n\nObligation %s of the issue (neutral).", prose.Obligations[0].ID, prose.Obligations[0].ID), "the issue"},
		{"long text on one line", long, state.Success, "",
			"specloop: l-1 " + strings.Repeat("word ", 12) + "…\n\nObligation l-1 of specs/long.md (success).", "specs/long.md"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &publish.Change{Spec: tc.sp, Obligation: tc.sp.Obligations[0], Conclusion: tc.conclusion, Context: tc.context}
			require.Equal(t, tc.want, publish.Message(c))
			require.Equal(t, tc.wantName, publish.SpecName(tc.sp))
		})
	}
}

func TestPublishLocal(t *testing.T) {
	t.Parallel()
	dir, base := localRepo(t)
	cache := newCache(t)
	local := publish.Local{Dir: dir, BranchPrefix: prefix}
	const branch = prefix + "spec/specs-a"

	// The first cycle's result lands on the local branch.
	wd := checkout(t, cache, dir, "", base)
	first, err := publish.Publish(t.Context(), local, wd, change(t, wd, specSrc, "w-1", branch))
	require.NoError(t, err)
	require.Equal(t, publish.PR{}, first.PR, "a local repository has no pull requests")
	require.Equal(t, first.SHA, gitT(t, dir, "rev-parse", branch))
	require.Equal(t, base, gitT(t, dir, "rev-parse", "main"), "main is left alone")
	require.Contains(t, gitT(t, dir, "show", branch+":specs/a.md"), "- [x] [w-1] add a widget")

	// A second cycle from the same start replaces it: not a fast-forward.
	wd2 := checkout(t, cache, dir, "", base)
	c := change(t, wd2, specSrc, "w-2", branch)
	second, err := publish.Publish(t.Context(), local, wd2, c)
	require.NoError(t, err)
	require.Equal(t, second.SHA, gitT(t, dir, "rev-parse", branch))
	_, err = gitErr(dir, "merge-base", "--is-ancestor", first.SHA, second.SHA)
	require.Error(t, err, "the branch was force-updated")
	require.Equal(t, "specloop: w-2 paint it\n\nObligation w-2 of specs/a.md (success), cycle 1 of run 1.", gitT(t, dir, "log", "-1", "--format=%B", branch))

	// The bot keeps to its own branches.
	wd3 := checkout(t, cache, dir, "", base)
	_, err = publish.Publish(t.Context(), local, wd3, change(t, wd3, specSrc, "w-1", "main"))
	require.ErrorContains(t, err, `branch does not start with "specloop/"`)
	require.Equal(t, base, gitT(t, dir, "rev-parse", "main"))
}

func TestPublishGitHub(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	b, tok, log := g.backend(t)
	cache := newCache(t)
	const branch = prefix + "spec/specs-a"
	ctx := t.Context()

	// First publish: the branch is pushed and a draft PR opened.
	wd := checkout(t, cache, g.cloneURL, g.token(t), g.main)
	c := change(t, wd, specSrc, "w-1", branch)
	c.PRTitle, c.PRBody, c.Draft = "specloop: Widgets", "Works through `specs/a.md`.\n\nCycle 1: success.", true
	var committed string
	c.BeforePush = func(_ context.Context, sha string) error {
		committed = sha
		require.Equal(t, sha, gitT(t, wd.Path, "rev-parse", "HEAD"), "the commit is made first")
		require.Zero(t, tok.calls.Load(), "no token is taken before the commit")
		require.Empty(t, g.branch(t, branch), "nothing is pushed before BeforePush returns")
		return nil
	}
	first, err := publish.Publish(ctx, b, wd, c)
	require.NoError(t, err)
	require.Equal(t, committed, first.SHA)
	require.Equal(t, int32(1), tok.calls.Load(), "one token, taken for the push")
	require.Equal(t, first.SHA, g.branch(t, branch))
	require.Equal(t, g.main, g.branch(t, "main"))

	prs := g.pulls(t, branch)
	require.Len(t, prs, 1)
	pr := prs[0]
	require.Equal(t, first.PR, publish.PR{Number: pr.GetNumber(), URL: pr.GetHTMLURL()})
	require.NotZero(t, first.PR.Number)
	require.Equal(t, "open", pr.GetState())
	require.Equal(t, "specloop: Widgets", pr.GetTitle())
	require.Equal(t, c.PRBody, pr.GetBody())
	require.Equal(t, "main", pr.GetBase().GetRef())
	require.Equal(t, branch, pr.GetHead().GetRef())
	require.Equal(t, first.SHA, pr.GetHead().GetSHA())
	require.True(t, pr.GetDraft())

	// What was pushed, read back as a person would.
	require.Equal(t, "# Widgets\n\n- [x] [w-1] add a widget\n- [ ] [w-2] paint it\n", g.file(t, "specs/a.md", branch))
	require.Equal(t, "package widgets // w-1\n", g.file(t, "w-1.go", branch))
	require.Empty(t, g.file(t, ".specloop/verdict.json", branch), "scratch files are not pushed")
	commit, _, err := g.user.Repositories.GetCommit(ctx, owner, repo, first.SHA, nil)
	require.NoError(t, err)
	require.Equal(t, "specloop: w-1 add a widget\n\nObligation w-1 of specs/a.md (success), cycle 1 of run 1.", commit.GetCommit().GetMessage())
	require.Equal(t, bot.Name, commit.GetCommit().GetAuthor().GetName())
	require.Equal(t, bot.Email, commit.GetCommit().GetAuthor().GetEmail())

	// Another spec's run has a PR of its own, newer than the first.
	wdOther := checkout(t, cache, g.cloneURL, g.token(t), g.main)
	other := change(t, wdOther, specSrc, "w-2", prefix+"spec/other")
	other.PRTitle, other.PRBody = "specloop: Other", "other"
	otherRes, err := publish.Publish(ctx, b, wdOther, other)
	require.NoError(t, err)
	require.NotEqual(t, first.PR.Number, otherRes.PR.Number)

	// Second publish, the next cycle on the pushed commit: the branch moves
	// on, the same PR gets the new body and, its checks passing, leaves
	// draft (through GraphQL: GitHub's REST ignores "draft").
	wd2 := checkout(t, cache, g.cloneURL, g.token(t), first.SHA)
	ticked, err := wd2.ReadFile("specs/a.md")
	require.NoError(t, err)
	c2 := change(t, wd2, string(ticked), "w-2", branch)
	c2.PRTitle, c2.PRBody = "specloop: a title edits do not change", "Works through `specs/a.md`.\n\nCycle 1: success.\nCycle 2: success."
	second, err := publish.Publish(ctx, b, wd2, c2)
	require.NoError(t, err)
	require.Equal(t, int32(3), tok.calls.Load(), "a fresh token for each push")
	require.Equal(t, second.SHA, g.branch(t, branch))
	require.Equal(t, first.SHA, gitT(t, wd2.Path, "rev-parse", second.SHA+"^"), "a fast-forward")
	require.Equal(t, first.PR, second.PR, "the same PR")
	prs = g.pulls(t, branch)
	require.Len(t, prs, 1, "one PR, not two")
	require.Equal(t, c2.PRBody, prs[0].GetBody())
	require.False(t, prs[0].GetDraft(), "ready for review once a cycle passes")
	require.Equal(t, 1, log.count("POST", "/graphql"), "markPullRequestReadyForReview")
	require.Equal(t, "specloop: Widgets", prs[0].GetTitle(), "the title is set once")
	require.Equal(t, second.SHA, prs[0].GetHead().GetSHA())
	require.Equal(t, "# Widgets\n\n- [x] [w-1] add a widget\n- [x] [w-2] paint it\n", g.file(t, "specs/a.md", branch))
	require.Equal(t, 2, log.count("POST", "/repos/acme/widgets/pulls"), "opened once for each branch")
	otherPRs := g.pulls(t, prefix+"spec/other")
	require.Len(t, otherPRs, 1)
	require.Equal(t, "other", otherPRs[0].GetBody(), "another branch's PR is left alone")
	require.Equal(t, 1, log.count("PATCH", fmt.Sprintf("/repos/acme/widgets/pulls/%d", first.PR.Number)), "updated once")
}

// TestPublishGitHubFailures: what stops a publish, and what it leaves on
// GitHub.
func TestPublishGitHubFailures(t *testing.T) {
	t.Parallel()
	errFence := errors.New("lease lost")
	errKey := errors.New("app key revoked")
	cases := []struct {
		name   string
		branch string
		setup  func(t *testing.T, g *gh, b *publish.GitHub, wd *workspace.Workdir, c *publish.Change)
		// wantErr is in the error; wantIs, if set, is wrapped in it.
		wantErr    string
		wantIs     error
		wantPushed bool // the branch is on GitHub afterwards
		wantTokens int32
		wantResult bool // Publish returns the commit despite the error
	}{
		{
			name: "BeforePush error stops the push",
			setup: func(_ *testing.T, _ *gh, _ *publish.GitHub, _ *workspace.Workdir, c *publish.Change) {
				c.BeforePush = func(context.Context, string) error { return errFence }
			},
			wantErr: "before pushing ", wantIs: errFence,
		},
		{
			name: "nothing to commit",
			setup: func(t *testing.T, _ *gh, _ *publish.GitHub, wd *workspace.Workdir, c *publish.Change) {
				require.NoError(t, wd.Reset(t.Context()))
				c.Ticked = nil
			},
			wantErr: "commit: nothing to commit", wantIs: workspace.ErrNothingToCommit,
		},
		{
			name: "branch outside the prefix", branch: "feature/widgets",
			wantErr: `branch does not start with "specloop/"`, wantTokens: 1,
		},
		{
			name: "token error",
			setup: func(_ *testing.T, _ *gh, b *publish.GitHub, _ *workspace.Workdir, _ *publish.Change) {
				b.Token = func(context.Context) (string, error) { return "", errKey }
			},
			wantErr: "token to push specloop/x: app key revoked", wantIs: errKey,
		},
		{
			name: "token GitHub does not know",
			setup: func(_ *testing.T, _ *gh, b *publish.GitHub, _ *workspace.Workdir, _ *publish.Change) {
				b.Token = func(context.Context) (string, error) { return "ghs_notATokenOfThisInstallation", nil }
			},
			wantErr: "push specloop/x to ",
		},
		{
			name: "finding the PR fails",
			setup: func(t *testing.T, g *gh, _ *publish.GitHub, _ *workspace.Workdir, _ *publish.Change) {
				_, err := g.emu.Inject(emulator.Fault{Method: "GET", Path: "/repos/{owner}/{repo}/pulls", Status: http.StatusInternalServerError})
				require.NoError(t, err)
			},
			wantErr: "find PR of specloop/x: ", wantPushed: true, wantTokens: 1, wantResult: true,
		},
		{
			name: "opening the PR fails",
			setup: func(t *testing.T, g *gh, _ *publish.GitHub, _ *workspace.Workdir, _ *publish.Change) {
				_, err := g.emu.Inject(emulator.Fault{Method: "POST", Path: "/repos/{owner}/{repo}/pulls", Status: http.StatusBadGateway})
				require.NoError(t, err)
			},
			wantErr: "open PR: ", wantPushed: true, wantTokens: 1, wantResult: true,
		},
		{
			name: "opening the PR is refused",
			setup: func(_ *testing.T, _ *gh, b *publish.GitHub, _ *workspace.Workdir, _ *publish.Change) {
				b.Base = "no-such-base"
			},
			wantErr: "open PR: ", wantPushed: true, wantTokens: 1, wantResult: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGitHub(t)
			b, tok, _ := g.backend(t)
			branch := tc.branch
			if branch == "" {
				branch = prefix + "x"
			}
			wd := checkout(t, newCache(t), g.cloneURL, g.token(t), g.main)
			c := change(t, wd, specSrc, "w-1", branch)
			c.PRTitle, c.PRBody = "specloop: Widgets", "body"
			if tc.setup != nil {
				tc.setup(t, g, b, wd, c)
			}
			res, err := publish.Publish(t.Context(), b, wd, c)
			require.ErrorContains(t, err, tc.wantErr)
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
			}
			require.NotContains(t, err.Error(), "ghs_", "no token in the error")
			if tc.wantResult {
				require.NotNil(t, res)
				require.Equal(t, gitT(t, wd.Path, "rev-parse", "HEAD"), res.SHA)
				require.Zero(t, res.PR)
			} else {
				require.Nil(t, res)
			}
			g.emu.ClearFaults()
			if tc.wantPushed {
				require.Equal(t, res.SHA, g.branch(t, branch))
			} else {
				require.Empty(t, g.branch(t, branch), "nothing pushed")
			}
			require.Equal(t, g.main, g.branch(t, "main"))
			require.Empty(t, g.pulls(t, branch), "no PR")
			require.Equal(t, tc.wantTokens, tok.calls.Load())
		})
	}
}

func TestPublishGitHubUpdateFails(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	b, _, _ := g.backend(t)
	cache := newCache(t)
	const branch = prefix + "x"
	wd := checkout(t, cache, g.cloneURL, g.token(t), g.main)
	c := change(t, wd, specSrc, "w-1", branch)
	c.PRTitle, c.PRBody = "specloop: Widgets", "first"
	first, err := publish.Publish(t.Context(), b, wd, c)
	require.NoError(t, err)

	_, err = g.emu.Inject(emulator.Fault{Method: "PATCH", Path: "/repos/{owner}/{repo}/pulls/{n}", Status: http.StatusInternalServerError})
	require.NoError(t, err)
	wd2 := checkout(t, cache, g.cloneURL, g.token(t), first.SHA)
	ticked, err := wd2.ReadFile("specs/a.md")
	require.NoError(t, err)
	c2 := change(t, wd2, string(ticked), "w-2", branch)
	c2.PRBody = "second"
	res, err := publish.Publish(t.Context(), b, wd2, c2)
	require.ErrorContains(t, err, fmt.Sprintf("update PR #%d: ", first.PR.Number))
	require.Equal(t, res.SHA, g.branch(t, branch), "the push went through")
	g.emu.ClearFaults()
	prs := g.pulls(t, branch)
	require.Len(t, prs, 1)
	require.Equal(t, "first", prs[0].GetBody())
}

func TestTickIssue(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	cases := []struct {
		name string
		body string
		// id is the obligation to tick; "" means the second obligation as
		// the issue's spec derives it.
		id       string
		want     string // the body afterwards
		wantEdit bool
	}{
		{"ticks the task", "Please:\n\n- [ ] [i-1] add the form\n- [ ] [i-2] validate it\n", "i-1",
			"Please:\n\n- [x] [i-1] add the form\n- [ ] [i-2] validate it\n", true},
		{"derived id", "- [ ] add the form\n- [ ] validate it\n", "",
			"- [ ] add the form\n- [x] validate it\n", true},
		{"ticks in the body's own style", "- [ ] [i-1] a\n- [X] [i-2] b\n", "i-1", "- [X] [i-1] a\n- [X] [i-2] b\n", true},
		{"keeps the marker's case", "- [ ] [i-1] a\n- [X] [i-2] b\n- [x] [i-3] c\n", "i-1", "- [x] [i-1] a\n- [X] [i-2] b\n- [x] [i-3] c\n", true},
		{"body without the task", "- [ ] [i-1] add the form\n", "zz-9", "- [ ] [i-1] add the form\n", false},
		{"body without a task list", "Make startup faster.", "i-1", "Make startup faster.", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, _, log := g.backend(t)
			is, _, err := g.user.Issues.Create(t.Context(), owner, repo, &github.IssueRequest{Title: github.String(tc.name), Body: github.String(tc.body)})
			require.NoError(t, err)
			n := is.GetNumber()
			id := tc.id
			if id == "" {
				sp, err := spec.ParseIssue(n, tc.name, tc.body)
				require.NoError(t, err)
				id = sp.Obligations[1].ID
			}

			require.NoError(t, b.TickIssue(t.Context(), n, id))
			got, _, err := g.user.Issues.Get(t.Context(), owner, repo, n)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.GetBody())
			edits := log.count("PATCH", fmt.Sprintf("/repos/acme/widgets/issues/%d", n))
			if tc.wantEdit {
				require.Equal(t, 1, edits)
			} else {
				require.Zero(t, edits, "a body with nothing to tick is left alone")
			}
		})
	}

	t.Run("no such issue", func(t *testing.T) {
		t.Parallel()
		b, _, _ := g.backend(t)
		require.ErrorContains(t, b.TickIssue(t.Context(), 999, "i-1"), "read issue #999 to tick i-1: ")
	})
	t.Run("edit fails", func(t *testing.T) {
		t.Parallel()
		b, _, _ := g.backend(t)
		is, _, err := g.user.Issues.Create(t.Context(), owner, repo, &github.IssueRequest{Title: github.String("t"), Body: github.String("- [ ] [i-1] a\n")})
		require.NoError(t, err)
		path := fmt.Sprintf("/repos/acme/widgets/issues/%d", is.GetNumber())
		remove, err := g.emu.Inject(emulator.Fault{Method: "PATCH", Path: path, Status: http.StatusInternalServerError})
		require.NoError(t, err)
		err = b.TickIssue(t.Context(), is.GetNumber(), "i-1")
		remove.Remove()
		require.ErrorContains(t, err, fmt.Sprintf("tick i-1 in issue #%d: ", is.GetNumber()))
		got, _, err := g.user.Issues.Get(t.Context(), owner, repo, is.GetNumber())
		require.NoError(t, err)
		require.Equal(t, "- [ ] [i-1] a\n", got.GetBody())
	})
}

// TestPublishGitHubFreePlan: in a private repository of a Free-plan owner
// GitHub refuses drafts; a failing cycle still gets its PR, a normal one
// that says why it is not a draft, and a later failing cycle leaves it so.
func TestPublishGitHubFreePlan(t *testing.T) {
	t.Parallel()
	g := newGitHubRepo(t, emulator.RepoOptions{Private: true})
	b, _, log := g.backend(t)
	cache := newCache(t)
	const branch = prefix + "spec/specs-a"
	ctx := t.Context()

	wd := checkout(t, cache, g.cloneURL, g.token(t), g.main)
	c := change(t, wd, specSrc, "w-1", branch)
	c.PRTitle, c.PRBody, c.Draft = "specloop: Widgets", "Cycle 1: failure.", true
	first, err := publish.Publish(ctx, b, wd, c)
	require.NoError(t, err, "the refused draft does not lose the PR")
	require.NotZero(t, first.PR.Number)
	prs := g.pulls(t, branch)
	require.Len(t, prs, 1)
	require.False(t, prs[0].GetDraft())
	require.Equal(t, c.PRBody+publish.DraftRefusedNote, prs[0].GetBody())
	require.Equal(t, 2, log.count("POST", "/repos/acme/widgets/pulls"), "the draft was refused, the normal PR opened")

	// A passing cycle drops the note; a failing one after it cannot make
	// the PR a draft either, and says so again.
	wd2 := checkout(t, cache, g.cloneURL, g.token(t), first.SHA)
	ticked, err := wd2.ReadFile("specs/a.md")
	require.NoError(t, err)
	c2 := change(t, wd2, string(ticked), "w-2", branch)
	c2.PRTitle, c2.PRBody, c2.Draft = "specloop: Widgets", "Cycle 2: failure.", true
	_, err = publish.Publish(ctx, b, wd2, c2)
	require.NoError(t, err)
	prs = g.pulls(t, branch)
	require.False(t, prs[0].GetDraft())
	require.Equal(t, c2.PRBody+publish.DraftRefusedNote, prs[0].GetBody())
}
