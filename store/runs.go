package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/specloop/specloop/state"
)

// Run is the chain of cycles on one branch and its PR.
type Run struct {
	ID             int64
	Repo           string
	InstallationID int64
	Branch         string
	Kind           state.RunKind
	Issue          int // 0 for spec runs
	SpecPath       string
	PR             int // 0 until opened
	State          state.RunState
	CreatedAt      time.Time
}

const runColumns = `id, repo_full_name, installation_id, branch, kind, COALESCE(issue_number, 0), spec_path, COALESCE(pr_number, 0), state, created_at`

func scanRun(row pgx.Row) (*Run, error) {
	r := &Run{}
	err := row.Scan(&r.ID, &r.Repo, &r.InstallationID, &r.Branch, &r.Kind, &r.Issue, &r.SpecPath, &r.PR, &r.State, &r.CreatedAt)
	return r, err
}

// ErrNotFound is returned when a row asked for by key does not exist.
var ErrNotFound = errors.New("not found")

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// UpsertRun returns the run of (repo, branch), creating it if needed and
// making it active again if it was stopped.
func UpsertRun(ctx context.Context, db DB, r *Run) (*Run, error) {
	var issue *int
	if r.Issue != 0 {
		issue = &r.Issue
	}
	row := db.QueryRow(ctx, `
		INSERT INTO runs (repo_full_name, installation_id, branch, kind, issue_number, spec_path)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (repo_full_name, branch) DO UPDATE SET
			state = 'active', installation_id = EXCLUDED.installation_id, updated_at = now()
		RETURNING `+runColumns, r.Repo, r.InstallationID, r.Branch, r.Kind, issue, r.SpecPath)
	out, err := scanRun(row)
	if err != nil {
		return nil, fmt.Errorf("upsert run %s %s: %w", r.Repo, r.Branch, err)
	}
	return out, nil
}

// GetRun reads a run by id.
func GetRun(ctx context.Context, db DB, id int64) (*Run, error) {
	r, err := scanRun(db.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("run %d", id))
	}
	return r, nil
}

// FindRun finds the run of a repo by its issue or PR number.
func FindRun(ctx context.Context, db DB, repo string, number int) (*Run, error) {
	r, err := scanRun(db.QueryRow(ctx, `SELECT `+runColumns+` FROM runs
		WHERE repo_full_name = $1 AND (pr_number = $2 OR issue_number = $2)
		ORDER BY (pr_number = $2) DESC NULLS LAST, id DESC LIMIT 1`, repo, number))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("run of %s#%d", repo, number))
	}
	return r, nil
}

