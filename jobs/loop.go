// Closing the loop with people: `/loop fix`, questions and their answers,
// and the run's memory that every cycle's prompt carries.

package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// Caps on the run's memory as the jobs gather it; the prompt caps again.
const (
	memoryCycles  = 12  // the last cycles summarised
	memorySummary = 300 // bytes of each summary
)

// questionMarker tags the comment that asks a cycle's question.
func questionMarker(cycleID int64) string {
	return fmt.Sprintf("<!-- specloop:question:%d -->", cycleID)
}

// fix queues a fix cycle on the PR's branch with the sender's instruction.
func (w *CommandWorker) fix(ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run) (string, error) {
	if run == nil {
		return noRun(rc), nil
	}
	if run.PR == 0 {
		return "this run has no pull request yet; `/loop fix` works on a PR's branch.", nil
	}
	if strings.TrimSpace(a.Text) == "" {
		return "say what to fix: `/loop fix <text>`.", nil
	}
	if waiting, err := w.d.planWaiting(ctx, run.ID); err != nil {
		return "", err
	} else if waiting {
		return planWaits, nil
	}
	return w.d.queueFix(ctx, rc, run, "fix", store.Fix{Source: agent.FixCommand, From: "@" + a.Sender, Text: a.Text})
}

// queueFix queues a fix cycle on the run, with the obligation of its last
// cycle as context, unless the PR comes from a fork or the run is at its
// cycle limit; the reply says which.
func (d *deps) queueFix(ctx context.Context, rc *repoContext, run *store.Run, trigger string, f store.Fix) (string, error) {
	pr, _, err := rc.GH.PullRequests.Get(ctx, rc.Owner, rc.Name, run.PR)
	if err != nil {
		return "", fmt.Errorf("get PR #%d: %w", run.PR, err)
	}
	if pr.GetHead().GetRepo().GetFullName() != rc.Full {
		return "this PR comes from a fork; specloop never pushes to forks.", nil
	}
	cycles, err := store.ListCycles(ctx, d.Pool, run.ID)
	if err != nil {
		return "", err
	}
	if len(cycles) >= rc.Config.Limits.CyclesPerPR {
		return cyclesLimitReached(len(cycles)), nil
	}
	c, err := d.queueCycle(ctx, run, trigger, lastObligation(cycles), func(tx pgx.Tx, c *store.Cycle) error {
		return store.SetCycleFix(ctx, tx, c.ID, f)
	})
	if err != nil {
		return "", err
	}
	pos, err := store.QueuePosition(ctx, d.Pool, c)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("queued cycle %d: a fix on `%s` (%s). [Run page](%s).", c.ID, run.Branch, position(pos), d.runURL(run.ID)), nil
}

// lastObligation is the obligation the run worked on last: a fix's context.
func lastObligation(cycles []*store.Cycle) string {
	for i := len(cycles) - 1; i >= 0; i-- {
		if id := cycles[i].ObligationID; id != "" && id != cycle.FixObligationID && id != cycle.PlanObligationID {
			return id
		}
	}
	return ""
}

// answer records the sender's answer to the question the run waits on and
// queues the next cycle on the same obligation.
func (w *CommandWorker) answer(ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run) (string, error) {
	if run == nil {
		return noRun(rc), nil
	}
	q, err := store.WaitingQuestion(ctx, w.d.Pool, run.ID)
	if err != nil {
		return "", err
	}
	if q == nil {
		return "no question is waiting for an answer here.", nil
	}
	if strings.TrimSpace(a.Text) == "" {
		return "write the answer after the command: `/loop answer <text>`.", nil
	}
	return w.d.queueAnswer(ctx, run, q, a.Text, a.Sender)
}

