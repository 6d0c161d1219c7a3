package store

import (
	"context"
	"fmt"
	"time"
)

// ModelCall is one request through the model proxy, as stored.
type ModelCall struct {
	Repo                  string
	RunID, CycleID        int64
	Path                  string
	Status                int
	Model                 string
	Input, Cached, Output int64
	CostUSD               float64
	Refused               string
}

// InsertModelCalls records calls.
func InsertModelCalls(ctx context.Context, db DB, calls []ModelCall) error {
	for _, c := range calls {
		var cycle *int64
		if c.CycleID != 0 {
			cycle = &c.CycleID
		}
		if _, err := db.Exec(ctx, `INSERT INTO model_calls (repo_full_name, run_id, cycle_id, path, status, model,
			input_tokens, cached_tokens, output_tokens, cost_usd, refused) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			c.Repo, c.RunID, cycle, c.Path, c.Status, c.Model, c.Input, c.Cached, c.Output, c.CostUSD, c.Refused); err != nil {
			return fmt.Errorf("record model call of run %d: %w", c.RunID, err)
		}
	}
	return nil
}

// ModelSpent is what run spent at the model proxy (tokens and US
// dollars), and what repo spent since dayStart: what the budgets weigh.
// The run page wants only the run's part and asks RunSpent.
func ModelSpent(ctx context.Context, db DB, repo string, runID int64, dayStart time.Time) (runTokens int64, runUSD, dayUSD float64, err error) {
	err = db.QueryRow(ctx, `SELECT
			COALESCE(SUM(input_tokens + output_tokens) FILTER (WHERE run_id = $2), 0)::bigint,
			COALESCE(SUM(cost_usd) FILTER (WHERE run_id = $2), 0),
			COALESCE(SUM(cost_usd) FILTER (WHERE created_at >= $3), 0)
		FROM model_calls WHERE repo_full_name = $1 AND (run_id = $2 OR created_at >= $3)`, repo, runID, dayStart).Scan(&runTokens, &runUSD, &dayUSD)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read model spend of %s: %w", repo, err)
	}
	return runTokens, runUSD, dayUSD, nil
}

// RunSpent is what run spent at the model proxy, in tokens (input plus
// output) and US dollars, over all its cycles: the run page's cost.
func RunSpent(ctx context.Context, db DB, runID int64) (tokens int64, usd float64, err error) {
	err = db.QueryRow(ctx, `SELECT COALESCE(SUM(input_tokens + output_tokens), 0)::bigint, COALESCE(SUM(cost_usd), 0)
		FROM model_calls WHERE run_id = $1`, runID).Scan(&tokens, &usd)
	if err != nil {
		return 0, 0, fmt.Errorf("read model spend of run %d: %w", runID, err)
	}
	return tokens, usd, nil
}
