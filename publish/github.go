package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

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

// DraftRefusedNote ends the body of a PR that should be a draft where
// GitHub refuses drafts (private repositories of Free-plan owners).
const DraftRefusedNote = "\n> [!WARNING]\n> This PR should be a draft while a check fails, but this repository's plan has no draft pull requests (GitHub offers them in private repositories on paid plans only). It is open instead: the failing check says why, and it must not be merged until a cycle passes.\n"

// PullRequest opens the branch's PR or updates its body and draft state.
// The draft state of an existing PR changes through GraphQL, since REST
// ignores it; where the plan refuses drafts, the PR is a normal one with
// DraftRefusedNote in its body (its checks still fail).
func (g *GitHub) PullRequest(ctx context.Context, c *Change) (PR, error) {
	prs, _, err := g.Client.PullRequests.List(ctx, g.Owner, g.Repo, &github.PullRequestListOptions{
		State: "open", Head: g.Owner + ":" + c.Branch,
	})
	if err != nil {
		return PR{}, fmt.Errorf("find PR of %s: %w", c.Branch, err)
	}
	if len(prs) == 0 {
		return g.openPR(ctx, c)
	}
	pr := prs[0]
	n := pr.GetNumber()
	body := c.PRBody
	if pr.GetDraft() != c.Draft {
		err := setDraft(ctx, g.Client, pr.GetNodeID(), c.Draft)
		switch {
		case errors.Is(err, errDraftsRefused):
			body += DraftRefusedNote
		case err != nil:
			return PR{}, fmt.Errorf("PR #%d: %w", n, err)
		}
	}
	if body != pr.GetBody() {
		if _, _, err := g.Client.PullRequests.Edit(ctx, g.Owner, g.Repo, n, &github.PullRequest{Body: github.String(body)}); err != nil {
			return PR{}, fmt.Errorf("update PR #%d: %w", n, err)
		}
	}
	return PR{Number: n, URL: pr.GetHTMLURL()}, nil
}

// openPR opens the branch's PR, a draft if c says so; where drafts are
// refused it opens a normal one and says so in the body.
func (g *GitHub) openPR(ctx context.Context, c *Change) (PR, error) {
	create := func(body string, draft bool) (*github.PullRequest, error) {
		pr, _, err := g.Client.PullRequests.Create(ctx, g.Owner, g.Repo, &github.NewPullRequest{
			Title: github.String(c.PRTitle), Head: github.String(c.Branch), Base: github.String(g.Base),
			Body: github.String(body), Draft: github.Bool(draft),
		})
		return pr, err
	}
	pr, err := create(c.PRBody, c.Draft)
	if c.Draft && draftsRefused(err) {
		pr, err = create(c.PRBody+DraftRefusedNote, false)
	}
	if err != nil {
		return PR{}, fmt.Errorf("open PR: %w", err)
	}
	return PR{Number: pr.GetNumber(), URL: pr.GetHTMLURL()}, nil
}

// draftsRefused recognises GitHub's 422 for a draft PR the plan forbids.
func draftsRefused(err error) bool {
	var e *github.ErrorResponse
	if !errors.As(err, &e) || e.Response == nil || e.Response.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	for _, fe := range e.Errors {
		if strings.Contains(fe.Message, "Draft pull requests are not supported") {
			return true
		}
	}
	return strings.Contains(e.Message, "Draft pull requests are not supported")
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
