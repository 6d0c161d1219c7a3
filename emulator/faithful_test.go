package emulator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// Where GitHub surprises people, the emulator must surprise them the same
// way: these tests hold it to GitHub's documented behaviour.

func TestListsPaginateWithLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	is, _, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("many comments")})
	require.NoError(t, err)
	for i := range 82 {
		// Two authors, so the secondary limit (80 a minute each) stays out of it.
		author := []*github.Client{b.app, b.maintainer}[i%2]
		_, _, err := author.Issues.CreateComment(ctx, "acme", "widgets", is.GetNumber(), &github.IssueComment{Body: github.String(fmt.Sprint("comment ", i))})
		require.NoError(t, err)
	}
	tests := []struct {
		name      string
		opts      *github.IssueListCommentsOptions
		want      int
		next, end int // NextPage, LastPage as go-github reads the Link header
	}{
		{"default page is 30", nil, 30, 2, 3},
		{"per_page is capped at 100", &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 500}}, 82, 0, 0},
		{"last page holds the rest", &github.IssueListCommentsOptions{ListOptions: github.ListOptions{Page: 3}}, 22, 0, 0},
		{"page past the end is empty", &github.IssueListCommentsOptions{ListOptions: github.ListOptions{Page: 9}}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, res, err := b.app.Issues.ListComments(ctx, "acme", "widgets", is.GetNumber(), tt.opts)
			require.NoError(t, err)
			require.Len(t, list, tt.want)
			require.Equal(t, tt.next, res.NextPage)
			require.Equal(t, tt.end, res.LastPage)
		})
	}
	// Walking the pages gives every comment once, in order.
	var all []string
	opts := &github.IssueListCommentsOptions{}
	for {
		list, res, err := b.app.Issues.ListComments(ctx, "acme", "widgets", is.GetNumber(), opts)
		require.NoError(t, err)
		for _, c := range list {
			all = append(all, c.GetBody())
		}
		if res.NextPage == 0 {
			break
		}
		opts.Page = res.NextPage
	}
	require.Len(t, all, 82)
	require.Equal(t, "comment 81", all[81])
}

func TestETagAnswers304WithoutRateCost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	get := func(etag string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, b.url+"/repos/acme/widgets", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "token "+b.mtoken)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	first := get("")
	require.Equal(t, http.StatusOK, first.StatusCode)
	etag := first.Header.Get("ETag")
	require.NotEmpty(t, etag)
	remaining := first.Header.Get("X-RateLimit-Remaining")

	again := get(etag)
	require.Equal(t, http.StatusNotModified, again.StatusCode)
	require.Equal(t, remaining, again.Header.Get("X-RateLimit-Remaining"), "a 304 costs no rate limit")

	// A change makes a new ETag.
	_, _, err := b.maintainer.Issues.Create(context.Background(), "acme", "widgets", &github.IssueRequest{Title: github.String("x")})
	require.NoError(t, err)
	list := func(etag string) int {
		req, _ := http.NewRequest(http.MethodGet, b.url+"/repos/acme/widgets/issues", nil)
		req.Header.Set("Authorization", "token "+b.mtoken)
		req.Header.Set("If-None-Match", etag)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusOK, list(etag), "another resource's ETag does not match")
}

func TestDraftChangesOnlyThroughGraphQL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.pushBranch(t, "feature", map[string]string{"f.txt": "f\n"})
	pr, _, err := b.app.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{
		Title: github.String("f"), Head: github.String("feature"), Base: github.String("main"), Draft: github.Bool(true)})
	require.NoError(t, err)
	require.True(t, pr.GetDraft())

	// REST's PATCH ignores draft, as GitHub's does.
	body := strings.NewReader(`{"draft": false}`)
	req, _ := http.NewRequest(http.MethodPatch, fmt.Sprintf("%s/repos/acme/widgets/pulls/%d", b.url, pr.GetNumber()), body)
	req.Header.Set("Authorization", "token "+b.appToken(t))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	got, _, err := b.app.PullRequests.Get(ctx, "acme", "widgets", pr.GetNumber())
	require.NoError(t, err)
	require.True(t, got.GetDraft(), "REST PATCH draft:false is ignored")

	tr, err := ghinstallation.New(http.DefaultTransport, testAppID, b.instID, keyPEM(appKey()))
	require.NoError(t, err)
	tr.BaseURL = b.url
	gql := &graphQLClient{t: t, url: b.url + "/graphql", rt: tr}
	gql.do(`mutation { markPullRequestReadyForReview(input: {pullRequestId: "` + pr.GetNodeID() + `"}) { pullRequest { isDraft } } }`)
	got, _, err = b.app.PullRequests.Get(ctx, "acme", "widgets", pr.GetNumber())
	require.NoError(t, err)
	require.False(t, got.GetDraft())
	b.drain(t)
	require.Len(t, b.hooks.events("pull_request", "ready_for_review"), 1)

	// Anything else gets GitHub's error shape.
	status, resp := gql.post(`query { viewer { login } }`)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, resp["errors"])
	status, resp = gql.post(`mutation { convertPullRequestToDraft(input: {pullRequestId: "nope"}) { pullRequest { isDraft } } }`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "NOT_FOUND", resp["errors"].([]any)[0].(map[string]any)["type"])
}

