package githubseam

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
)

// Target is a GitHub to hold to the suite: a scratch repository it may
// write to (branches named specloop-seam-*, PRs, issues, check runs), and
// a client acting for the app.
type Target struct {
	// Client acts as the app's installation (or, on real GitHub without
	// an app, a user token: then CheckRuns is false).
	Client      *github.Client
	Owner, Repo string
	// CloneURL is the repository's git URL; Token authenticates git.
	CloneURL string
	Token    string
	// CheckRuns says the client may write check runs (only GitHub Apps
	// may).
	CheckRuns bool
	// Drafts says the repository's plan has draft PRs.
	Drafts bool
}

// Run runs every case of the suite against the target newTarget makes.
func Run(t *testing.T, newTarget func(t *testing.T) *Target) {
	cases := []struct {
		name string
		run  func(t *testing.T, tg *Target)
	}{
		{"pull request draft state through GraphQL", draftLifecycle},
		{"lists paginate with Link", pagination},
		{"unchanged reads answer 304", conditional},
		{"issue spec is ticked", tickIssue},
		{"check runs with more than 50 annotations", checkRuns},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newTarget(t))
		})
	}
}

// unique names this run's objects, so parallel cases and reruns on a real
// scratch repository never collide.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// pushBranch pushes a branch with one new file on the default branch's
// tip, with git outside any sandbox as publish does, and removes it when
// the test ends.
func pushBranch(t *testing.T, tg *Target, branch string) string {
	t.Helper()
	ctx := context.Background()
	repo, _, err := tg.Client.Repositories.Get(ctx, tg.Owner, tg.Repo)
	require.NoError(t, err)
	dir := t.TempDir()
	u, err := url.Parse(tg.CloneURL)
	require.NoError(t, err)
	u.User = url.UserPassword("x-access-token", tg.Token)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=specloop-seam", "-c", "user.email=seam@example.com"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %s: %s", args[0], strings.ReplaceAll(string(out), tg.Token, "***"))
		return strings.TrimSpace(string(out))
	}
	git("clone", "-q", "--depth", "1", "--branch", repo.GetDefaultBranch(), u.String(), ".")
	git("checkout", "-q", "-b", branch)
	require.NoError(t, os.WriteFile(filepath.Join(dir, branch+".txt"), []byte(branch+"\n"), 0o644))
	git("add", "-A")
	git("commit", "-q", "-m", "seam test "+branch)
	git("push", "-q", "origin", branch)
	t.Cleanup(func() {
		cmd := exec.Command("git", "push", "-q", "origin", "--delete", branch)
		cmd.Dir = dir
		_ = cmd.Run() // best effort: a scratch repository
	})
	return git("rev-parse", "HEAD")
}

func draftLifecycle(t *testing.T, tg *Target) {
	ctx := context.Background()
	branch := unique("specloop-seam-draft")
	pushBranch(t, tg, branch)
	repo, _, err := tg.Client.Repositories.Get(ctx, tg.Owner, tg.Repo)
	require.NoError(t, err)
	gh := &publish.GitHub{Client: tg.Client, Owner: tg.Owner, Repo: tg.Repo, Base: repo.GetDefaultBranch()}
	change := &publish.Change{Branch: branch, PRTitle: "specloop seam: " + branch, PRBody: "A failing cycle.", Draft: true}
	pr, err := gh.PullRequest(ctx, change)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _, _ = tg.Client.PullRequests.Edit(context.Background(), tg.Owner, tg.Repo, pr.Number, &github.PullRequest{State: github.String("closed")})
	})
	get := func() *github.PullRequest {
		got, _, err := tg.Client.PullRequests.Get(ctx, tg.Owner, tg.Repo, pr.Number)
		require.NoError(t, err)
		return got
	}
	got := get()
	if !tg.Drafts {
		require.False(t, got.GetDraft(), "the plan has no drafts")
		require.True(t, strings.HasSuffix(got.GetBody(), publish.DraftRefusedNote), "and the body says so")
		return
	}
	require.True(t, got.GetDraft())
	change.Draft, change.PRBody = false, "A passing cycle."
	_, err = gh.PullRequest(ctx, change)
	require.NoError(t, err)
	got = get()
	require.False(t, got.GetDraft(), "ready for review")
	require.Equal(t, "A passing cycle.", got.GetBody())
	change.Draft, change.PRBody = true, "Failing again."
	_, err = gh.PullRequest(ctx, change)
	require.NoError(t, err)
	require.True(t, get().GetDraft(), "back to draft")
	// REST alone does not change it: GitHub ignores "draft" on PATCH.
	_, _, err = tg.Client.PullRequests.Edit(ctx, tg.Owner, tg.Repo, pr.Number, &github.PullRequest{Draft: github.Bool(false)})
	require.NoError(t, err)
	require.True(t, get().GetDraft(), "REST PATCH draft is ignored")
}

