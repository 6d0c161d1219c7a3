package emulator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// browse is a cookie-keeping HTTP client, as a browser is.
func browse(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

func getPage(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func submit(t *testing.T, c *http.Client, u string, form url.Values) (int, string, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Request.URL.String(), string(b)
}

func TestBrowserView(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := browse(t)
	repoURL := b.url + "/acme/widgets"

	// The repo page, and an issue opened through its form as the reader.
	code, body := getPage(t, c, repoURL)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "acme/widgets")
	require.Contains(t, body, `<option value="maintainer" selected>maintainer (admin)</option>`, "the most powerful user acts by default")
	code, final, body := submit(t, c, repoURL+"/issues/new", url.Values{"title": {"Counter"}, "body": {"- [ ] **count** widgets\n<script>x</script>"}, "as": {"reader"}, "return": {"/acme/widgets"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, repoURL, final)
	require.Contains(t, body, "#1 Counter")
	is, _, err := b.maintainer.Issues.Get(ctx, "acme", "widgets", 1)
	require.NoError(t, err)
	require.Equal(t, "reader", is.GetUser().GetLogin(), "the form acted as the chosen user")
	b.drain(t)
	require.Len(t, b.hooks.events("issues", "opened"), 1)

	// The issue page renders the body's Markdown, escaping raw HTML.
	code, body = getPage(t, c, repoURL+"/issues/1")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<strong>count</strong>")
	require.NotContains(t, body, "<script>x</script>")
	require.Contains(t, body, `<option value="reader" selected>reader (read)</option>`, "the last user chosen stays chosen")

	// Label, comment, unlabel as the maintainer: the same webhooks as the API's.
	for _, step := range []struct {
		path string
		form url.Values
	}{
		{"/issues/1/label", url.Values{"label": {"specloop"}}},
		{"/issues/1/comment", url.Values{"body": {"/loop **status**"}}},
		{"/issues/1/unlabel", url.Values{"label": {"specloop"}}},
		{"/issues/1/label", url.Values{"label": {"specloop"}}},
	} {
		step.form.Set("as", "maintainer")
		step.form.Set("return", "/acme/widgets/issues/1")
		code, final, body := submit(t, c, repoURL+step.path, step.form)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, repoURL+"/issues/1", final, "%s: %s", step.path, body)
		require.NotContains(t, body, `id="flash"`, step.path)
	}
	b.drain(t)
	labeled := b.hooks.events("issues", "labeled")
	require.Len(t, labeled, 2)
	var ev github.IssuesEvent
	require.NoError(t, json.Unmarshal(labeled[0].body, &ev))
	require.Equal(t, "maintainer", ev.GetSender().GetLogin())
	require.Equal(t, "specloop", ev.GetLabel().GetName())
	require.Len(t, b.hooks.events("issues", "unlabeled"), 1)
	comments := b.hooks.events("issue_comment", "created")
	require.Len(t, comments, 1)
	require.Contains(t, string(comments[0].body), "/loop **status**")
	code, body = getPage(t, c, repoURL+"/issues/1")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "/loop <strong>status</strong>")
	require.Contains(t, body, `<span class="label">specloop`)

	// A refusal of the API shows on the page: the reader cannot label.
	code, final, body = submit(t, c, repoURL+"/issues/1/label", url.Values{"label": {"x"}, "as": {"reader"}, "return": {"/acme/widgets/issues/1"}})
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, final, "flash=")
	require.Contains(t, body, "answered 403")

	// A PR with a commit, a check run with Markdown, annotations and a button.
	sha := b.pushBranch(t, "feature", map[string]string{"impl/a.txt": "one\ntwo\n"})
	pr, _, err := b.maintainer.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{Title: github.String("Feature"), Head: github.String("feature"), Base: github.String("main"), Body: github.String("Closes #1")})
	require.NoError(t, err)
	cr, _, err := b.app.Checks.CreateCheckRun(ctx, "acme", "widgets", github.CreateCheckRunOptions{
		Name: "specloop/verify", HeadSHA: sha, Status: github.String("completed"), Conclusion: github.String("failure"),
		DetailsURL: github.String("http://specloop.example/runs/1"),
		Output: &github.CheckRunOutput{Title: github.String("1 failed"), Summary: github.String("| passed | failed |\n| --- | --- |\n| 3 | 1 |\n"),
			Annotations: []*github.CheckRunAnnotation{{Path: github.String("impl/a_test.go"), StartLine: github.Int(7), EndLine: github.Int(7), AnnotationLevel: github.String("failure"), Message: github.String("TestA: want 2")}}},
		Actions: []*github.CheckRunAction{{Label: "Next cycle", Description: "Run the next obligation", Identifier: "next"}},
	})
	require.NoError(t, err)
	code, body = getPage(t, c, pr.GetHTMLURL())
	require.Equal(t, http.StatusOK, code, body)
	for _, want := range []string{"Feature", "Closes #1", "<code>feature</code> → <code>main</code>", sha[:7], "change on feature",
		`data-name="specloop/verify" data-conclusion="failure"`, "<td>3</td>", "<code>impl/a_test.go:7</code>", "TestA: want 2",
		`<span class="add">&#43;two</span>`, `href="http://specloop.example/runs/1"`, ">Next cycle</button>"} {
		require.Contains(t, body, want)
	}
	// The issue's URL of a PR leads to the PR page; a check run has one too.
	code, body = getPage(t, c, repoURL+"/issues/"+itoa(pr.GetNumber()))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Files changed")
	code, body = getPage(t, c, cr.GetHTMLURL())
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "TestA: want 2")

	// The button fires check_run requested_action as the chosen user.
	prPath := "/acme/widgets/pull/" + itoa(pr.GetNumber())
	code, final, body = submit(t, c, repoURL+"/runs/"+itoa64(cr.GetID())+"/action", url.Values{"identifier": {"next"}, "as": {"maintainer"}, "return": {prPath}})
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, b.url+prPath, final)
	b.drain(t)
	actions := b.hooks.events("check_run", "requested_action")
	require.Len(t, actions, 1)
	var cev github.CheckRunEvent
	require.NoError(t, json.Unmarshal(actions[0].body, &cev))
	require.Equal(t, "next", cev.GetRequestedAction().Identifier)
	require.Equal(t, "maintainer", cev.GetSender().GetLogin())

	// Closing the PR goes through PATCH pulls: pull_request closed.
	code, _, body = submit(t, c, repoURL+"/issues/"+itoa(pr.GetNumber())+"/state", url.Values{"state": {"closed"}, "pull": {"1"}, "as": {"maintainer"}, "return": {prPath}})
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `id="state">closed`)
	b.drain(t)
	require.Len(t, b.hooks.events("pull_request", "closed"), 1)

	// Pages are not API requests: not counted against a budget.
	for k := range b.s.Served() {
		require.False(t, strings.HasPrefix(k, "GET /acme/"), "page counted as an API request: %s", k)
	}
	code, _ = getPage(t, c, b.url+"/acme/nope")
	require.Equal(t, http.StatusNotFound, code)
}