func TestFreePlanRefusesDraftsInPrivateRepos(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		plan    Plan
		private bool
		refused bool
	}{
		{"free private", PlanFree, true, true},
		{"free public", PlanFree, false, false},
		{"pro private", PlanPro, true, false},
		{"team private", PlanTeam, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			_, err := b.s.CreateRepo("acme", "secret", RepoOptions{Private: tt.private, Files: map[string]string{"a": "a\n"}})
			require.NoError(t, err)
			b.s.SetPlan("acme", tt.plan)
			sha, err := b.s.Ref("acme", "secret", "main")
			require.NoError(t, err)
			require.NoError(t, b.s.CreateBranch("acme", "secret", "feature", sha, map[string]string{"b": "b\n"}))
			_, res, err := b.app.PullRequests.Create(ctx, "acme", "secret", &github.NewPullRequest{
				Title: github.String("f"), Head: github.String("feature"), Base: github.String("main"), Draft: github.Bool(true)})
			if !tt.refused {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
			require.Contains(t, err.Error(), "Draft pull requests are not supported")
			// A normal PR is fine.
			_, _, err = b.app.PullRequests.Create(ctx, "acme", "secret", &github.NewPullRequest{
				Title: github.String("f"), Head: github.String("feature"), Base: github.String("main")})
			require.NoError(t, err)
		})
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	is, _, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("busy")})
	require.NoError(t, err)
	for i := range 79 { // the issue above was the first content-creating request
		_, _, err := b.maintainer.Issues.CreateComment(ctx, "acme", "widgets", is.GetNumber(), &github.IssueComment{Body: github.String(fmt.Sprint(i))})
		require.NoError(t, err, "comment %d", i)
	}
	_, res, err := b.maintainer.Issues.CreateComment(ctx, "acme", "widgets", is.GetNumber(), &github.IssueComment{Body: github.String("81st")})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	require.Contains(t, err.Error(), "secondary rate limit")
	// Reads are not content: they still work (a new client: go-github
	// itself refuses to send more once it saw the limit).
	_, _, err = clientFor(t, b.url, nil).WithAuthToken(b.mtoken).Issues.Get(ctx, "acme", "widgets", is.GetNumber())
	require.NoError(t, err)
	// Another credential has its own budget.
	_, _, err = b.app.Issues.CreateComment(ctx, "acme", "widgets", is.GetNumber(), &github.IssueComment{Body: github.String("bot")})
	require.NoError(t, err)
	// A minute later the user may post again.
	b.clock.advance(61 * time.Second)
	_, _, err = clientFor(t, b.url, nil).WithAuthToken(b.mtoken).Issues.CreateComment(ctx, "acme", "widgets", is.GetNumber(), &github.IssueComment{Body: github.String("later")})
	require.NoError(t, err)
}

func TestOnlySubscribedEventsAreDelivered(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t)
	s, err := New(Options{AppID: testAppID, AppPublicKey: &appKey().PublicKey, WebhookURL: hooks.srv.URL,
		Events: []string{"issues", "issue_comment"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	base, err := s.Start()
	require.NoError(t, err)
	_, err = s.CreateRepo("acme", "widgets", RepoOptions{Files: map[string]string{"a": "a\n"}})
	require.NoError(t, err)
	s.Install("acme")
	tok := s.AddUser("maintainer")
	s.SetPermission("acme", "widgets", "maintainer", "admin")
	gh := clientFor(t, base, nil).WithAuthToken(tok)
	_, _, err = gh.Issues.Create(context.Background(), "acme", "widgets", &github.IssueRequest{Title: github.String("x")})
	require.NoError(t, err)
	sha, err := s.Ref("acme", "widgets", "main")
	require.NoError(t, err)
	require.NoError(t, s.CreateBranch("acme", "widgets", "f", sha, map[string]string{"b": "b\n"}))
	_, _, err = gh.PullRequests.Create(context.Background(), "acme", "widgets", &github.NewPullRequest{Title: github.String("p"), Head: github.String("f"), Base: github.String("main")})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.WaitDeliveries(ctx))
	var events []string
	for _, d := range s.Deliveries() {
		events = append(events, d.Event)
	}
	require.ElementsMatch(t, []string{"installation", "issues"}, events, "pull_request is not subscribed")
}

func TestHookDeliveriesAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.drain(t)
	b.hooks.setStatus(http.StatusServiceUnavailable)
	_, _, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("lost")})
	require.NoError(t, err)
	b.drain(t)

	apps, err := ghinstallation.NewAppsTransport(http.DefaultTransport, testAppID, keyPEM(appKey()))
	require.NoError(t, err)
	apps.BaseURL = b.url
	app := clientFor(t, b.url, &http.Client{Transport: apps})
	list, _, err := app.Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 1})
	require.NoError(t, err)
	require.Len(t, list, 1)
	failed := list[0]
	require.Equal(t, "issues", failed.GetEvent())
	require.Equal(t, "opened", failed.GetAction())
	require.Equal(t, 503, failed.GetStatusCode())
	require.Equal(t, "Invalid HTTP Response: 503", failed.GetStatus())
	require.Equal(t, b.instID, failed.GetInstallationID())

	// A user's token may not read the app's deliveries.
	_, _, err = b.maintainer.Apps.ListHookDeliveries(ctx, nil)
	require.Error(t, err)

	b.hooks.setStatus(http.StatusAccepted)
	_, _, err = app.Apps.RedeliverHookDelivery(ctx, failed.GetID())
	var accepted *github.AcceptedError
	require.ErrorAs(t, err, &accepted)
	b.drain(t)
	list, _, err = app.Apps.ListHookDeliveries(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, failed.GetGUID(), list[0].GetGUID(), "the redelivery keeps the GUID")
	require.True(t, list[0].GetRedelivery())
	require.Equal(t, "OK", list[0].GetStatus())
	require.NotEqual(t, failed.GetID(), list[0].GetID())
	one, _, err := app.Apps.GetHookDelivery(ctx, list[0].GetID())
	require.NoError(t, err)
	require.Contains(t, string(one.Request.GetRawPayload()), `"title":"lost"`)
}

