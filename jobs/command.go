package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// CommandWorker carries out `/loop` commands.
type CommandWorker struct {
	river.WorkerDefaults[CommandArgs]
	d *deps
}

// refusalMarker tags the one refusal a user gets on an issue or PR.
func refusalMarker(login string) string { return "<!-- specloop:refused:" + login + " -->" }

func (w *CommandWorker) Work(ctx context.Context, job *river.Job[CommandArgs]) error {
	a := job.Args
	rc, err := w.d.openRepoForJob(ctx, a.Repo, a.InstallationID)
	if err != nil {
		return err
	}
	if a.Quote != "" {
		return w.quotedAnswer(ctx, rc, a)
	}
	allowed, err := canDrive(ctx, rc, a.Sender)
	if err != nil {
		return err
	}
	if !allowed {
		return w.refuse(ctx, rc, a)
	}
	// The 👀 says "seen" at once; the reply or check run says "done".
	if _, _, err := rc.GH.Reactions.CreateIssueCommentReaction(ctx, rc.Owner, rc.Name, a.CommentID, "eyes"); err != nil {
		return fmt.Errorf("react to comment %d: %w", a.CommentID, err)
	}
	reply, err := w.run(ctx, rc, a)
	if err != nil {
		reply = fmt.Sprintf("`/loop %s` failed: %v", a.Command, err)
		w.d.Logger.Error("command", "repo", a.Repo, "issue", a.Issue, "command", a.Command, "err", err)
	}
	err = w.d.reply(ctx, rc, a.Issue, fmt.Sprintf("@%s %s", a.Sender, reply))
	if cmd, _ := lookupCommand(a.Command); err != nil && cmd.queuesCycle && strings.HasPrefix(reply, "queued cycle") {
		// The cycle is queued and will post its check runs; retrying the job
		// would queue a second one.
		w.d.Logger.Error("reply to command (cycle already queued; not retrying)", "repo", a.Repo, "issue", a.Issue, "err", err)
		return nil
	}
	return err
}

func (w *CommandWorker) run(ctx context.Context, rc *repoContext, a CommandArgs) (string, error) {
	run, err := store.FindRun(ctx, w.d.Pool, a.Repo, a.Issue)
	if errors.Is(err, store.ErrNotFound) {
		run = nil
	} else if err != nil {
		return "", err
	}
	return w.dispatch(ctx, rc, a, run)
}

// dispatch hands a to its registered command; unknown commands get the help.
func (w *CommandWorker) dispatch(ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run) (string, error) {
	cmd, ok := lookupCommand(a.Command)
	if !ok {
		return unknownCommand(a.Command), nil
	}
	return cmd.run(w, ctx, rc, a, run)
}

// The command handlers, registered in commands.go.

func (w *CommandWorker) help(context.Context, *repoContext, CommandArgs, *store.Run) (string, error) {
	return "\n\n" + CommandHelp(), nil
}

func (w *CommandWorker) status(ctx context.Context, rc *repoContext, _ CommandArgs, run *store.Run) (string, error) {
	if run == nil {
		return noRun(rc), nil
	}
	return w.d.status(ctx, run)
}

func (w *CommandWorker) next(ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run) (string, error) {
	return w.queue(ctx, rc, a, run, false)
}

func (w *CommandWorker) retry(ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run) (string, error) {
	return w.queue(ctx, rc, a, run, true)
}

// queue queues the next cycle, or with retry the last failed one again.
func (w *CommandWorker) queue(ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run, retry bool) (string, error) {
	if run == nil {
		return noRun(rc), nil
	}
	if p, err := store.GetPlan(ctx, w.d.Pool, run.ID); err != nil {
		return "", err
	} else if p != nil && p.Waiting {
		return planWaits, nil
	}
	if a.IsPR {
		pr, _, err := rc.GH.PullRequests.Get(ctx, rc.Owner, rc.Name, a.Issue)
		if err != nil {
			return "", fmt.Errorf("get PR #%d: %w", a.Issue, err)
		}
		if pr.GetHead().GetRepo().GetFullName() != a.Repo {
			return "this PR comes from a fork; specloop never pushes to forks.", nil
		}
	}
	obligation, trigger := "", "command"
	if retry {
		last, err := lastFailed(ctx, w.d, run.ID)
		if err != nil {
			return "", err
		}
		if last == nil {
			return "no failed cycle to retry. Use `/loop next` for the next obligation.", nil
		}
		obligation, trigger = last.ObligationID, "retry"
	}
	if n, err := cycleCount(ctx, w.d, run.ID); err != nil {
		return "", err
	} else if n >= rc.Config.Limits.CyclesPerPR {
		return cyclesLimitReached(n), nil
	}
	c, err := w.d.queueCycle(ctx, run, trigger, obligation)
	if err != nil {
		return "", err
	}
	pos, err := store.QueuePosition(ctx, w.d.Pool, c)
	if err != nil {
		return "", err
	}
	what := "the next obligation"
	if obligation != "" {
		what = "`" + obligation + "` again"
	}
	return fmt.Sprintf("queued cycle %d for %s (%s). [Run page](%s).", c.ID, what, position(pos), w.d.runURL(run.ID)), nil
}