// FindRunByBranch finds the run of (repo, branch).
func FindRunByBranch(ctx context.Context, db DB, repo, branch string) (*Run, error) {
	r, err := scanRun(db.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE repo_full_name = $1 AND branch = $2`, repo, branch))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("run of %s %s", repo, branch))
	}
	return r, nil
}

// SetRunPR records the PR a run opened.
func SetRunPR(ctx context.Context, db DB, runID int64, pr int) error {
	_, err := db.Exec(ctx, `UPDATE runs SET pr_number = $2, updated_at = now() WHERE id = $1`, runID, pr)
	if err != nil {
		return fmt.Errorf("set PR of run %d: %w", runID, err)
	}
	return nil
}

// SetRunState marks a run active or stopped.
func SetRunState(ctx context.Context, db DB, runID int64, s state.RunState) error {
	_, err := db.Exec(ctx, `UPDATE runs SET state = $2, updated_at = now() WHERE id = $1`, runID, s)
	if err != nil {
		return fmt.Errorf("set state of run %d: %w", runID, err)
	}
	return nil
}

// Cycle is one bounded pass on one obligation.
type Cycle struct {
	ID             int64
	RunID          int64
	Trigger        string
	State          state.CycleState
	Conclusion     state.Conclusion // "" until done
	Summary        string
	ObligationID   string
	ObligationText string
	HeadSHA        string
	StopRequested  bool
	LeaseOwner     string
	LeaseExpiresAt *time.Time
	Fence          int64
	Attempts       int
	CreatedAt      time.Time
	StartedAt      *time.Time
	FinishedAt     *time.Time
}

const cycleColumns = `id, run_id, trigger, state, conclusion, summary, obligation_id, obligation_text, head_sha,
	stop_requested, lease_owner, lease_expires_at, fence, attempts, created_at, started_at, finished_at`

func scanCycle(row pgx.Row) (*Cycle, error) {
	c := &Cycle{}
	err := row.Scan(&c.ID, &c.RunID, &c.Trigger, &c.State, &c.Conclusion, &c.Summary, &c.ObligationID, &c.ObligationText,
		&c.HeadSHA, &c.StopRequested, &c.LeaseOwner, &c.LeaseExpiresAt, &c.Fence, &c.Attempts, &c.CreatedAt, &c.StartedAt, &c.FinishedAt)
	return c, err
}

func queryCycles(ctx context.Context, db DB, sql string, args ...any) ([]*Cycle, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Cycle
	for rows.Next() {
		c, err := scanCycle(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// InsertCycle queues a cycle on a run. Trigger says why (label, command,
// push, schedule, rerun, button); obligationID pins a retry to one
// obligation ("" lets the cycle select).
func InsertCycle(ctx context.Context, db DB, runID int64, trigger, obligationID string) (*Cycle, error) {
	c, err := scanCycle(db.QueryRow(ctx, `INSERT INTO cycles (run_id, trigger, obligation_id) VALUES ($1, $2, $3)
		RETURNING `+cycleColumns, runID, trigger, obligationID))
	if err != nil {
		return nil, fmt.Errorf("insert cycle of run %d: %w", runID, err)
	}
	return c, nil
}

// GetCycle reads a cycle.
func GetCycle(ctx context.Context, db DB, id int64) (*Cycle, error) {
	c, err := scanCycle(db.QueryRow(ctx, `SELECT `+cycleColumns+` FROM cycles WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("cycle %d", id))
	}
	return c, nil
}

// ListCycles lists a run's cycles, oldest first.
func ListCycles(ctx context.Context, db DB, runID int64) ([]*Cycle, error) {
	cycles, err := queryCycles(ctx, db, `SELECT `+cycleColumns+` FROM cycles WHERE run_id = $1 ORDER BY id`, runID)
	if err != nil {
		return nil, fmt.Errorf("list cycles of run %d: %w", runID, err)
	}
	return cycles, nil
}

// ClaimResult says why a claim did or did not take the cycle.
type ClaimResult int

const (
	Claimed  ClaimResult = iota // the caller owns the cycle with the returned fence
	Waiting                     // an earlier cycle of the run is unfinished, or a live lease holds it
	Finished                    // the cycle is done: nothing to do
)

// Beginner is a DB that starts transactions: a pool or a connection.
type Beginner interface {
	DB
	Begin(ctx context.Context) (pgx.Tx, error)
}

