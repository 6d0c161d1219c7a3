// Queries of the run page, the run index and the progress comment.

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/specloop/specloop/state"
)

// Pruned is what retention took from a run: counts, when, and the cut-off.
type Pruned struct {
	Events    int64
	Artifacts int64
	At        *time.Time // nil: nothing was pruned
	Before    *time.Time
}

// GetPruned reads what retention pruned of a run.
func GetPruned(ctx context.Context, db DB, runID int64) (Pruned, error) {
	var p Pruned
	err := db.QueryRow(ctx, `SELECT events_pruned, artifacts_pruned, pruned_at, pruned_before FROM runs WHERE id = $1`, runID).
		Scan(&p.Events, &p.Artifacts, &p.At, &p.Before)
	if err != nil {
		return p, notFound(err, fmt.Sprintf("pruned of run %d", runID))
	}
	return p, nil
}

// RunSettled reports whether a run has nothing more to stream: no cycle is
// queued or running, the newest event is a cycle's conclusion (a cycle's
// row is finished just before its conclusion is appended), and nothing
// after seq is left to send.
func RunSettled(ctx context.Context, db DB, runID, seq int64) (bool, error) {
	var open bool
	var lastKind *string
	var lastSeq int64
	err := db.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM cycles WHERE run_id = $1 AND state <> 'done'),
			(SELECT kind FROM events WHERE run_id = $1 ORDER BY seq DESC LIMIT 1),
			last_event_seq
		FROM runs WHERE id = $1`, runID).Scan(&open, &lastKind, &lastSeq)
	if err != nil {
		return false, notFound(err, fmt.Sprintf("is run %d settled", runID))
	}
	if open || seq < lastSeq {
		return false, nil
	}
	// A run whose events were all pruned keeps its stream open: the client
	// that asked for it ends it, and a new cycle's events still arrive.
	return lastKind != nil && *lastKind == "cycle", nil
}

// RunFilter narrows ListRuns; empty fields match everything.
type RunFilter struct {
	Repo       string
	State      state.RunState
	Conclusion state.Conclusion // of the run's newest finished cycle
	Limit      int
}

// RunSummary is a run in the operators' index.
type RunSummary struct {
	Run
	Cycles         int
	LastConclusion state.Conclusion // "" while none has finished
	Active         bool             // a cycle is queued or running
	UpdatedAt      time.Time
}

// ListRuns lists recent runs, newest activity first.
func ListRuns(ctx context.Context, db DB, f RunFilter) ([]RunSummary, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	rows, err := db.Query(ctx, `SELECT r.id, r.repo_full_name, r.installation_id, r.branch, r.kind, COALESCE(r.issue_number, 0), r.spec_path,
			COALESCE(r.pr_number, 0), r.state, r.created_at, r.updated_at,
			(SELECT count(*) FROM cycles c WHERE c.run_id = r.id),
			COALESCE((SELECT c.conclusion FROM cycles c WHERE c.run_id = r.id AND c.state = 'done' ORDER BY c.id DESC LIMIT 1), ''),
			EXISTS (SELECT 1 FROM cycles c WHERE c.run_id = r.id AND c.state <> 'done')
		FROM runs r
		WHERE ($1 = '' OR r.repo_full_name = $1) AND ($2 = '' OR r.state = $2)
		  AND ($3 = '' OR $3 = COALESCE((SELECT c.conclusion FROM cycles c WHERE c.run_id = r.id AND c.state = 'done' ORDER BY c.id DESC LIMIT 1), ''))
		ORDER BY r.updated_at DESC, r.id DESC LIMIT $4`, f.Repo, string(f.State), string(f.Conclusion), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []RunSummary
	for rows.Next() {
		var s RunSummary
		r := &s.Run
		if err := rows.Scan(&r.ID, &r.Repo, &r.InstallationID, &r.Branch, &r.Kind, &r.Issue, &r.SpecPath, &r.PR, &r.State, &r.CreatedAt,
			&s.UpdatedAt, &s.Cycles, &s.LastConclusion, &s.Active); err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ProgressComment is where a run's progress comment lives; zero ID: none
// posted yet.
type ProgressComment struct {
	ID     int64
	Number int // the issue or PR it is on
}

// GetProgressComment reads a run's progress comment.
func GetProgressComment(ctx context.Context, db DB, runID int64) (ProgressComment, error) {
	var id *int64
	var n *int
	err := db.QueryRow(ctx, `SELECT progress_comment_id, progress_comment_number FROM runs WHERE id = $1`, runID).Scan(&id, &n)
	if err != nil {
		return ProgressComment{}, notFound(err, fmt.Sprintf("progress comment of run %d", runID))
	}
	var pc ProgressComment
	if id != nil {
		pc.ID = *id
	}
	if n != nil {
		pc.Number = *n
	}
	return pc, nil
}

// ErrProgressCommentTaken means another worker recorded a progress comment
// first: the caller's comment is a duplicate to delete.
var ErrProgressCommentTaken = errors.New("the run already has another progress comment")

// SetProgressComment records next as the run's progress comment if the
// run's comment is still prev (compare and set), so two workers never both
// keep one.
func SetProgressComment(ctx context.Context, db DB, runID int64, prev, next ProgressComment) error {
	var id int64
	err := db.QueryRow(ctx, `UPDATE runs SET progress_comment_id = $3, progress_comment_number = $4
		WHERE id = $1 AND COALESCE(progress_comment_id, 0) = $2 RETURNING id`, runID, prev.ID, next.ID, next.Number).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrProgressCommentTaken
	}
	if err != nil {
		return fmt.Errorf("record progress comment of run %d: %w", runID, err)
	}
	return nil
}

// StepData is a finished step's evidence as its event carries it (JSON in
// events.data), for the run page: the jobs write it, the handlers read it.
type StepData struct {
	Title      string        `json:"title,omitempty"`
	Summary    string        `json:"summary,omitempty"` // Markdown
	DurationMS int64         `json:"duration_ms,omitempty"`
	Findings   []StepFinding `json:"findings,omitempty"`
	Counts     *StepCounts   `json:"counts,omitempty"`
	Tokens     *StepTokens   `json:"tokens,omitempty"`
	// CostUSD is the model cost when it was measured; nil: not measured.
	CostUSD *float64 `json:"cost_usd,omitempty"`
}

// StepFinding is an audit finding or a failing test at file:line.
type StepFinding struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Message  string `json:"message"`
	Severity string `json:"severity,omitempty"`
}

// StepCounts are verify's test counts.
type StepCounts struct {
	Known   bool          `json:"known"`
	Passed  int           `json:"passed"`
	Failed  int           `json:"failed"`
	Skipped int           `json:"skipped"`
	Failing []StepFinding `json:"failing,omitempty"` // File/Line where known, Message is the test's name
}

// StepTokens are an agent's reported token use.
type StepTokens struct {
	Input  int `json:"input"`
	Cached int `json:"cached,omitempty"`
	Output int `json:"output"`
	Total  int `json:"total"`
}

// ArtifactHead reads up to n bytes of an artifact's content and its whole
// size, for showing it inline without loading a large log whole.
func ArtifactHead(ctx context.Context, db DB, id int64, n int) (head []byte, size int, err error) {
	err = db.QueryRow(ctx, `SELECT substring(content from 1 for $2), length(content) FROM artifacts WHERE id = $1`, id, n).Scan(&head, &size)
	if err != nil {
		return nil, 0, notFound(err, fmt.Sprintf("artifact %d", id))
	}
	return head, size, nil
}
