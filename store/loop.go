package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The loop's records (migration 007): fix requests, questions and their
// answers, trigger tokens.

// Fix is what a fix cycle was asked to change.
type Fix struct {
	Source string // command | review | ci ('' for an ordinary cycle)
	From   string // who asked, as the prompt names them
	Text   string // the request, untrusted
	Head   string // the PR head the request is about (CI), else ""
}

// SetCycleFix records a cycle's fix request; it runs in the transaction
// that queues the cycle.
func SetCycleFix(ctx context.Context, db DB, cycleID int64, f Fix) error {
	_, err := db.Exec(ctx, `UPDATE cycles SET fix_source = $2, fix_from = $3, fix_text = $4, fix_head = $5 WHERE id = $1`,
		cycleID, f.Source, f.From, f.Text, f.Head)
	if err != nil {
		return fmt.Errorf("record the fix request of cycle %d: %w", cycleID, err)
	}
	return nil
}

// CycleFix reads a cycle's fix request; Source is "" for an ordinary cycle.
func CycleFix(ctx context.Context, db DB, cycleID int64) (Fix, error) {
	var f Fix
	err := db.QueryRow(ctx, `SELECT fix_source, fix_from, fix_text, fix_head FROM cycles WHERE id = $1`, cycleID).
		Scan(&f.Source, &f.From, &f.Text, &f.Head)
	if err != nil {
		return Fix{}, notFound(err, fmt.Sprintf("fix request of cycle %d", cycleID))
	}
	return f, nil
}

// RunFixes lists the fix source and head of each of a run's cycles, by
// cycle id: how many CI fixes ran in a row.
func RunFixes(ctx context.Context, db DB, runID int64) (map[int64]Fix, error) {
	rows, err := db.Query(ctx, `SELECT id, fix_source, fix_head FROM cycles WHERE run_id = $1`, runID)
	if err != nil {
		return nil, fmt.Errorf("fix requests of run %d: %w", runID, err)
	}
	defer rows.Close()
	out := map[int64]Fix{}
	for rows.Next() {
		var id int64
		var f Fix
		if err := rows.Scan(&id, &f.Source, &f.Head); err != nil {
			return nil, err
		}
		out[id] = f
	}
	return out, rows.Err()
}

// SetCycleQuestion records the question a cycle ended with.
func SetCycleQuestion(ctx context.Context, db DB, cycleID int64, question string) error {
	if _, err := db.Exec(ctx, `UPDATE cycles SET question = $2 WHERE id = $1`, cycleID, question); err != nil {
		return fmt.Errorf("record the question of cycle %d: %w", cycleID, err)
	}
	return nil
}

// Question is a question a cycle asked that waits for an answer.
type Question struct {
	CycleID      int64
	ObligationID string
	Text         string
}

// WaitingQuestion is the question the run waits on: its last cycle ended
// with a question (set only when a cycle ends action_required; it may
// still be finishing) that nobody has answered. nil when none.
func WaitingQuestion(ctx context.Context, db DB, runID int64) (*Question, error) {
	q := &Question{}
	err := db.QueryRow(ctx, `SELECT c.id, c.obligation_id, c.question FROM cycles c
		WHERE c.id = (SELECT max(id) FROM cycles WHERE run_id = $1)
		  AND c.question <> ''
		  AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.cycle_id = c.id)`, runID).Scan(&q.CycleID, &q.ObligationID, &q.Text)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("waiting question of run %d: %w", runID, err)
	}
	return q, nil
}

// Answer is a maintainer's answer to a cycle's question.
type Answer struct {
	RunID        int64
	CycleID      int64 // the cycle that asked
	ObligationID string
	Question     string
	Answer       string
	By           string
}

// ErrAnswered means the question has its answer already.
var ErrAnswered = errors.New("the question is answered already")

