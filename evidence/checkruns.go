package evidence

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/state"
)

// GitHub's limits on check run output.
const (
	MaxOutput      = 65535
	MaxAnnotations = 50
)

// ActionNext is the identifier of the "Next cycle" button on a completed
// check run.
const ActionNext = "next"

// Status is where a check run is, as GitHub names it.
//
// Can be one of: queued, in_progress, completed.
type Status string

const (
	Queued     Status = "queued"
	InProgress Status = "in_progress"
	Completed  Status = "completed" // needs a Conclusion
)

// CheckRuns creates and updates the check runs of one repository.
type CheckRuns struct {
	client      *github.Client
	owner, repo string
}

// NewCheckRuns returns the check runs of owner/repo, through client (an
// installation's).
func NewCheckRuns(client *github.Client, owner, repo string) *CheckRuns {
	return &CheckRuns{client: client, owner: owner, repo: repo}
}

// Run is a check run to create.
type Run struct {
	Name       string // e.g. "specloop/verify"
	HeadSHA    string
	Status     Status
	Conclusion state.Conclusion
	Title      string
	Summary    string // Markdown, capped on the way out
	ExternalID string
	DetailsURL string
	// Annotations beyond the first 50 are sent in later requests.
	Annotations []*github.CheckRunAnnotation
}

// Create creates a check run and returns it as GitHub answered.
func (c *CheckRuns) Create(ctx context.Context, r Run) (*github.CheckRun, error) {
	out := &github.CheckRunOutput{Title: github.String(r.Title), Summary: github.String(Cap(r.Summary, r.DetailsURL))}
	first, rest := splitAnnotations(r.Annotations)
	out.Annotations = first
	opts := github.CreateCheckRunOptions{Name: r.Name, HeadSHA: r.HeadSHA, Status: github.String(string(r.Status)), Output: out}
	if r.ExternalID != "" {
		opts.ExternalID = github.String(r.ExternalID)
	}
	if r.DetailsURL != "" {
		opts.DetailsURL = github.String(r.DetailsURL)
	}
	if r.Status == Completed {
		if !r.Conclusion.Valid() {
			return nil, fmt.Errorf("create check run %s: %q is not a conclusion", r.Name, r.Conclusion)
		}
		opts.Conclusion = github.String(string(r.Conclusion))
	}
	cr, _, err := c.client.Checks.CreateCheckRun(ctx, c.owner, c.repo, opts)
	if err != nil {
		return nil, fmt.Errorf("create check run %s: %w", r.Name, err)
	}
	if err := c.annotate(ctx, cr.GetID(), r.Name, out, rest); err != nil {
		return cr, err
	}
	return cr, nil
}

// Start moves a queued check run to in progress.
func (c *CheckRuns) Start(ctx context.Context, id int64, name, title, summary string) error {
	_, _, err := c.client.Checks.UpdateCheckRun(ctx, c.owner, c.repo, id, github.UpdateCheckRunOptions{
		Name: name, Status: github.String(string(InProgress)),
		Output: &github.CheckRunOutput{Title: github.String(title), Summary: github.String(Cap(summary, ""))},
	})
	if err != nil {
		return fmt.Errorf("start check run %s: %w", name, err)
	}
	return nil
}

// CompleteStep completes a step's check run with its evidence: the summary
// and log tail capped with a link to the full logs, the findings as
// annotations in batches of 50, and the "Next cycle" button.
func (c *CheckRuns) CompleteStep(ctx context.Context, id int64, ev *cycle.Evidence, link string) error {
	name := "specloop/" + ev.Step
	if !ev.Conclusion.Valid() {
		return fmt.Errorf("complete check run %s: %q is not a conclusion", name, ev.Conclusion)
	}
	first, rest := splitAnnotations(Annotations(ev.Findings))
	out := &github.CheckRunOutput{
		Title:       github.String(ev.Title),
		Summary:     github.String(Cap(ev.Summary+fmt.Sprintf("\n\nFull logs: [run page](%s)", link), link)),
		Annotations: first,
	}
	if ev.Text != "" {
		out.Text = github.String(Cap(ev.Text, link))
	}
	_, _, err := c.client.Checks.UpdateCheckRun(ctx, c.owner, c.repo, id, github.UpdateCheckRunOptions{
		Name: name, Status: github.String(string(Completed)), Conclusion: github.String(string(ev.Conclusion)),
		CompletedAt: &github.Timestamp{Time: time.Now()}, Output: out,
		Actions: []*github.CheckRunAction{{Label: "Next cycle", Description: "Run the next obligation", Identifier: ActionNext}},
	})
	if err != nil {
		return fmt.Errorf("complete check run %s: %w", name, err)
	}
	return c.annotate(ctx, id, name, out, rest)
}

