// Resuming a publish: a worker that dies after its cycle's push leaves a
// commit on the branch with no PR update, check runs or tick. The cycle
// records what it publishes before the push (store.RecordPublished); a
// taker that finds the branch at that commit finishes the publish from the
// record instead of running the agent again, which would find the work
// done and conclude neutral.

package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// publishRecord is what a cycle publishes, kept so another worker can
// finish it: the result's conclusion and summary, its steps' evidence
// (without the logs, which are artifacts) and the PR's text.
type publishRecord struct {
	Conclusion     state.Conclusion  `json:"conclusion"`
	Summary        string            `json:"summary"`
	ObligationID   string            `json:"obligation_id"`
	ObligationText string            `json:"obligation_text"`
	Fix            bool              `json:"fix,omitempty"`
	Draft          bool              `json:"draft,omitempty"`
	PRTitle        string            `json:"pr_title"`
	PRBody         string            `json:"pr_body"`
	Steps          []*cycle.Evidence `json:"steps"`
	// Replies are a review fix cycle's threads and reviews to answer once
	// the publish is done.
	Replies *replyTargets `json:"replies,omitempty"`
}

// recordPublish stores the commit about to be pushed and what its publish
// needs. It runs before the push, so a crash at any point after it is
// covered; whether the push landed is read from the branch by the taker.
func (c *cycleRun) recordPublish(ctx context.Context, sha string, res *cycle.Result, change *publish.Change) error {
	rec := publishRecord{
		Conclusion: res.Conclusion, Summary: res.Summary, Fix: res.Fix, Draft: change.Draft,
		PRTitle: change.PRTitle, PRBody: change.PRBody,
	}
	if res.Obligation != nil {
		rec.ObligationID, rec.ObligationText = res.Obligation.ID, res.Obligation.Text
	}
	if !c.loop.answer.empty() {
		rec.Replies = &c.loop.answer
	}
	for _, ev := range res.Steps {
		e := *ev
		e.Log = nil
		rec.Steps = append(rec.Steps, &e)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode the publish of %.12s: %w", sha, err)
	}
	err = store.RecordPublished(ctx, c.d.Pool, c.cycle.ID, c.fence, sha, b)
	if errors.Is(err, store.ErrFenced) {
		c.cancel(store.ErrFenced)
	}
	return err
}

// pendingPublish is the publish an earlier attempt of the cycle recorded
// and pushed: the run's branch (as just fetched) is at its commit. Nil when
// there is none, or its push never landed (the cycle runs from scratch).
func (c *cycleRun) pendingPublish(ctx context.Context, branchHead string) (*publishRecord, string, error) {
	p, err := store.GetPublished(ctx, c.d.Pool, c.cycle.ID)
	if err != nil || p == nil || p.SHA != branchHead {
		return nil, "", err
	}
	var rec publishRecord
	if err := json.Unmarshal(p.Result, &rec); err != nil {
		return nil, "", fmt.Errorf("decode the publish of %.12s: %w", p.SHA, err)
	}
	return &rec, p.SHA, nil
}

// githubBackend publishes to the repo; its push runs d.afterPush.
func (c *cycleRun) githubBackend() *pushHook {
	d, rc := c.d, c.rc
	return &pushHook{GitHub: &publish.GitHub{
		Client: rc.GH, Owner: rc.Owner, Repo: rc.Name, CloneURL: rc.CloneURL, Base: rc.base(), BranchPrefix: rc.Config.BranchPrefix,
		Token: func(ctx context.Context) (string, error) { return d.GitHub.Token(ctx, rc.InstallationID) },
	}, after: d.afterPush}
}

// pushHook is publish.GitHub (its notes included) with a hook after a
// push that succeeded.
type pushHook struct {
	*publish.GitHub
	after func(ctx context.Context, sha string)
}

func (p *pushHook) Push(ctx context.Context, wd *workspace.Workdir, sha, branch string) error {
	if err := p.GitHub.Push(ctx, wd, sha, branch); err != nil {
		return err
	}
	if p.after != nil {
		p.after(ctx, sha)
	}
	return nil
}

