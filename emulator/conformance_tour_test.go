package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// TestConformance drives every endpoint specloop calls, as the app and as
// users, and checks each response and every webhook the tour fired against
// GitHub's published schemas.
func TestConformance(t *testing.T) {
	t.Parallel()
	gs := loadGitHubSchemas(t)
	b := setup(t)
	ctx := context.Background()
	rec := &recorder{next: http.DefaultTransport}

	apps, err := ghinstallation.NewAppsTransport(rec, testAppID, keyPEM(appKey()))
	require.NoError(t, err)
	apps.BaseURL = b.url
	inst := ghinstallation.NewFromAppsTransport(apps, b.instID)
	app := clientFor(t, b.url, &http.Client{Transport: apps})
	bot := clientFor(t, b.url, &http.Client{Transport: inst})
	user := clientFor(t, b.url, &http.Client{Transport: rec}).WithAuthToken(b.mtoken)
	const o, r = "acme", "widgets"

	_, _, err = app.Apps.Get(ctx, "")
	require.NoError(t, err)
	_, _, err = app.Apps.ListInstallations(ctx, nil)
	require.NoError(t, err)
	_, _, err = app.Apps.FindRepositoryInstallation(ctx, o, r)
	require.NoError(t, err)
	_, _, err = bot.Apps.ListRepos(ctx, nil)
	require.NoError(t, err)
	_, _, err = bot.Repositories.Get(ctx, o, r)
	require.NoError(t, err)
	_, _, err = bot.Git.GetRef(ctx, o, r, "heads/main")
	require.NoError(t, err)
	_, _, err = bot.Git.ListMatchingRefs(ctx, o, r, &github.ReferenceListOptions{Ref: "heads/"})
	require.NoError(t, err)
	_, _, err = bot.Repositories.GetBranch(ctx, o, r, "main", 0)
	require.NoError(t, err)
	_, _, err = bot.Repositories.GetCommit(ctx, o, r, "main", nil)
	require.NoError(t, err)
	_, _, _, err = bot.Repositories.GetContents(ctx, o, r, "README.md", nil)
	require.NoError(t, err)
	_, _, _, err = bot.Repositories.GetContents(ctx, o, r, "specs", nil)
	require.NoError(t, err)
	_, _, err = bot.Repositories.GetPermissionLevel(ctx, o, r, "maintainer")
	require.NoError(t, err)

	is, _, err := user.Issues.Create(ctx, o, r, &github.IssueRequest{Title: github.String("Add widgets"), Body: github.String("- [ ] one\n")})
	require.NoError(t, err)
	n := is.GetNumber()
	_, _, err = user.Issues.AddLabelsToIssue(ctx, o, r, n, []string{"specloop"})
	require.NoError(t, err)
	_, _, err = bot.Issues.ListLabelsByIssue(ctx, o, r, n, nil)
	require.NoError(t, err)
	_, _, err = bot.Issues.ListByRepo(ctx, o, r, &github.IssueListByRepoOptions{Labels: []string{"specloop"}})
	require.NoError(t, err)
	_, _, err = bot.Issues.Get(ctx, o, r, n)
	require.NoError(t, err)
	_, _, err = bot.Issues.Edit(ctx, o, r, n, &github.IssueRequest{Body: github.String("- [x] one\n")})
	require.NoError(t, err)
	cm, _, err := user.Issues.CreateComment(ctx, o, r, n, &github.IssueComment{Body: github.String("/loop status")})
	require.NoError(t, err)
	_, _, err = bot.Reactions.CreateIssueCommentReaction(ctx, o, r, cm.GetID(), "eyes")
	require.NoError(t, err)
	mine, _, err := bot.Issues.CreateComment(ctx, o, r, n, &github.IssueComment{Body: github.String("progress")})
	require.NoError(t, err)
	_, _, err = bot.Issues.EditComment(ctx, o, r, mine.GetID(), &github.IssueComment{Body: github.String("progress, edited")})
	require.NoError(t, err)
	_, _, err = bot.Issues.GetComment(ctx, o, r, mine.GetID())
	require.NoError(t, err)
	_, _, err = bot.Issues.ListComments(ctx, o, r, n, nil)
	require.NoError(t, err)
	_, err = user.Issues.RemoveLabelForIssue(ctx, o, r, n, "specloop")
	require.NoError(t, err)
	_, _, err = user.Issues.Edit(ctx, o, r, n, &github.IssueRequest{State: github.String("closed")})
	require.NoError(t, err)
	_, _, err = user.Issues.Edit(ctx, o, r, n, &github.IssueRequest{State: github.String("open")})
	require.NoError(t, err)

	sha := b.pushBranch(t, "specloop/issue-1", map[string]string{"widget.go": "package widgets\n"})
	pr, _, err := bot.PullRequests.Create(ctx, o, r, &github.NewPullRequest{Title: github.String("specloop: widgets"),
		Head: github.String("specloop/issue-1"), Base: github.String("main"), Body: github.String("Closes #1"), Draft: github.Bool(true)})
	require.NoError(t, err)
	_, _, err = bot.PullRequests.List(ctx, o, r, &github.PullRequestListOptions{Head: o + ":specloop/issue-1"})
	require.NoError(t, err)
	_, _, err = bot.PullRequests.Get(ctx, o, r, pr.GetNumber())
	require.NoError(t, err)
	_, _, err = bot.PullRequests.Edit(ctx, o, r, pr.GetNumber(), &github.PullRequest{Body: github.String("Closes #1\n\nmore")})
	require.NoError(t, err)
	_, _, err = user.Issues.AddLabelsToIssue(ctx, o, r, pr.GetNumber(), []string{"specloop"})
	require.NoError(t, err)
	_, err = user.Issues.RemoveLabelForIssue(ctx, o, r, pr.GetNumber(), "specloop")
	require.NoError(t, err)
	gql := &graphQLClient{t: t, url: b.url + "/graphql", rt: inst}
	gql.do(`mutation { markPullRequestReadyForReview(input: {pullRequestId: "` + pr.GetNodeID() + `"}) { pullRequest { isDraft } } }`)
	gql.do(`mutation { convertPullRequestToDraft(input: {pullRequestId: "` + pr.GetNodeID() + `"}) { pullRequest { isDraft } } }`)

	cr, _, err := bot.Checks.CreateCheckRun(ctx, o, r, github.CreateCheckRunOptions{Name: "specloop/verify", HeadSHA: sha,
		Status: github.String("in_progress"), ExternalID: github.String("7"), DetailsURL: github.String("https://specloop.example/runs/1")})
	require.NoError(t, err)
	_, _, err = bot.Checks.UpdateCheckRun(ctx, o, r, cr.GetID(), github.UpdateCheckRunOptions{Name: "specloop/verify",
		Conclusion: github.String("failure"), Output: &github.CheckRunOutput{Title: github.String("1 failed"), Summary: github.String("s"),
			Annotations: []*github.CheckRunAnnotation{{Path: github.String("widget.go"), StartLine: github.Int(1), EndLine: github.Int(1),
				AnnotationLevel: github.String("failure"), Message: github.String("boom")}}},
		Actions: []*github.CheckRunAction{{Label: "Next cycle", Description: "Run the next obligation", Identifier: "next"}}})
	require.NoError(t, err)
	_, _, err = bot.Checks.GetCheckRun(ctx, o, r, cr.GetID())
	require.NoError(t, err)
	_, _, err = bot.Checks.ListCheckRunAnnotations(ctx, o, r, cr.GetID(), nil)
	require.NoError(t, err)
	_, _, err = bot.Checks.ListCheckRunsForRef(ctx, o, r, sha, nil)
	require.NoError(t, err)
	_, err = user.Checks.ReRequestCheckRun(ctx, o, r, cr.GetID())
	require.NoError(t, err)
	require.NoError(t, b.s.RequestAction(o, r, cr.GetID(), "next", "maintainer"))
	_, err = user.Checks.ReRequestCheckSuite(ctx, o, r, cr.GetCheckSuite().GetID())
	require.NoError(t, err)
	forker := clientFor(t, b.url, &http.Client{Transport: rec}).WithAuthToken(b.s.AddUser("mallory"))
	_, _, err = forker.Repositories.CreateFork(ctx, o, r, nil)
	var forking *github.AcceptedError
	require.ErrorAs(t, err, &forking)
	require.NoError(t, b.s.CreateBranch("mallory", r, "patch", "main", map[string]string{"p.txt": "p\n"}))
	_, _, err = forker.PullRequests.Create(ctx, o, r, &github.NewPullRequest{Title: github.String("from a fork"),
		Head: github.String("mallory:patch"), Base: github.String("main")})
	require.NoError(t, err)
	_, _, err = bot.PullRequests.List(ctx, o, r, nil)
	require.NoError(t, err)
	_, _, err = forker.Repositories.Get(ctx, "mallory", r)
	require.NoError(t, err)
	_, _, err = user.PullRequests.Edit(ctx, o, r, pr.GetNumber(), &github.PullRequest{State: github.String("closed")})
	require.NoError(t, err)
	_, _, err = user.PullRequests.Edit(ctx, o, r, pr.GetNumber(), &github.PullRequest{State: github.String("open")})
	require.NoError(t, err)
	b.drain(t)

	deliveries, _, err := app.Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 100})
	require.NoError(t, err)
	require.NotEmpty(t, deliveries)
	_, _, err = app.Apps.GetHookDelivery(ctx, deliveries[0].GetID())
	require.NoError(t, err)
	_, _, err = app.Apps.RedeliverHookDelivery(ctx, deliveries[0].GetID())
	var accepted *github.AcceptedError
	require.ErrorAs(t, err, &accepted, "GitHub answers 202 Accepted")
	b.drain(t)

	var problems []string
	checked := map[string]bool{}
	for _, x := range rec.got {
		ok, p := gs.checkResponse(x)
		if ok {
			checked[x.method+" "+gs.op(x.method, x.path).path] = true
		}
		if p != "" {
			problems = append(problems, p)
		}
	}
	for _, op := range gs.ops {
		if len(op.schemas) > 0 && !checked[op.method+" "+op.path] {
			problems = append(problems, "not exercised: "+op.method+" "+op.path)
		}
	}
	events := map[string]bool{}
	for _, d := range b.s.Deliveries() {
		ok, p := gs.checkWebhook(d)
		if ok {
			events[d.Event+"."+d.Action] = true
		} else {
			problems = append(problems, "no schema for webhook "+d.Event+"."+d.Action)
		}
		if p != "" {
			problems = append(problems, p)
		}
	}
	for _, want := range []string{"issues.opened", "issues.labeled", "issues.unlabeled", "issues.edited", "issues.closed", "issues.reopened",
		"issue_comment.created", "push.", "check_run.created", "check_run.completed", "check_run.rerequested", "check_run.requested_action",
		"check_suite.rerequested", "installation.created"} {
		if !events[want] {
			problems = append(problems, "webhook not sent: "+want)
		}
	}
	require.Empty(t, problems, strings.Join(problems, "\n\n"))
}
