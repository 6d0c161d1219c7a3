// The progress comment: one comment per run on its PR (or its issue before
// the PR exists), edited in place as steps start and end, at most one edit
// per ProgressEvery.

package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// ProgressMarker starts every progress comment, so people and tests can
// tell it from replies.
const ProgressMarker = "<!-- specloop:progress -->"

// progressSteps are the checklist's lines, in order.
var progressSteps = []string{cycle.StepPrepare, cycle.StepSelect, cycle.StepImplement, cycle.StepVerify, cycle.StepAudit, cycle.StepPublish}

// progress is one cycle's view of its run's progress comment.
type progress struct {
	c     *cycleRun
	gh    *github.Client
	owner string
	name  string
	every time.Duration

	mu sync.Mutex
	// runID, cycleID and issue never change; pr and the obligation are
	// copies the cycle's goroutine updates (setPR, selected), so an edit
	// from a timer reads no field the cycle writes.
	runID, cycleID int64
	issue, pr      int
	obligation     string                      // "`id`: text"
	outcome        map[string]state.Conclusion // finished steps
	note           map[string]string
	current        string
	fixing         string
	verify         *store.StepCounts
	tokens         *store.StepTokens
	conclusion     string
	summary        string
	history        []string // earlier cycles of the run, one line each
	timer          *time.Timer
	lastEdit       time.Time
	stopped        bool // the cycle lost its lease: edit nothing more
	flushMu        sync.Mutex
}

func (c *cycleRun) newProgress(ctx context.Context) *progress {
	every := c.d.ProgressEvery
	if every <= 0 {
		every = DefaultProgressEvery
	}
	p := &progress{c: c, gh: c.rc.GH, owner: c.rc.Owner, name: c.rc.Name, every: every,
		runID: c.run.ID, cycleID: c.cycle.ID, issue: c.run.Issue, pr: c.run.PR,
		outcome: map[string]state.Conclusion{}, note: map[string]string{}}
	if c.cycle.ObligationID != "" {
		p.obligation = fmt.Sprintf("`%s`: %s", c.cycle.ObligationID, c.cycle.ObligationText)
	}
	if cycles, err := store.ListCycles(ctx, c.d.Pool, c.run.ID); err == nil {
		for _, o := range cycles {
			if o.ID != c.cycle.ID && o.State == state.CycleDone {
				ob := ""
				if o.ObligationID != "" {
					ob = " on `" + o.ObligationID + "`"
				}
				p.history = append(p.history, fmt.Sprintf("cycle %d%s: %s", o.ID, ob, o.Conclusion))
			}
		}
	}
	return p
}

// The update methods are safe on a nil progress (a cycle that ended before
// it could read its repository has none).

func (p *progress) started(step string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.current, p.fixing = step, ""
	p.mu.Unlock()
	p.changed()
}

func (p *progress) finished(step string, outcome state.Conclusion, note string, data *store.StepData) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.outcome[step], p.note[step] = outcome, note
	if p.current == step {
		p.current, p.fixing = "", ""
	}
	if data != nil && data.Counts != nil {
		p.verify = data.Counts
	}
	if data != nil && data.Tokens != nil {
		if p.tokens == nil {
			p.tokens = &store.StepTokens{}
		}
		p.tokens.Input += data.Tokens.Input
		p.tokens.Output += data.Tokens.Output
		p.tokens.Total += data.Tokens.Total
	}
	p.mu.Unlock()
	p.changed()
}

// selected records the cycle's obligation.
func (p *progress) selected(id, text string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.obligation = fmt.Sprintf("`%s`: %s", id, text)
	p.mu.Unlock()
}

// setPR records the PR the run opened: the comment moves there.
func (p *progress) setPR(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.pr = n
	p.mu.Unlock()
}

func (p *progress) fix(label string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.fixing = label
	p.mu.Unlock()
	p.changed()
}

// changed schedules an edit: at once if the last one is old enough, else
// when it is; changes in between are coalesced into that one edit.
func (p *progress) changed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil || p.stopped {
		return
	}
	wait := max(time.Until(p.lastEdit.Add(p.every)), 0)
	p.timer = time.AfterFunc(wait, func() {
		p.mu.Lock()
		p.timer = nil
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p.flush(ctx)
	})
}

// finish records the cycle's end and edits the comment now, whatever the
// interval: the conclusion must not wait for a timer that may never fire.
func (p *progress) finish(ctx context.Context, conclusion, summary string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.conclusion, p.summary, p.current, p.fixing = conclusion, summary, "", ""
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	p.flush(ctx)
}