func TestClockExpiresTokens(t *testing.T) {
	t.Parallel()
	clk := &Clock{}
	s, err := New(Options{AppID: testAppID, AppPublicKey: &appKey().PublicKey, Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	base, err := s.Start()
	require.NoError(t, err)
	_, err = s.CreateRepo("acme", "widgets", RepoOptions{})
	require.NoError(t, err)
	id := s.Install("acme")
	tr, err := ghinstallation.New(http.DefaultTransport, testAppID, id, keyPEM(appKey()))
	require.NoError(t, err)
	tr.BaseURL = base
	tok, err := tr.Token(context.Background())
	require.NoError(t, err)
	gh := clientFor(t, base, nil).WithAuthToken(tok)
	_, _, err = gh.Repositories.Get(context.Background(), "acme", "widgets")
	require.NoError(t, err)
	clk.Advance(time.Hour + time.Second)
	_, res, err := gh.Repositories.Get(context.Background(), "acme", "widgets")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
}

func TestForkPullRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	mallory := clientFor(t, b.url, nil).WithAuthToken(b.s.AddUser("mallory"))
	fork, res, err := mallory.Repositories.CreateFork(ctx, "acme", "widgets", nil)
	var accepted *github.AcceptedError
	if err != nil {
		require.ErrorAs(t, err, &accepted, "GitHub answers 202 while it forks")
	}
	require.Equal(t, http.StatusAccepted, res.StatusCode)
	_ = fork
	got, _, err := mallory.Repositories.Get(ctx, "mallory", "widgets")
	require.NoError(t, err)
	require.True(t, got.GetFork())
	require.Equal(t, "acme/widgets", got.GetParent().GetFullName())

	// Mallory pushes a branch to her fork and opens a PR into acme/widgets.
	require.NoError(t, b.s.CreateBranch("mallory", "widgets", "feature", "main", map[string]string{"evil.txt": "x\n"}))
	sha, err := b.s.Ref("mallory", "widgets", "heads/feature")
	require.NoError(t, err)
	pr, _, err := mallory.PullRequests.Create(ctx, "acme", "widgets", &github.NewPullRequest{
		Title: github.String("from a fork"), Head: github.String("mallory:feature"), Base: github.String("main")})
	require.NoError(t, err)
	require.Equal(t, "mallory/widgets", pr.GetHead().GetRepo().GetFullName())
	require.True(t, pr.GetHead().GetRepo().GetFork())
	require.Equal(t, "mallory:feature", pr.GetHead().GetLabel())
	require.Equal(t, sha, pr.GetHead().GetSHA())
	require.Equal(t, "acme/widgets", pr.GetBase().GetRepo().GetFullName())
	head, err := b.s.Ref("acme", "widgets", fmt.Sprintf("refs/pull/%d/head", pr.GetNumber()))
	require.NoError(t, err)
	require.Equal(t, sha, head, "the parent keeps the fork's head")
	_, err = b.s.Ref("acme", "widgets", "heads/feature")
	require.Error(t, err, "the branch lives in the fork only")
	list, _, err := b.app.PullRequests.List(ctx, "acme", "widgets", &github.PullRequestListOptions{Head: "mallory:feature"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, _, err = b.app.PullRequests.List(ctx, "acme", "widgets", &github.PullRequestListOptions{Head: "acme:feature"})
	require.NoError(t, err)
	require.Empty(t, list, "not acme's branch")
}
