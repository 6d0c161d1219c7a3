package store

import (
	"context"
	"fmt"
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
