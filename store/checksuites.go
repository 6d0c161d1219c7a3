package store

import (
	"context"
	"fmt"
	"time"
)

// LatestCycleCheckRun is the newest check run of a cycle on a commit of
// repo: what "Re-run all checks" on that commit's suite retries.
func LatestCycleCheckRun(ctx context.Context, db DB, repo, headSHA string) (*CheckRun, error) {
	c := &CheckRun{}
	err := db.QueryRow(ctx, `SELECT `+checkRunColumns+` FROM check_runs
		WHERE repo_full_name = $1 AND head_sha = $2 AND cycle_id IS NOT NULL ORDER BY id DESC LIMIT 1`, repo, headSHA).
		Scan(&c.ID, &c.CycleID, &c.Repo, &c.Name, &c.HeadSHA, &c.HTMLURL, &c.Completed)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("cycle check run on %.12s of %s", headSHA, repo))
	}
	return c, nil
}

// StrandedCheckRun is a check run left open by a cycle that has ended:
// GitHub did not answer when the cycle completed it.
type StrandedCheckRun struct {
	CheckRun
	InstallationID int64
	Conclusion     string // the cycle's
	FinishedAt     time.Time
}

// StrandedCheckRuns lists the check runs not completed whose cycle ended
// before endedBefore, oldest first.
func StrandedCheckRuns(ctx context.Context, db DB, endedBefore time.Time) ([]StrandedCheckRun, error) {
	rows, err := db.Query(ctx, `SELECT cr.id, cr.cycle_id, cr.repo_full_name, cr.name, cr.head_sha, cr.html_url, cr.completed,
			r.installation_id, c.conclusion, c.finished_at
		FROM check_runs cr JOIN cycles c ON c.id = cr.cycle_id JOIN runs r ON r.id = c.run_id
		WHERE NOT cr.completed AND c.state = 'done' AND c.finished_at < $1
		ORDER BY cr.id LIMIT 500`, endedBefore)
	if err != nil {
		return nil, fmt.Errorf("stranded check runs: %w", err)
	}
	defer rows.Close()
	var out []StrandedCheckRun
	for rows.Next() {
		var s StrandedCheckRun
		if err := rows.Scan(&s.ID, &s.CycleID, &s.Repo, &s.Name, &s.HeadSHA, &s.HTMLURL, &s.Completed,
			&s.InstallationID, &s.Conclusion, &s.FinishedAt); err != nil {
			return nil, fmt.Errorf("stranded check runs: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