func (d *deps) queueAnswer(ctx context.Context, run *store.Run, q *store.Question, text, by string) (string, error) {
	c, err := d.queueCycle(ctx, run, "answer", q.ObligationID, func(tx pgx.Tx, c *store.Cycle) error {
		return store.InsertAnswer(ctx, tx, &store.Answer{RunID: run.ID, CycleID: q.CycleID, ObligationID: q.ObligationID,
			Question: q.Text, Answer: text, By: by})
	})
	if errors.Is(err, store.ErrAnswered) {
		return "that question has its answer already.", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("queued cycle %d for `%s` with your answer. [Run page](%s).", c.ID, q.ObligationID, d.runURL(run.ID)), nil
}

// quotedAnswer handles a reply that quotes text: when it quotes the
// question the run waits on and comes from someone with write access, it
// is an answer; anything else is an ordinary comment and gets nothing, not
// even a refusal.
func (w *CommandWorker) quotedAnswer(ctx context.Context, rc *repoContext, a CommandArgs) error {
	run, err := store.FindRun(ctx, w.d.Pool, a.Repo, a.Issue)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	q, err := store.WaitingQuestion(ctx, w.d.Pool, run.ID)
	if err != nil || q == nil || !quotes(a.Quote, q.Text) {
		return err
	}
	if ok, err := canDrive(ctx, rc, a.Sender); err != nil || !ok {
		return err
	}
	if _, _, err := rc.GH.Reactions.CreateIssueCommentReaction(ctx, rc.Owner, rc.Name, a.CommentID, "eyes"); err != nil {
		return fmt.Errorf("react to comment %d: %w", a.CommentID, err)
	}
	reply, err := w.d.queueAnswer(ctx, run, q, a.Text, a.Sender)
	if err != nil {
		return err
	}
	if err := w.d.reply(ctx, rc, a.Issue, fmt.Sprintf("@%s %s", a.Sender, reply)); err != nil {
		// The cycle is queued; a retry would queue nothing (answered).
		w.d.Logger.Error("reply to a quoted answer", "repo", a.Repo, "issue", a.Issue, "err", err)
	}
	return nil
}

// quotes reports whether a reply's quoted text quotes the question (or a
// good part of it), whitespace aside.
func quotes(quote, question string) bool {
	qt, qs := strings.Join(strings.Fields(quote), " "), strings.Join(strings.Fields(question), " ")
	if qt == "" || qs == "" {
		return false
	}
	return strings.Contains(qt, qs) || (len(qt) >= 12 && strings.Contains(qs, qt))
}

// askQuestion records the question the cycle ended with and posts it on
// the PR, or on the issue while there is no PR, with how to answer.
func (c *cycleRun) askQuestion(ctx context.Context, res *cycle.Result) {
	d, rc := c.d, c.rc
	if err := store.SetCycleQuestion(ctx, d.Pool, c.cycle.ID, res.Question); err != nil {
		d.Logger.Error("record question", "cycle", c.cycle.ID, "err", err)
		return
	}
	n := c.run.PR
	if n == 0 {
		n = c.run.Issue
	}
	if n == 0 {
		return // a spec run without a PR: the implement check run shows it
	}
	ob := "the obligation"
	if res.Obligation != nil {
		ob = "`" + res.Obligation.ID + "`"
	}
	body := fmt.Sprintf("**specloop has a question** (cycle %d, on %s) and waits for an answer; nothing was pushed.\n\n%s\n\n%s\n\n[Run page](%s)\n%s",
		c.cycle.ID, ob, cycle.QuoteMarkdown(res.Question), cycle.HowToAnswer, d.runURL(c.run.ID), questionMarker(c.cycle.ID))
	if _, _, err := rc.GH.Issues.CreateComment(ctx, rc.Owner, rc.Name, n, &github.IssueComment{Body: &body}); err != nil {
		d.Logger.Error("post question", "cycle", c.cycle.ID, "err", err)
	}
}

// loopInput is what the cycle is fed besides its spec: its fix request,
// the run's answers and its memory.
func (c *cycleRun) loopInput(ctx context.Context) (*agent.Fix, map[string][]agent.Answer, agent.Memory, error) {
	d := c.d
	var mem agent.Memory
	f, err := store.CycleFix(ctx, d.Pool, c.cycle.ID)
	if err != nil {
		return nil, nil, mem, err
	}
	var fix *agent.Fix
	if f.Source != "" {
		fix = &agent.Fix{Source: f.Source, From: f.From, Text: f.Text}
	}
	if f.Source == agent.FixReview {
		// The threads are read now, not when the review came: what
		// arrived since is answered too, and what specloop answered since
		// is not asked again.
		if fix.Text, err = c.reviewText(ctx); err != nil {
			return nil, nil, mem, err
		}
	}
	answers, err := store.RunAnswers(ctx, d.Pool, c.run.ID)
	if err != nil {
		return nil, nil, mem, err
	}
	byOb := map[string][]agent.Answer{}
	for _, a := range answers {
		byOb[a.ObligationID] = append(byOb[a.ObligationID], agent.Answer{Question: a.Question, Answer: a.Answer, By: a.By})
	}
	cycles, fixes, err := runFixes(ctx, d.Pool, c.run.ID)
	if err != nil {
		return nil, nil, mem, err
	}
	mem = memory(cycles, fixes, c.cycle.ID)
	notes, err := store.RunArtifacts(ctx, d.Pool, c.run.ID, c.cycle.ID, notesArtifact)
	if err != nil {
		return nil, nil, mem, err
	}
	var b strings.Builder
	for _, n := range notes {
		fmt.Fprintf(&b, "From cycle %d:\n%s\n\n", n.CycleID, strings.TrimSpace(string(n.Content)))
	}
	mem.Notes = b.String()
	return fix, byOb, mem, nil
}

// notesArtifact is the name the agent's notes are kept under.
const notesArtifact = "notes.md"

// memory is what the cycles of the run before current did: the
// obligations they completed and a line per cycle, the last few.
func memory(cycles []*store.Cycle, fixes map[int64]store.Fix, current int64) agent.Memory {
	var m agent.Memory
	seen := map[string]bool{}
	var lines []string
	for _, p := range cycles {
		if p.ID >= current || p.State != state.CycleDone {
			continue
		}
		isFix := fixes[p.ID].Source != ""
		if p.Conclusion == state.Success && p.ObligationID != "" && !isFix && !seen[p.ObligationID] {
			seen[p.ObligationID] = true
			m.Done = append(m.Done, fmt.Sprintf("`%s`: %s", p.ObligationID, p.ObligationText))
		}
		what := p.Trigger
		if isFix {
			what = "fix (" + fixes[p.ID].Source + ")"
		}
		ob := ""
		if p.ObligationID != "" {
			ob = fmt.Sprintf(" on `%s`", p.ObligationID)
		}
		lines = append(lines, fmt.Sprintf("cycle %d (%s%s) concluded %s: %s", p.ID, what, ob, p.Conclusion, markdown.OneLine(p.Summary, memorySummary)))
	}
	if len(lines) > memoryCycles {
		lines = lines[len(lines)-memoryCycles:]
	}
	m.Cycles = lines
	return m
}
