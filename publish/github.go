package publish

import (
	"context"
	"fmt"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/workspace"
)

// GitHub publishes to a repository on GitHub with an installation's
// client; the push runs from outside the sandbox with a token taken just
// before it, so a long cycle never pushes with an expired one.
type GitHub struct {
	Client       *github.Client
	Owner, Repo  string
	CloneURL     string
	Base         string // the PR's base branch
	BranchPrefix string
	// Token returns a fresh installation token.
	Token func(ctx context.Context) (string, error)
}

// Push pushes sha to the branch of the repository.
func (g *GitHub) Push(ctx context.Context, wd *workspace.Workdir, sha, branch string) error {
	token, err := g.Token(ctx)
	if err != nil {
		return fmt.Errorf("token to push %s: %w", branch, err)
	}
	return wd.Push(ctx, workspace.PushOptions{RemoteURL: g.CloneURL, Token: token, SHA: sha, Branch: branch, BranchPrefix: g.BranchPrefix})
}

// PullRequest opens the branch's PR or updates its body and draft state.
func (g *GitHub) PullRequest(ctx context.Context, c *Change) (PR, error) {
	prs, _, err := g.Client.PullRequests.List(ctx, g.Owner, g.Repo, &github.PullRequestListOptions{
		State: "open", Head: g.Owner + ":" + c.Branch,
	})
	if err != nil {
		return PR{}, fmt.Errorf("find PR of %s: %w", c.Branch, err)
	}
	var pr *github.PullRequest
	if len(prs) == 0 {
		pr, _, err = g.Client.PullRequests.Create(ctx, g.Owner, g.Repo, &github.NewPullRequest{
			Title: github.String(c.PRTitle), Head: github.String(c.Branch), Base: github.String(g.Base),
			Body: github.String(c.PRBody), Draft: github.Bool(c.Draft),
		})
		if err != nil {
			return PR{}, fmt.Errorf("open PR: %w", err)
		}
	} else {
		n := prs[0].GetNumber()
		pr, _, err = g.Client.PullRequests.Edit(ctx, g.Owner, g.Repo, n, &github.PullRequest{Body: github.String(c.PRBody), Draft: github.Bool(c.Draft)})
		if err != nil {
			return PR{}, fmt.Errorf("update PR #%d: %w", n, err)
		}
	}
	return PR{Number: pr.GetNumber(), URL: pr.GetHTMLURL()}, nil
}

// TickIssue checks the obligation off in the body of an issue, the spec of
// an issue run. A body with nothing to tick is left alone.
func (g *GitHub) TickIssue(ctx context.Context, issue int, id string) error {
	is, _, err := g.Client.Issues.Get(ctx, g.Owner, g.Repo, issue)
	if err != nil {
		return fmt.Errorf("read issue #%d to tick %s: %w", issue, id, err)
	}
	ticked, err := spec.Tick(spec.IssuePath(issue), []byte(is.GetBody()), id)
	if err != nil {
		return nil // a body without that task has nothing to tick
	}
	body := string(ticked)
	if _, _, err := g.Client.Issues.Edit(ctx, g.Owner, g.Repo, issue, &github.IssueRequest{Body: &body}); err != nil {
		return fmt.Errorf("tick %s in issue #%d: %w", id, issue, err)
	}
	return nil
}