func (w *CommandWorker) stop(ctx context.Context, _ *repoContext, a CommandArgs, run *store.Run) (string, error) {
	if run == nil {
		return "there is no specloop run here to stop.", nil
	}
	n, err := store.CancelQueuedCycles(ctx, w.d.Pool, run.ID, "stopped by @"+a.Sender)
	if err != nil {
		return "", err
	}
	if err := store.SetRunState(ctx, w.d.Pool, run.ID, state.RunStopped); err != nil {
		return "", err
	}
	w.d.event(ctx, run.ID, 0, "note", "", string(state.Cancelled), "stopped by @"+a.Sender)
	return fmt.Sprintf("stopped: %d cycle(s) cancelled. Nothing more is pushed. `/loop next` starts again.", n), nil
}

// cyclesLimitReached says a run has had n cycles, its limits.cycles_per_pr.
func cyclesLimitReached(n int) string {
	return fmt.Sprintf("this run has had %d cycles, the limit (`limits.cycles_per_pr`). Raise it in `%s` to go on.", n, repoconfig.Path)
}

// noRun is the reply to a command that needs a run where there is none.
func noRun(rc *repoContext) string {
	return "there is no specloop run here. Label an issue `" + rc.Config.Label + "` to start one."
}

func position(pos int) string {
	if pos == 0 {
		return "next up"
	}
	return fmt.Sprintf("position %d in the queue", pos+1)
}

// canDrive: only write, maintain and admin may drive the bot.
func canDrive(ctx context.Context, rc *repoContext, login string) (bool, error) {
	perm, _, err := rc.GH.Repositories.GetPermissionLevel(ctx, rc.Owner, rc.Name, login)
	if err != nil {
		return false, fmt.Errorf("permission of %s on %s: %w", login, rc.Full, err)
	}
	switch perm.GetPermission() {
	case "admin", "maintain", "write":
		return true, nil
	}
	return false, nil
}

// refuse replies once per user per issue; later attempts are ignored so the
// bot never argues.
func (w *CommandWorker) refuse(ctx context.Context, rc *repoContext, a CommandArgs) error {
	marker := refusalMarker(a.Sender)
	comments, err := issueComments(ctx, rc, a.Issue)
	if err != nil {
		return err
	}
	for _, c := range comments {
		if strings.Contains(c.GetBody(), marker) {
			return nil
		}
	}
	return w.d.reply(ctx, rc, a.Issue, fmt.Sprintf(
		"@%s sorry, only people with write access to this repository can drive specloop. A maintainer can run the command for you.\n%s", a.Sender, marker))
}

func (d *deps) reply(ctx context.Context, rc *repoContext, issue int, body string) error {
	if _, _, err := rc.GH.Issues.CreateComment(ctx, rc.Owner, rc.Name, issue, &github.IssueComment{Body: &body}); err != nil {
		return fmt.Errorf("reply on #%d: %w", issue, err)
	}
	return nil
}

func lastFailed(ctx context.Context, d *deps, runID int64) (*store.Cycle, error) {
	cycles, err := store.ListCycles(ctx, d.Pool, runID)
	if err != nil {
		return nil, err
	}
	for i := len(cycles) - 1; i >= 0; i-- {
		switch c := cycles[i].Conclusion; {
		case c.Retryable():
			return cycles[i], nil
		case c == state.Success:
			return nil, nil
		}
	}
	return nil, nil
}

func cycleCount(ctx context.Context, d *deps, runID int64) (int, error) {
	cycles, err := store.ListCycles(ctx, d.Pool, runID)
	return len(cycles), err
}

// status is the reply to `/loop status`: the run's cycles and the queue.
func (d *deps) status(ctx context.Context, run *store.Run) (string, error) {
	cycles, err := store.ListCycles(ctx, d.Pool, run.ID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "run %d on `%s` is **%s**", run.ID, run.Branch, run.State)
	if run.PR != 0 {
		fmt.Fprintf(&b, ", PR #%d", run.PR)
	}
	fmt.Fprintf(&b, ". [Run page](%s)\n\n| cycle | trigger | obligation | state | conclusion |\n| --- | --- | --- | --- | --- |\n", d.runURL(run.ID))
	queued := 0
	for _, c := range cycles {
		where := string(c.State)
		if c.State == state.CycleQueued {
			queued++
			where = fmt.Sprintf("queued (%s)", position(queued-1+running(cycles)))
		}
		ob := c.ObligationID
		if ob == "" {
			ob = "(next open)"
		}
		fmt.Fprintf(&b, "| %d | %s | `%s` | %s | %s |\n", c.ID, c.Trigger, ob, where, dash(string(c.Conclusion)))
	}
	if len(cycles) == 0 {
		b.WriteString("| – | – | – | no cycles yet | – |\n")
	}
	if p, err := store.GetPlan(ctx, d.Pool, run.ID); err != nil {
		return "", err
	} else if p != nil && p.Waiting {
		b.WriteString("\n**Waiting for plan approval**: " + cycle.HowToApprove + "\n")
	}
	if q, err := store.WaitingQuestion(ctx, d.Pool, run.ID); err != nil {
		return "", err
	} else if q != nil {
		fmt.Fprintf(&b, "\n**Waiting for an answer** to the question of cycle %d on `%s`:\n\n%s\n\n%s\n", q.CycleID, q.ObligationID, cycle.QuoteMarkdown(q.Text), cycle.HowToAnswer)
	}
	return b.String(), nil
}

func running(cycles []*store.Cycle) int {
	for _, c := range cycles {
		if c.State == state.CycleRunning {
			return 1
		}
	}
	return 0
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
