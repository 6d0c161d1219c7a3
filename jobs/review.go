// Review comments become the next cycle's input: a maintainer's review on
// a run's PR queues one fix cycle for its unanswered threads, and each
// thread gets a reply naming the commit that answers it.

package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// ReviewDebounce is how long a review job waits before it looks: a review
// fires one event per inline comment and one for the review, and a
// reviewer often submits twice in a row; they all become one job, so one
// cycle.
const ReviewDebounce = 2 * time.Second

// ReviewArgs is a review, or a review comment, on a PR. What arrives
// together coalesces into one cycle: each job waits ReviewDebounce, and a
// job whose review a queued cycle, or one that started after it arrived,
// will read queues nothing. (River's unique jobs would abort the intake's
// group-committed COPY on a conflict.) Sender is informational: the job
// reads every thread and keeps only what people with write access wrote.
type ReviewArgs struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installation_id"`
	PR             int    `json:"pr"`
	Branch         string `json:"branch"`
	State          string `json:"state"` // the review's: approved, changes_requested, commented
	Sender         string `json:"sender"`
	Delivery       string `json:"delivery"`
}

func (ReviewArgs) Kind() string { return "review" }

// InsertOpts debounces the reviews of one PR.
func (ReviewArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{ScheduledAt: time.Now().Add(ReviewDebounce)}
}

// ReviewWorker queues the fix cycle for a PR's review feedback.
type ReviewWorker struct {
	river.WorkerDefaults[ReviewArgs]
	d *deps
}

func (w *ReviewWorker) Work(ctx context.Context, job *river.Job[ReviewArgs]) error {
	a, d := job.Args, w.d
	rc, err := d.openRepoForJob(ctx, a.Repo, a.InstallationID)
	if err != nil {
		return err
	}
	run, err := store.FindRun(ctx, d.Pool, a.Repo, a.PR)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if run.PR != a.PR || run.State != state.RunActive {
		return nil // not a run's PR, or a stopped run: a stop means stop
	}
	if approved, err := w.d.approvePlan(ctx, rc, run, a); err != nil || approved {
		return err
	}
	if rc.Config.OnReview != repoconfig.OnCycle {
		return nil
	}
	if waiting, err := d.planWaiting(ctx, run.ID); err != nil || waiting {
		return err // comments on a waiting plan are for the maintainer's edit
	}
	release, cycles, fixes, err := d.lockFixes(ctx, run.ID)
	if err != nil {
		return err
	}
	defer release()
	for _, c := range cycles {
		// A review cycle reads the threads when it starts: one queued, or
		// started after this review arrived, answers it.
		if fixes[c.ID].Source == agent.FixReview && (c.State == state.CycleQueued || c.StartedAt != nil && c.StartedAt.After(job.CreatedAt)) {
			return nil
		}
	}
	fb, err := d.reviewFeedback(ctx, rc, run.PR, lastReviewStart(cycles, fixes, 0))
	if err != nil {
		return err
	}
	if fb.empty() {
		return nil
	}
	reply, err := d.queueFix(ctx, rc, run, "review", store.Fix{Source: agent.FixReview, From: "the reviewers with write access"})
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "queued cycle") {
		return d.reply(ctx, rc, run.PR, "specloop did not act on the review: "+reply)
	}
	d.event(ctx, run.ID, 0, "note", "", "", "review feedback: "+reply)
	return nil
}

// lastReviewStart is when the last review fix cycle before current (0:
// any) started: review bodies submitted before it were its input.
func lastReviewStart(cycles []*store.Cycle, fixes map[int64]store.Fix, current int64) time.Time {
	var t time.Time
	for _, c := range cycles {
		if c.ID != current && fixes[c.ID].Source == agent.FixReview && c.StartedAt != nil && (current == 0 || c.ID < current) {
			t = *c.StartedAt
		}
	}
	return t
}