// stop cancels a pending edit and refuses later ones.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// flush writes the comment: edits the run's comment, or posts it once.
func (p *progress) flush(ctx context.Context) {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	body := p.render()
	p.lastEdit = time.Now()
	target := p.pr
	if target == 0 {
		target = p.issue
	}
	p.mu.Unlock()
	if err := p.write(ctx, target, body); err != nil {
		p.c.d.Logger.Warn("progress comment", "run", p.runID, "err", err)
	}
}

// write puts body in the run's comment on target (its PR, or its issue).
func (p *progress) write(ctx context.Context, target int, body string) error {
	d, runID := p.c.d, p.runID
	if target == 0 {
		return nil // a spec run before its PR: nowhere to comment yet
	}
	cur, err := store.GetProgressComment(ctx, d.Pool, runID)
	if err != nil {
		return err
	}
	if cur.ID != 0 && cur.Number == target {
		_, resp, err := p.gh.Issues.EditComment(ctx, p.owner, p.name, cur.ID, &github.IssueComment{Body: &body})
		if err == nil || resp == nil || resp.StatusCode != 404 {
			if err != nil {
				return fmt.Errorf("edit progress comment %d: %w", cur.ID, err)
			}
			return nil
		}
		// Someone deleted it: post it again below.
	}
	posted, _, err := p.gh.Issues.CreateComment(ctx, p.owner, p.name, target, &github.IssueComment{Body: &body})
	if err != nil {
		return fmt.Errorf("post progress comment on #%d: %w", target, err)
	}
	next := store.ProgressComment{ID: posted.GetID(), Number: target}
	if err := store.SetProgressComment(ctx, d.Pool, runID, cur, next); err != nil {
		// Another worker posted one first: ours is the duplicate.
		if _, derr := p.gh.Issues.DeleteComment(ctx, p.owner, p.name, next.ID); derr != nil {
			return errors.Join(err, fmt.Errorf("delete duplicate progress comment %d: %w", next.ID, derr))
		}
		if errors.Is(err, store.ErrProgressCommentTaken) {
			return p.write(ctx, target, body)
		}
		return err
	}
	if cur.ID != 0 {
		// The run's PR opened: the comment moves there from the issue.
		if _, err := p.gh.Issues.DeleteComment(ctx, p.owner, p.name, cur.ID); err != nil {
			d.Logger.Warn("delete the issue's progress comment", "run", runID, "comment", cur.ID, "err", err)
		}
	}
	return nil
}

// render is the comment's Markdown; the caller holds p.mu.
func (p *progress) render() string {
	var b strings.Builder
	b.WriteString(ProgressMarker + "\n")
	status := "running"
	if p.conclusion != "" {
		status = p.conclusion
	}
	fmt.Fprintf(&b, "### specloop · cycle %d of run %d: %s\n\n", p.cycleID, p.runID, status)
	if p.obligation != "" {
		fmt.Fprintf(&b, "Obligation %s\n\n", p.obligation)
	}
	for _, step := range progressSteps {
		o, done := p.outcome[step]
		switch {
		case done:
			mark := "✓"
			if o != state.Success {
				mark = string(o)
			}
			line := fmt.Sprintf("- [x] %s: %s", step, mark)
			if n := p.note[step]; n != "" {
				line += " · " + n
			}
			b.WriteString(line + "\n")
		case step == p.current:
			cur := fmt.Sprintf("- [ ] **%s** ← running now", step)
			if p.fixing != "" {
				cur += " (" + p.fixing + ")"
			}
			b.WriteString(cur + "\n")
		default:
			fmt.Fprintf(&b, "- [ ] %s\n", step)
		}
	}
	b.WriteString("\n")
	if v := p.verify; v != nil && v.Known {
		fmt.Fprintf(&b, "**Verify:** %d passed, %d failed, %d skipped  \n", v.Passed, v.Failed, v.Skipped)
	}
	if t := p.tokens; t != nil {
		fmt.Fprintf(&b, "**Tokens:** %d in, %d out, %d total  \n", t.Input, t.Output, t.Total)
	}
	if p.conclusion != "" {
		fmt.Fprintf(&b, "**Conclusion:** %s: %s  \n", p.conclusion, oneLine(p.summary))
	}
	if len(p.history) > 0 {
		fmt.Fprintf(&b, "**Earlier cycles:** %s  \n", strings.Join(p.history, "; "))
	}
	fmt.Fprintf(&b, "\n[Run page](%s) (logs, diff, evidence; live while a cycle runs)\n", p.c.d.runURL(p.runID))
	return b.String()
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