func pagination(t *testing.T, tg *Target) {
	ctx := context.Background()
	is, _, err := tg.Client.Issues.Create(ctx, tg.Owner, tg.Repo, &github.IssueRequest{Title: github.String(unique("specloop seam pages"))})
	require.NoError(t, err)
	t.Cleanup(func() { closeIssue(tg, is.GetNumber()) })
	for i := range 5 {
		_, _, err := tg.Client.Issues.CreateComment(ctx, tg.Owner, tg.Repo, is.GetNumber(), &github.IssueComment{Body: github.String(fmt.Sprint("comment ", i))})
		require.NoError(t, err)
	}
	var bodies []string
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 2}}
	pages := 0
	for {
		list, res, err := tg.Client.Issues.ListComments(ctx, tg.Owner, tg.Repo, is.GetNumber(), opts)
		require.NoError(t, err)
		pages++
		require.LessOrEqual(t, len(list), 2)
		for _, c := range list {
			bodies = append(bodies, c.GetBody())
		}
		if res.NextPage == 0 {
			require.Zero(t, res.LastPage, "the last page names no last")
			break
		}
		require.Equal(t, 3, res.LastPage)
		opts.Page = res.NextPage
	}
	require.Equal(t, 3, pages)
	require.Equal(t, []string{"comment 0", "comment 1", "comment 2", "comment 3", "comment 4"}, bodies)
}

func conditional(t *testing.T, tg *Target) {
	ctx := context.Background()
	req, err := tg.Client.NewRequest(http.MethodGet, fmt.Sprintf("repos/%s/%s", tg.Owner, tg.Repo), nil)
	require.NoError(t, err)
	res, err := tg.Client.BareDo(ctx, req)
	require.NoError(t, err)
	res.Body.Close()
	etag := res.Header.Get("ETag")
	require.NotEmpty(t, etag)
	req, err = tg.Client.NewRequest(http.MethodGet, fmt.Sprintf("repos/%s/%s", tg.Owner, tg.Repo), nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", etag)
	again, err := tg.Client.Client().Do(req)
	require.NoError(t, err)
	again.Body.Close()
	require.Equal(t, http.StatusNotModified, again.StatusCode)
}

func tickIssue(t *testing.T, tg *Target) {
	ctx := context.Background()
	body := "- [ ] [seam-1] first\n- [ ] [seam-2] second\n"
	is, _, err := tg.Client.Issues.Create(ctx, tg.Owner, tg.Repo, &github.IssueRequest{Title: github.String(unique("specloop seam tick")), Body: &body})
	require.NoError(t, err)
	t.Cleanup(func() { closeIssue(tg, is.GetNumber()) })
	gh := &publish.GitHub{Client: tg.Client, Owner: tg.Owner, Repo: tg.Repo}
	require.NoError(t, gh.TickIssue(ctx, is.GetNumber(), "seam-1"))
	got, _, err := tg.Client.Issues.Get(ctx, tg.Owner, tg.Repo, is.GetNumber())
	require.NoError(t, err)
	sp, err := spec.ParseIssue(is.GetNumber(), got.GetTitle(), got.GetBody())
	require.NoError(t, err)
	next, ok := sp.Next()
	require.True(t, ok)
	require.Equal(t, "seam-2", next.ID, "seam-1 is ticked on GitHub")
}

func checkRuns(t *testing.T, tg *Target) {
	if !tg.CheckRuns {
		t.Skip("only a GitHub App may write check runs: this target's token is not an installation's")
	}
	ctx := context.Background()
	branch := unique("specloop-seam-checks")
	sha := pushBranch(t, tg, branch)
	checks := evidence.NewCheckRuns(tg.Client, tg.Owner, tg.Repo)
	cr, err := checks.Create(ctx, evidence.Run{Name: "specloop/seam", HeadSHA: sha, Status: evidence.InProgress, Title: "running", Summary: "…"})
	require.NoError(t, err)
	var notes []*github.CheckRunAnnotation
	for i := range 60 {
		notes = append(notes, &github.CheckRunAnnotation{Path: github.String(branch + ".txt"), StartLine: github.Int(1), EndLine: github.Int(1),
			AnnotationLevel: github.String("warning"), Message: github.String(fmt.Sprint("note ", i))})
	}
	ev := evidence.Run{Name: "specloop/seam", HeadSHA: sha, Status: evidence.Completed, Conclusion: state.Failure,
		Title: "60 findings", Summary: "See the annotations.", Annotations: notes}
	done, err := checks.Create(ctx, ev)
	require.NoError(t, err)
	require.NoError(t, checks.Complete(ctx, cr.GetID(), "specloop/seam", state.Success, "done", "Completed."))
	got, _, err := tg.Client.Checks.GetCheckRun(ctx, tg.Owner, tg.Repo, cr.GetID())
	require.NoError(t, err)
	require.Equal(t, "completed", got.GetStatus())
	require.Equal(t, "success", got.GetConclusion())
	all, _, err := tg.Client.Checks.ListCheckRunAnnotations(ctx, tg.Owner, tg.Repo, done.GetID(), &github.ListOptions{PerPage: 100})
	require.NoError(t, err)
	require.Len(t, all, 60, "annotations past 50 went in a second request")
}

func closeIssue(tg *Target, n int) {
	_, _, _ = tg.Client.Issues.Edit(context.Background(), tg.Owner, tg.Repo, n, &github.IssueRequest{State: github.String("closed")})
}