// thread is one review thread with the comments specloop has not answered.
type thread struct {
	root    *github.PullRequestComment
	pending []*github.PullRequestComment // by people with write access, after specloop's last reply
}

// feedback is what a review fix cycle answers.
type feedback struct {
	threads []thread
	reviews []*github.PullRequestReview // bodies of reviews that request changes or comment
}

func (f *feedback) empty() bool { return f == nil || len(f.threads) == 0 && len(f.reviews) == 0 }

// reviewFeedback reads a PR's review threads and reviews and keeps what
// people with write access wrote that specloop has not answered: a thread
// whose last word is specloop's is answered; the bodies of reviews that
// request changes, or comment inline, count when submitted after since.
func (d *deps) reviewFeedback(ctx context.Context, rc *repoContext, pr int, since time.Time) (*feedback, error) {
	bot := d.botLogin()
	writers := map[string]bool{}
	writer := func(u *github.User) (bool, error) {
		login := u.GetLogin()
		if u.GetType() == "Bot" || login == bot {
			return false, nil
		}
		if ok, seen := writers[login]; seen {
			return ok, nil
		}
		ok, err := canDrive(ctx, rc, login)
		writers[login] = ok
		return ok, err
	}
	comments, err := reviewComments(ctx, rc, pr)
	if err != nil {
		return nil, err
	}
	fb := &feedback{}
	byRoot := map[int64]*thread{}
	var order []int64
	for _, c := range comments {
		root := c.GetInReplyTo()
		if root == 0 {
			root = c.GetID()
		}
		t := byRoot[root]
		if t == nil {
			t = &thread{root: c}
			byRoot[root] = t
			order = append(order, root)
		}
		if c.GetUser().GetLogin() == bot {
			t.pending = nil // answered up to here
			continue
		}
		ok, err := writer(c.GetUser())
		if err != nil {
			return nil, err
		}
		if ok {
			t.pending = append(t.pending, c)
		}
	}
	inline := map[int64]bool{} // reviews with inline comments
	for _, id := range order {
		if t := byRoot[id]; len(t.pending) > 0 {
			fb.threads = append(fb.threads, *t)
			for _, c := range t.pending {
				inline[c.GetPullRequestReviewID()] = true
			}
		}
	}
	reviews, err := allPages(fmt.Sprintf("reviews of #%d", pr), func(page int) ([]*github.PullRequestReview, *github.Response, error) {
		return rc.GH.PullRequests.ListReviews(ctx, rc.Owner, rc.Name, pr, &github.ListOptions{PerPage: 100, Page: page})
	})
	if err != nil {
		return nil, err
	}
	for _, rv := range reviews {
		if strings.TrimSpace(rv.GetBody()) == "" || !rv.GetSubmittedAt().After(since) {
			continue
		}
		// A review asks for work when it requests changes or comments
		// inline; a plain comment's body is conversation.
		if s := rv.GetState(); s != "CHANGES_REQUESTED" && !(s == "COMMENTED" && inline[rv.GetID()]) {
			continue
		}
		ok, err := writer(rv.GetUser())
		if err != nil {
			return nil, err
		}
		if ok {
			fb.reviews = append(fb.reviews, rv)
		}
	}
	return fb, nil
}

// text is the feedback as the fix prompt quotes it (inside one untrusted
// block): each thread's file, line, diff hunk and comments, then the
// review bodies.
func (f *feedback) text() string {
	var b strings.Builder
	for i, t := range f.threads {
		fmt.Fprintf(&b, "### Thread %d: `%s` line %d\n\n", i+1, t.root.GetPath(), t.root.GetLine())
		if h := strings.TrimSpace(t.root.GetDiffHunk()); h != "" {
			b.WriteString("Diff hunk:\n\n" + indent(h) + "\n\n")
		}
		for _, c := range t.pending {
			fmt.Fprintf(&b, "@%s wrote:\n\n%s\n\n", c.GetUser().GetLogin(), indent(c.GetBody()))
		}
	}
	for _, rv := range f.reviews {
		fmt.Fprintf(&b, "### Review by @%s (%s)\n\n%s\n\n", rv.GetUser().GetLogin(), strings.ToLower(rv.GetState()), indent(rv.GetBody()))
	}
	if b.Len() == 0 {
		return "(every review thread was answered before this cycle started)"
	}
	return b.String()
}