// finishPublish completes the publish of a commit an earlier attempt
// pushed: the PR opened or updated with that attempt's text, the check runs
// it did not post posted on the commit from its record, the issue ticked,
// the review threads answered, and the cycle concluded as that attempt
// would have. Nothing is pushed.
func (c *cycleRun) finishPublish(ctx context.Context, sha string, rec *publishRecord) (state.Conclusion, string) {
	d := c.d
	c.pushed = true
	if rec.Replies != nil {
		c.loop.answer = *rec.Replies
	}
	start := time.Now()
	d.event(ctx, c.run.ID, c.cycle.ID, "step", cycle.StepPublish, "started",
		fmt.Sprintf("%.12s was pushed to %s by the previous attempt, whose worker stopped before finishing its publish: finishing it without running the agent again", sha, c.run.Branch))
	c.progress.finished(cycle.StepPrepare, state.Success, "resumed after a takeover", nil)
	// As in publish: once pushed, the PR and check runs must follow even if
	// the cycle's context ends.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishLimit)
	defer cancel()
	gh := c.githubBackend()
	pr, err := gh.PullRequest(pctx, &publish.Change{Branch: c.run.Branch, PRTitle: rec.PRTitle, PRBody: rec.PRBody, Draft: rec.Draft})
	if err != nil {
		return failed("Finishing the publish of "+shortSHA(sha)+" after a takeover failed", err)
	}
	if pr.Number != c.run.PR {
		if err := store.SetRunPR(pctx, d.Pool, c.run.ID, pr.Number); err != nil {
			return failed("Finishing the publish after a takeover failed", err)
		}
		c.run.PR = pr.Number
		c.progress.setPR(pr.Number)
	}
	// The dead attempt may have posted some of its check runs already.
	posted := map[string]bool{}
	if crs, err := store.ListCheckRuns(pctx, d.Pool, c.cycle.ID); err == nil {
		for _, cr := range crs {
			if cr.HeadSHA == sha {
				posted[cr.Name] = true
			}
		}
	} else {
		return failed("Finishing the publish after a takeover failed", err)
	}
	note := c.resumedSection(pctx, sha)
	for _, ev := range rec.Steps {
		if posted["specloop/"+ev.Step] {
			continue
		}
		linked := *ev
		linked.Summary += note
		if err := c.postCheck(pctx, sha, &linked); err != nil {
			return failed("Finishing the publish after a takeover failed", err)
		}
	}
	if c.run.Kind == state.RunIssue && rec.Conclusion == state.Success && !rec.Fix && rec.ObligationID != "" {
		if err := gh.TickIssue(pctx, c.run.Issue, rec.ObligationID); err != nil {
			d.Logger.Warn("tick issue", "repo", c.rc.Full, "issue", c.run.Issue, "err", err)
		}
	}
	c.published = true
	c.loop.pushed = sha
	c.progress.finished(cycle.StepPublish, state.Success, fmt.Sprintf("PR #%d", pr.Number), nil)
	d.event(pctx, c.run.ID, c.cycle.ID, "step", cycle.StepPublish, string(state.Success),
		fmt.Sprintf("PR #%d updated with the evidence of %.12s after a takeover in %s", pr.Number, sha, time.Since(start).Round(time.Millisecond)))
	c.replyThreads(pctx, rec.Conclusion, rec.Summary)
	return rec.Conclusion, rec.Summary
}

// resumedTakeover opens the section every check run posted by a taker
// gets: the evidence is the dead attempt's, as it recorded it.
const resumedTakeover = "**Finished by another worker after a takeover**: the worker that ran this cycle pushed this commit and stopped before posting its evidence; this is the evidence it recorded before the push."

func (c *cycleRun) resumedSection(ctx context.Context, sha string) string {
	s := "\n\n---\n" + resumedTakeover
	if arts, err := store.ListArtifacts(ctx, c.d.Pool, c.cycle.ID); err == nil {
		for _, a := range arts {
			if a.Name == StatementArtifact {
				s += fmt.Sprintf(" Statement of what ran: [%s](%s)", StatementArtifact, c.artifactURL(a.ID))
				if c.d.EvidenceKeys == nil || c.d.EvidenceKeys.Current == nil {
					s += " (**unsigned**: the server has no `EVIDENCE_KEY`)"
				}
				s += "."
				break
			}
		}
	}
	return s + "\n"
}

func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