// InsertAnswer records an answer; a second answer to one question is
// ErrAnswered.
func InsertAnswer(ctx context.Context, db DB, a *Answer) error {
	tag, err := db.Exec(ctx, `INSERT INTO answers (run_id, cycle_id, obligation_id, question, answer, answered_by)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cycle_id) DO NOTHING`, a.RunID, a.CycleID, a.ObligationID, a.Question, a.Answer, a.By)
	if err != nil {
		return fmt.Errorf("record the answer to cycle %d: %w", a.CycleID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrAnswered
	}
	return nil
}

// RunAnswers lists a run's answers, oldest first.
func RunAnswers(ctx context.Context, db DB, runID int64) ([]Answer, error) {
	rows, err := db.Query(ctx, `SELECT run_id, cycle_id, obligation_id, question, answer, answered_by FROM answers
		WHERE run_id = $1 ORDER BY id`, runID)
	if err != nil {
		return nil, fmt.Errorf("answers of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []Answer
	for rows.Next() {
		var a Answer
		if err := rows.Scan(&a.RunID, &a.CycleID, &a.ObligationID, &a.Question, &a.Answer, &a.By); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RunArtifacts reads the artifacts called name of a run's cycles before
// cycle before, oldest first, with their content: the notes earlier cycles
// left.
func RunArtifacts(ctx context.Context, db DB, runID, before int64, name string) ([]Artifact, error) {
	rows, err := db.Query(ctx, `SELECT a.id, a.cycle_id, a.name, a.content, a.truncated, a.created_at
		FROM artifacts a JOIN cycles c ON c.id = a.cycle_id
		WHERE c.run_id = $1 AND c.id < $2 AND a.name = $3 ORDER BY a.cycle_id, a.id`, runID, before, name)
	if err != nil {
		return nil, fmt.Errorf("artifacts %s of run %d: %w", name, runID, err)
	}
	defer rows.Close()
	var out []Artifact
	for rows.Next() {
		var a Artifact
		if err := rows.Scan(&a.ID, &a.CycleID, &a.Name, &a.Content, &a.Truncated, &a.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// TriggerTicket is a one-time ticket for revealing a new trigger token.
type TriggerTicket struct {
	Repo           string
	InstallationID int64
	CreatedBy      string
}

// InsertTriggerTicket stores a ticket's SHA-256, valid for ttl.
func InsertTriggerTicket(ctx context.Context, db DB, sha256 []byte, t TriggerTicket, ttl time.Duration) error {
	_, err := db.Exec(ctx, `INSERT INTO trigger_tickets (ticket_sha256, repo_full_name, installation_id, created_by, expires_at)
		VALUES ($1, $2, $3, $4, now() + $5::interval)`, sha256, t.Repo, t.InstallationID, t.CreatedBy, ttl.String())
	if err != nil {
		return fmt.Errorf("store a trigger ticket of %s: %w", t.Repo, err)
	}
	return nil
}

// ErrTicketUsed means a trigger ticket is unknown, expired or used.
var ErrTicketUsed = errors.New("the ticket is used, expired or unknown")

// RedeemTriggerTicket uses up the ticket of repo with that SHA-256 and
// stores tokenSHA256 as the repo's trigger token, in one transaction: a
// ticket makes one token, once.
func RedeemTriggerTicket(ctx context.Context, db Beginner, repo string, ticketSHA256, tokenSHA256 []byte) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var t TriggerTicket
		err := tx.QueryRow(ctx, `UPDATE trigger_tickets SET used_at = now()
			WHERE ticket_sha256 = $1 AND repo_full_name = $2 AND used_at IS NULL AND expires_at > now()
			RETURNING repo_full_name, installation_id, created_by`, ticketSHA256, repo).Scan(&t.Repo, &t.InstallationID, &t.CreatedBy)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrTicketUsed
		}
		if err != nil {
			return fmt.Errorf("redeem a trigger ticket of %s: %w", repo, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO trigger_tokens (repo_full_name, installation_id, token_sha256, created_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (repo_full_name) DO UPDATE SET installation_id = EXCLUDED.installation_id, token_sha256 = EXCLUDED.token_sha256,
				created_by = EXCLUDED.created_by, created_at = now()`, t.Repo, t.InstallationID, tokenSHA256, t.CreatedBy)
		if err != nil {
			return fmt.Errorf("store the trigger token of %s: %w", repo, err)
		}
		return nil
	})
}

// TriggerToken reads the SHA-256 of a repo's trigger token and its
// installation; ErrNotFound when it has none.
func TriggerToken(ctx context.Context, db DB, repo string) (sha256 []byte, installationID int64, err error) {
	if err := db.QueryRow(ctx, `SELECT token_sha256, installation_id FROM trigger_tokens WHERE repo_full_name = $1`, repo).Scan(&sha256, &installationID); err != nil {
		return nil, 0, notFound(err, "trigger token of "+repo)
	}
	return sha256, installationID, nil
}

// fixLockClass is the advisory-lock class of LockRunFixes (cycles use
// cycleLockClass).
const fixLockClass = 0x5bec1014

// LockRunFixes waits for a run's lock on queueing fix cycles, so the jobs
// of reviews and CI suites that arrive together decide one at a time
// whether a cycle already answers them.
func LockRunFixes(ctx context.Context, pool *pgxpool.Pool, runID int64) (release func(), err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock the fixes of run %d: %w", runID, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2::int)`, fixLockClass, runID); err != nil {
		conn.Release()
		return nil, fmt.Errorf("lock the fixes of run %d: %w", runID, err)
	}
	return func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2::int)`, fixLockClass, runID); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}, nil
}

// Plan is a run's plan: the task list its planning cycle wrote.
type Plan struct {
	RunID      int64
	CycleID    int64
	Waiting    bool // true until a maintainer approves it
	ApprovedBy string
}

// GetPlan reads a run's plan; nil when the run never planned.
func GetPlan(ctx context.Context, db DB, runID int64) (*Plan, error) {
	p := &Plan{RunID: runID}
	var st string
	err := db.QueryRow(ctx, `SELECT COALESCE(cycle_id, 0), state, approved_by FROM plans WHERE run_id = $1`, runID).Scan(&p.CycleID, &st, &p.ApprovedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plan of run %d: %w", runID, err)
	}
	p.Waiting = st == "waiting"
	return p, nil
}

// SetPlanWaiting records that cycleID wrote the run's plan, which now
// waits for approval.
func SetPlanWaiting(ctx context.Context, db DB, runID, cycleID int64) error {
	_, err := db.Exec(ctx, `INSERT INTO plans (run_id, cycle_id, state) VALUES ($1, $2, 'waiting')
		ON CONFLICT (run_id) DO UPDATE SET cycle_id = EXCLUDED.cycle_id, state = 'waiting', approved_by = '', updated_at = now()`, runID, cycleID)
	if err != nil {
		return fmt.Errorf("record the plan of run %d: %w", runID, err)
	}
	return nil
}

// ApprovePlan approves the run's waiting plan; false when none waits.
func ApprovePlan(ctx context.Context, db DB, runID int64, by string) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE plans SET state = 'approved', approved_by = $2, updated_at = now() WHERE run_id = $1 AND state = 'waiting'`, runID, by)
	if err != nil {
		return false, fmt.Errorf("approve the plan of run %d: %w", runID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetRunSpecPath points a spec run at another file: the task file its
// planning cycle wrote.
func SetRunSpecPath(ctx context.Context, db DB, runID int64, specPath string) error {
	if _, err := db.Exec(ctx, `UPDATE runs SET spec_path = $2, updated_at = now() WHERE id = $1`, runID, specPath); err != nil {
		return fmt.Errorf("set the spec of run %d: %w", runID, err)
	}
	return nil
}