// indent makes s an indented block, so nothing in it reads as a heading
// of the request.
func indent(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("    "+l, " ")
	}
	return strings.Join(lines, "\n")
}

// loopState is what a fix cycle keeps between its start and its end: the
// review threads and reviews it answers and the commit it pushed.
type loopState struct {
	answer replyTargets
	pushed string
}

// replyThreads answers each thread the cycle worked on, and each review
// body, naming the commit, or saying why nothing changed. A takeover posts
// only what no earlier attempt of the cycle did.
func (c *cycleRun) replyThreads(ctx context.Context, conclusion state.Conclusion, summary string) {
	to := c.loop.answer
	if to.empty() || c.run.PR == 0 {
		return
	}
	d, rc := c.d, c.rc
	var msg string
	switch {
	case c.loop.pushed != "" && conclusion == state.Success:
		msg = fmt.Sprintf("Addressed in %s (specloop cycle %d).", c.loop.pushed, c.cycle.ID)
	case c.loop.pushed != "":
		msg = fmt.Sprintf("Pushed %s (specloop cycle %d), but the cycle concluded %s: see its checks. %s", c.loop.pushed, c.cycle.ID, conclusion, markdown.OneLine(summary, 300))
	case conclusion == state.Neutral:
		msg = fmt.Sprintf("No change: specloop cycle %d changed nothing for this. %s", c.cycle.ID, markdown.OneLine(summary, 300))
	default:
		msg = fmt.Sprintf("Not addressed: specloop cycle %d concluded %s without a push. %s", c.cycle.ID, conclusion, markdown.OneLine(summary, 300))
	}
	reviewMsg := ""
	if len(to.Reviewers) > 0 {
		var who []string
		for _, login := range to.Reviewers {
			who = append(who, "@"+login)
		}
		reviewMsg = fmt.Sprintf("The review of %s: %s", strings.Join(who, ", "), msg)
	}
	var done answered
	if c.cycle.Attempts > 1 {
		var err error
		if done, err = c.answeredBefore(ctx, msg, reviewMsg); err != nil {
			// Unread is unanswered to the next review cycle, which asks
			// again; a reply posted twice cannot be taken back.
			d.Logger.Error("read the replies of earlier attempts; posting none", "cycle", c.cycle.ID, "err", err)
			return
		}
	}
	for _, root := range to.Threads {
		if done.threads[root] {
			continue
		}
		if _, _, err := rc.GH.PullRequests.CreateCommentInReplyTo(ctx, rc.Owner, rc.Name, c.run.PR, msg, root); err != nil {
			d.Logger.Warn("reply to review thread", "cycle", c.cycle.ID, "comment", root, "err", err)
		}
	}
	if reviewMsg != "" && !done.review {
		if err := d.reply(ctx, rc, c.run.PR, reviewMsg); err != nil {
			d.Logger.Warn("reply to review", "cycle", c.cycle.ID, "err", err)
		}
	}
}

// reviewText reads the feedback a review fix cycle answers and keeps it for
// the replies.
func (c *cycleRun) reviewText(ctx context.Context) (string, error) {
	if c.run.PR == 0 {
		return "", errors.New("a review fix cycle needs the run's PR")
	}
	cycles, fixes, err := runFixes(ctx, c.d.Pool, c.run.ID)
	if err != nil {
		return "", err
	}
	fb, err := c.d.reviewFeedback(ctx, c.rc, c.run.PR, lastReviewStart(cycles, fixes, c.cycle.ID))
	if err != nil {
		return "", err
	}
	c.loop.answer = fb.targets()
	return fb.text(), nil
}