// ClaimCycle takes a cycle for owner with a lease of ttl. It succeeds when
// the cycle is queued, or running under an expired lease (its worker died),
// no earlier cycle of the same run is unfinished (at most one cycle per
// (repo, branch) is active, in order), and fewer than limit cycles of the
// repo are running (0: no limit). The fence increases with every claim;
// writes made under an older fence are refused.
func ClaimCycle(ctx context.Context, db Beginner, id int64, owner string, ttl time.Duration, limit int) (ClaimResult, int64, error) {
	var fence int64
	claimed := false
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// One claim per repo at a time, so the running count below is exact.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(r.repo_full_name))
			FROM cycles c JOIN runs r ON r.id = c.run_id WHERE c.id = $1`, id); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			UPDATE cycles c SET state = 'running', lease_owner = $2, lease_expires_at = now() + $3::interval,
				fence = c.fence + 1, attempts = c.attempts + 1, started_at = COALESCE(c.started_at, now())
			WHERE c.id = $1
			  AND (c.state = 'queued' OR (c.state = 'running' AND c.lease_expires_at < now()))
			  AND NOT EXISTS (SELECT 1 FROM cycles e WHERE e.run_id = c.run_id AND e.id < c.id AND e.state <> 'done')
			  AND ($4 = 0 OR (SELECT count(*) FROM cycles o JOIN runs ro ON ro.id = o.run_id
			                  WHERE ro.repo_full_name = (SELECT repo_full_name FROM runs WHERE id = c.run_id)
			                    AND o.id <> c.id AND o.state = 'running' AND o.lease_expires_at >= now()) < $4)
			RETURNING c.fence`, id, owner, ttl.String(), limit).Scan(&fence)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		claimed = err == nil
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("claim cycle %d: %w", id, err)
	}
	if claimed {
		return Claimed, fence, nil
	}
	c, err := GetCycle(ctx, db, id)
	if err != nil {
		return 0, 0, err
	}
	if c.State == state.CycleDone {
		return Finished, 0, nil
	}
	return Waiting, 0, nil
}

// ErrFenced means another worker has taken the cycle over: the caller must
// stop at once and write nothing more.
var ErrFenced = errors.New("cycle lease lost to another worker")

// Heartbeat extends the lease of a cycle the caller holds with fence, and
// reports whether a stop was requested.
func Heartbeat(ctx context.Context, db DB, id, fence int64, ttl time.Duration) (stop bool, err error) {
	err = db.QueryRow(ctx, `UPDATE cycles SET lease_expires_at = now() + $3::interval
		WHERE id = $1 AND fence = $2 AND state = 'running' RETURNING stop_requested`, id, fence, ttl.String()).Scan(&stop)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, ErrFenced
	}
	if err != nil {
		return false, fmt.Errorf("heartbeat cycle %d: %w", id, err)
	}
	return stop, nil
}

