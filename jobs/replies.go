// The replies a review fix cycle owes: to each thread it worked on, and to
// the reviews whose bodies it read. They are kept in the publish record, so
// that a worker taking over a cycle whose push landed posts them as the
// dead one would have, and a takeover posts none an earlier attempt
// already did.

package jobs

import (
	"context"
	"fmt"

	"github.com/google/go-github/v62/github"
)

// replyTargets is what a review fix cycle answers: its threads, by their
// first comment, and the authors of the review bodies it read (one per
// review).
type replyTargets struct {
	Threads   []int64  `json:"threads,omitempty"`
	Reviewers []string `json:"reviewers,omitempty"`
}

func (t replyTargets) empty() bool { return len(t.Threads) == 0 && len(t.Reviewers) == 0 }

// targets is what the cycle fed f must answer.
func (f *feedback) targets() replyTargets {
	var t replyTargets
	if f == nil {
		return t
	}
	for _, th := range f.threads {
		t.Threads = append(t.Threads, th.root.GetID())
	}
	for _, rv := range f.reviews {
		t.Reviewers = append(t.Reviewers, rv.GetUser().GetLogin())
	}
	return t
}

// answered is what of a cycle's replies is on GitHub already.
type answered struct {
	threads map[int64]bool // by first comment
	review  bool
}

// answeredBefore reads which of the replies msg (in threads) and reviewMsg
// (on the PR; "" for none) are on the PR already, by specloop: an earlier
// attempt of the cycle can die between two of them.
func (c *cycleRun) answeredBefore(ctx context.Context, msg, reviewMsg string) (answered, error) {
	rc, bot := c.rc, c.d.botLogin()
	done := answered{threads: map[int64]bool{}}
	comments, err := reviewComments(ctx, rc, c.run.PR)
	if err != nil {
		return done, err
	}
	for _, cm := range comments {
		if cm.GetUser().GetLogin() == bot && cm.GetBody() == msg {
			done.threads[cm.GetInReplyTo()] = true
		}
	}
	if reviewMsg == "" {
		return done, nil
	}
	said, err := issueComments(ctx, rc, c.run.PR)
	if err != nil {
		return done, err
	}
	for _, cm := range said {
		if cm.GetUser().GetLogin() == bot && cm.GetBody() == reviewMsg {
			done.review = true
		}
	}
	return done, nil
}

// botLogin is the login GitHub shows for specloop's own comments.
func (d *deps) botLogin() string {
	if d.AppSlug == "" {
		return "specloop[bot]"
	}
	return d.AppSlug + "[bot]"
}

// reviewComments lists every review comment of PR pr, oldest first.
func reviewComments(ctx context.Context, rc *repoContext, pr int) ([]*github.PullRequestComment, error) {
	return allPages(fmt.Sprintf("review comments of #%d", pr), func(page int) ([]*github.PullRequestComment, *github.Response, error) {
		return rc.GH.PullRequests.ListComments(ctx, rc.Owner, rc.Name, pr,
			&github.PullRequestListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100, Page: page}})
	})
}

// issueComments lists every comment of issue or PR n, oldest first.
func issueComments(ctx context.Context, rc *repoContext, n int) ([]*github.IssueComment, error) {
	return allPages(fmt.Sprintf("comments of #%d", n), func(page int) ([]*github.IssueComment, *github.Response, error) {
		return rc.GH.Issues.ListComments(ctx, rc.Owner, rc.Name, n,
			&github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100, Page: page}})
	})
}

// allPages is every page list gives of what (for errors), from the first
// until GitHub names no next one.
func allPages[T any](what string, list func(page int) ([]T, *github.Response, error)) ([]T, error) {
	var out []T
	for page := 0; ; {
		items, resp, err := list(page)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", what, err)
		}
		out = append(out, items...)
		if resp.NextPage == 0 {
			return out, nil
		}
		page = resp.NextPage
	}
}