// PostStep creates a step's check run on sha already completed with its
// evidence (as CompleteStep writes it): the evidence re-posted on the
// commit a cycle pushed, in one request instead of a create and an update.
func (c *CheckRuns) PostStep(ctx context.Context, sha string, ev *cycle.Evidence, link, externalID string) (*github.CheckRun, error) {
	name := "specloop/" + ev.Step
	if !ev.Conclusion.Valid() {
		return nil, fmt.Errorf("post check run %s: %q is not a conclusion", name, ev.Conclusion)
	}
	first, rest := splitAnnotations(Annotations(ev.Findings))
	out := &github.CheckRunOutput{
		Title:       github.String(ev.Title),
		Summary:     github.String(Cap(ev.Summary+fmt.Sprintf("\n\nFull logs: [run page](%s)", link), link)),
		Annotations: first,
	}
	if ev.Text != "" {
		out.Text = github.String(Cap(ev.Text, link))
	}
	now := &github.Timestamp{Time: time.Now()}
	opts := github.CreateCheckRunOptions{Name: name, HeadSHA: sha, Status: github.String(string(Completed)),
		Conclusion: github.String(string(ev.Conclusion)), StartedAt: now, CompletedAt: now, Output: out,
		Actions: []*github.CheckRunAction{{Label: "Next cycle", Description: "Run the next obligation", Identifier: ActionNext}}}
	if externalID != "" {
		opts.ExternalID = github.String(externalID)
	}
	if link != "" {
		opts.DetailsURL = github.String(link)
	}
	cr, _, err := c.client.Checks.CreateCheckRun(ctx, c.owner, c.repo, opts)
	if err != nil {
		return nil, fmt.Errorf("post check run %s: %w", name, err)
	}
	return cr, c.annotate(ctx, cr.GetID(), name, out, rest)
}

// Complete completes a check run with a title and summary only: the end
// of a cycle that stopped, crashed or was taken over.
func (c *CheckRuns) Complete(ctx context.Context, id int64, name string, conclusion state.Conclusion, title, summary string) error {
	if !conclusion.Valid() {
		return fmt.Errorf("complete check run %s: %q is not a conclusion", name, conclusion)
	}
	_, _, err := c.client.Checks.UpdateCheckRun(ctx, c.owner, c.repo, id, github.UpdateCheckRunOptions{
		Name: name, Status: github.String(string(Completed)), Conclusion: github.String(string(conclusion)),
		CompletedAt: &github.Timestamp{Time: time.Now()},
		Output:      &github.CheckRunOutput{Title: github.String(title), Summary: github.String(Cap(summary, ""))},
	})
	if err != nil {
		return fmt.Errorf("complete check run %s: %w", name, err)
	}
	return nil
}

// annotate sends the remaining annotations of a check run in batches of
// 50, each with the run's output (GitHub requires it); they accumulate.
func (c *CheckRuns) annotate(ctx context.Context, id int64, name string, out *github.CheckRunOutput, rest []*github.CheckRunAnnotation) error {
	for len(rest) > 0 {
		out.Annotations, rest = splitAnnotations(rest)
		if _, _, err := c.client.Checks.UpdateCheckRun(ctx, c.owner, c.repo, id, github.UpdateCheckRunOptions{Name: name, Output: out}); err != nil {
			return fmt.Errorf("annotate %s check run: %w", name, err)
		}
	}
	return nil
}

// splitAnnotations cuts off the first request's worth.
func splitAnnotations(a []*github.CheckRunAnnotation) (first, rest []*github.CheckRunAnnotation) {
	n := min(len(a), MaxAnnotations)
	return a[:n], a[n:]
}

// Annotations turns findings into check run annotations; a finding without
// a line goes on line 1 (GitHub needs one).
func Annotations(fs []agent.Finding) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for _, f := range fs {
		level := "failure"
		switch f.Severity {
		case "warning":
			level = "warning"
		case "notice":
			level = "notice"
		}
		line := max(f.Line, 1)
		out = append(out, &github.CheckRunAnnotation{
			Path: github.String(f.File), StartLine: github.Int(line), EndLine: github.Int(line),
			AnnotationLevel: github.String(level), Message: github.String(f.Message),
		})
	}
	return out
}

// Cap keeps text within GitHub's limit, ending with a note that points at
// the full log.
func Cap(s, link string) string {
	note := "\n\n… truncated to fit GitHub's 65,535-character limit."
	if link != "" {
		note += " Full log: " + link
	}
	return markdown.Cap(s, MaxOutput, note)
}