// ReleaseCycle gives up the lease of a running cycle the caller holds with
// fence, leaving it running with an expired lease: the next claim (a
// takeover) gets it at once, under a new fence.
func ReleaseCycle(ctx context.Context, db DB, id, fence int64) error {
	tag, err := db.Exec(ctx, `UPDATE cycles SET lease_expires_at = now() - interval '1 second'
		WHERE id = $1 AND fence = $2 AND state = 'running'`, id, fence)
	if err != nil {
		return fmt.Errorf("release cycle %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrFenced
	}
	return nil
}

// UpdateCycle records what a running cycle has learnt (its obligation and
// head commit), under its fence.
func UpdateCycle(ctx context.Context, db DB, id, fence int64, obligationID, obligationText, headSHA string) error {
	tag, err := db.Exec(ctx, `UPDATE cycles SET obligation_id = $3, obligation_text = $4, head_sha = $5
		WHERE id = $1 AND fence = $2`, id, fence, obligationID, obligationText, headSHA)
	if err != nil {
		return fmt.Errorf("update cycle %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrFenced
	}
	return nil
}

// FinishCycle concludes a cycle under its fence. The last lease owner is
// kept: it says which worker ran the cycle.
func FinishCycle(ctx context.Context, db DB, id, fence int64, conclusion state.Conclusion, summary string) error {
	tag, err := db.Exec(ctx, `UPDATE cycles SET state = 'done', conclusion = $3, summary = $4, finished_at = now(),
		lease_expires_at = NULL WHERE id = $1 AND fence = $2 AND state <> 'done'`, id, fence, conclusion, summary)
	if err != nil {
		return fmt.Errorf("finish cycle %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrFenced
	}
	return nil
}

// CancelQueuedCycles concludes the run's queued cycles as cancelled and asks
// its running one to stop. It returns how many it touched.
func CancelQueuedCycles(ctx context.Context, db DB, runID int64, reason string) (int, error) {
	tag, err := db.Exec(ctx, `UPDATE cycles SET state = 'done', conclusion = 'cancelled', summary = $2, finished_at = now()
		WHERE run_id = $1 AND state = 'queued'`, runID, reason)
	if err != nil {
		return 0, fmt.Errorf("cancel cycles of run %d: %w", runID, err)
	}
	// The notification goes out when this statement's transaction commits,
	// so a worker's listener hears of the stop as soon as it is true.
	tag2, err := db.Exec(ctx, `WITH s AS (UPDATE cycles SET stop_requested = true WHERE run_id = $1 AND state = 'running' RETURNING id)
		SELECT pg_notify($2, s.id::text) FROM s`, runID, StopChannel)
	if err != nil {
		return 0, fmt.Errorf("stop cycles of run %d: %w", runID, err)
	}
	return int(tag.RowsAffected() + tag2.RowsAffected()), nil
}

// ExpiredCycles lists running cycles whose lease ran out: their worker died.
func ExpiredCycles(ctx context.Context, db DB) ([]*Cycle, error) {
	cycles, err := queryCycles(ctx, db, `SELECT `+cycleColumns+` FROM cycles WHERE state = 'running' AND lease_expires_at < now() ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list expired cycles: %w", err)
	}
	return cycles, nil
}

// QueuePosition is how many unfinished cycles of the run come before id.
func QueuePosition(ctx context.Context, db DB, c *Cycle) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM cycles WHERE run_id = $1 AND id < $2 AND state <> 'done'`, c.RunID, c.ID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queue position of cycle %d: %w", c.ID, err)
	}
	return n, nil
}

// Event is one step of a run, in order.
type Event struct {
	RunID   int64
	Seq     int64
	CycleID int64
	Kind    string // cycle | step | note
	Step    string
	Outcome string
	Message string
	// Data is the step's evidence as JSON (see handlers' stepData), or nil.
	Data      []byte
	StartedAt *time.Time
	CreatedAt time.Time
}

// AppendEvent adds an event with the run's next sequence number. The
// number comes from a counter on the run, which also orders concurrent
// appends, so numbers are dense and never reused.
func AppendEvent(ctx context.Context, db DB, e *Event) error {
	var cycle *int64
	if e.CycleID != 0 {
		cycle = &e.CycleID
	}
	var data *string
	if len(e.Data) > 0 {
		s := string(e.Data)
		data = &s
	}
	err := db.QueryRow(ctx, `
		WITH r AS (UPDATE runs SET last_event_seq = last_event_seq + 1 WHERE id = $1 RETURNING last_event_seq)
		INSERT INTO events (run_id, seq, cycle_id, kind, step, outcome, message, started_at, data)
		SELECT $1, r.last_event_seq, $2, $3, $4, $5, $6, $7, $8::jsonb FROM r
		RETURNING seq, created_at`, e.RunID, cycle, e.Kind, e.Step, e.Outcome, e.Message, e.StartedAt, data).Scan(&e.Seq, &e.CreatedAt)
	if err != nil {
		return notFound(err, fmt.Sprintf("append event to run %d", e.RunID))
	}
	return nil
}

// ListEvents lists a run's events after seq, in order.
func ListEvents(ctx context.Context, db DB, runID, afterSeq int64, limit int) ([]Event, error) {
	rows, err := db.Query(ctx, `SELECT run_id, seq, COALESCE(cycle_id, 0), kind, step, outcome, message, started_at, created_at, data::text
		FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, runID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list events of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var data *string
		if err := rows.Scan(&e.RunID, &e.Seq, &e.CycleID, &e.Kind, &e.Step, &e.Outcome, &e.Message, &e.StartedAt, &e.CreatedAt, &data); err != nil {
			return nil, err
		}
		if data != nil {
			e.Data = []byte(*data)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// KeptEventSeqs is the lowest and highest seq still kept for a run (0, 0
// if none): a client resuming below first missed pruned events.
func KeptEventSeqs(ctx context.Context, db DB, runID int64) (first, last int64, err error) {
	err = db.QueryRow(ctx, `SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM events WHERE run_id = $1`, runID).Scan(&first, &last)
	if err != nil {
		return 0, 0, fmt.Errorf("kept events of run %d: %w", runID, err)
	}
	return first, last, nil
}

// Artifact is a stored log, prompt, patch or audit of a cycle.
type Artifact struct {
	ID        int64
	CycleID   int64
	Name      string
	Content   []byte
	Truncated bool
	CreatedAt time.Time
}

// InsertArtifact stores an artifact; the caller has capped and redacted it.
func InsertArtifact(ctx context.Context, db DB, a *Artifact) error {
	err := db.QueryRow(ctx, `INSERT INTO artifacts (cycle_id, name, content, truncated) VALUES ($1, $2, $3, $4)
		RETURNING id, created_at`, a.CycleID, a.Name, a.Content, a.Truncated).Scan(&a.ID, &a.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert artifact %s of cycle %d: %w", a.Name, a.CycleID, err)
	}
	return nil
}

// ListArtifacts lists a cycle's artifacts without their content.
func ListArtifacts(ctx context.Context, db DB, cycleID int64) ([]Artifact, error) {
	rows, err := db.Query(ctx, `SELECT id, cycle_id, name, truncated, created_at, length(content) FROM artifacts WHERE cycle_id = $1 ORDER BY id`, cycleID)
	if err != nil {
		return nil, fmt.Errorf("list artifacts of cycle %d: %w", cycleID, err)
	}
	defer rows.Close()
	var out []Artifact
	for rows.Next() {
		var a Artifact
		var n int
		if err := rows.Scan(&a.ID, &a.CycleID, &a.Name, &a.Truncated, &a.CreatedAt, &n); err != nil {
			return nil, err
		}
		a.Content = make([]byte, 0, n)
		out = append(out, a)
	}
	return out, rows.Err()
}

// GetArtifact reads one artifact with its content.
func GetArtifact(ctx context.Context, db DB, id int64) (*Artifact, error) {
	a := &Artifact{}
	err := db.QueryRow(ctx, `SELECT id, cycle_id, name, content, truncated, created_at FROM artifacts WHERE id = $1`, id).
		Scan(&a.ID, &a.CycleID, &a.Name, &a.Content, &a.Truncated, &a.CreatedAt)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("artifact %d", id))
	}
	return a, nil
}

// Prune deletes events and artifacts created before t, and notes on each
// run what it lost and when, for the run's page.
func Prune(ctx context.Context, db DB, before time.Time) (events, artifacts int64, err error) {
	err = db.QueryRow(ctx, `
		WITH d AS (DELETE FROM events WHERE created_at < $1 RETURNING run_id),
		     n AS (SELECT run_id, count(*) AS c FROM d GROUP BY run_id),
		     u AS (UPDATE runs SET events_pruned = events_pruned + n.c, pruned_at = now(), pruned_before = $1
		           FROM n WHERE runs.id = n.run_id RETURNING 1)
		SELECT COALESCE((SELECT sum(c) FROM n), 0)::bigint`, before).Scan(&events)
	if err != nil {
		return 0, 0, fmt.Errorf("prune events: %w", err)
	}
	err = db.QueryRow(ctx, `
		WITH d AS (DELETE FROM artifacts WHERE created_at < $1 RETURNING cycle_id),
		     n AS (SELECT c.run_id, count(*) AS c FROM d JOIN cycles c ON c.id = d.cycle_id GROUP BY c.run_id),
		     u AS (UPDATE runs SET artifacts_pruned = artifacts_pruned + n.c, pruned_at = now(), pruned_before = $1
		           FROM n WHERE runs.id = n.run_id RETURNING 1)
		SELECT count(*) FROM d`, before).Scan(&artifacts)
	if err != nil {
		return 0, 0, fmt.Errorf("prune artifacts: %w", err)
	}
	return events, artifacts, nil
}

// CheckRun is a check run specloop created, kept until it is completed so
// that a crashed cycle's checks are completed by whoever takes it over.
type CheckRun struct {
	ID        int64
	CycleID   int64
	Repo      string
	Name      string
	HeadSHA   string
	HTMLURL   string
	Completed bool
}

// RecordCheckRun remembers a created check run.
func RecordCheckRun(ctx context.Context, db DB, c *CheckRun) error {
	var cycle *int64
	if c.CycleID != 0 {
		cycle = &c.CycleID
	}
	_, err := db.Exec(ctx, `INSERT INTO check_runs (id, cycle_id, repo_full_name, name, head_sha, html_url, completed)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET completed = EXCLUDED.completed`,
		c.ID, cycle, c.Repo, c.Name, c.HeadSHA, c.HTMLURL, c.Completed)
	if err != nil {
		return fmt.Errorf("record check run %d: %w", c.ID, err)
	}
	return nil
}

// CompleteCheckRun marks a check run completed.
func CompleteCheckRun(ctx context.Context, db DB, id int64) error {
	if _, err := db.Exec(ctx, `UPDATE check_runs SET completed = true WHERE id = $1`, id); err != nil {
		return fmt.Errorf("complete check run %d: %w", id, err)
	}
	return nil
}

// OpenCheckRuns lists a cycle's check runs not yet completed.
func OpenCheckRuns(ctx context.Context, db DB, cycleID int64) ([]CheckRun, error) {
	out, err := queryCheckRuns(ctx, db, `SELECT `+checkRunColumns+` FROM check_runs WHERE cycle_id = $1 AND NOT completed ORDER BY id`, cycleID)
	if err != nil {
		return nil, fmt.Errorf("open check runs of cycle %d: %w", cycleID, err)
	}
	return out, nil
}

// ListCheckRuns lists every check run of a cycle, for the run page.
func ListCheckRuns(ctx context.Context, db DB, cycleID int64) ([]CheckRun, error) {
	out, err := queryCheckRuns(ctx, db, `SELECT `+checkRunColumns+` FROM check_runs WHERE cycle_id = $1 ORDER BY id`, cycleID)
	if err != nil {
		return nil, fmt.Errorf("check runs of cycle %d: %w", cycleID, err)
	}
	return out, nil
}

const checkRunColumns = `id, COALESCE(cycle_id, 0), repo_full_name, name, head_sha, html_url, completed`

func queryCheckRuns(ctx context.Context, db DB, sql string, args ...any) ([]CheckRun, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CheckRun
	for rows.Next() {
		var c CheckRun
		if err := rows.Scan(&c.ID, &c.CycleID, &c.Repo, &c.Name, &c.HeadSHA, &c.HTMLURL, &c.Completed); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FindCheckRun reads a check run specloop created.
func FindCheckRun(ctx context.Context, db DB, id int64) (*CheckRun, error) {
	c := &CheckRun{}
	err := db.QueryRow(ctx, `SELECT `+checkRunColumns+` FROM check_runs WHERE id = $1`, id).
		Scan(&c.ID, &c.CycleID, &c.Repo, &c.Name, &c.HeadSHA, &c.HTMLURL, &c.Completed)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("check run %d", id))
	}
	return c, nil
}

// CycleQueuedSince reports whether the run has a cycle created after the
// delivery arrived: that delivery's cycle is queued already (its job ran
// before, on a worker that died before River heard it finish) or a later
// one's is. A delivery unknown here queued nothing.
func CycleQueuedSince(ctx context.Context, db DB, runID int64, delivery string) (bool, error) {
	var queued bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cycles c JOIN deliveries d ON d.guid = $2
		WHERE c.run_id = $1 AND c.created_at >= d.received_at)`, runID, delivery).Scan(&queued)
	if err != nil {
		return false, fmt.Errorf("cycles of run %d since delivery %s: %w", runID, delivery, err)
	}
	return queued, nil
}
