package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/store"
)

// modelSpent is what the run and the repo's day (UTC) spent at the model
// proxy before this cycle; an error is logged and counts as nothing spent
// rather than stopping the cycle.
func (c *cycleRun) modelSpent(ctx context.Context) cycle.Spent {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	tokens, runUSD, dayUSD, err := store.ModelSpent(ctx, c.d.Pool, c.run.Repo, c.run.ID, day)
	if err != nil {
		c.d.Logger.Error("model spend", "run", c.run.ID, "err", err)
		return cycle.Spent{}
	}
	return cycle.Spent{RunTokens: tokens, RunUSD: runUSD, DayUSD: dayUSD}
}

// recordModel stores the cycle's model requests, one event each for the
// run page, and when a budget stopped the cycle, says so on the PR (or the
// issue): which limit, and how to raise it.
func (c *cycleRun) recordModel(ctx context.Context, res *cycle.Result) {
	calls := make([]store.ModelCall, 0, len(res.ModelCalls))
	for _, m := range res.ModelCalls {
		calls = append(calls, store.ModelCall{Repo: c.run.Repo, RunID: c.run.ID, CycleID: c.cycle.ID, Path: m.Path, Status: m.Status,
			Model: m.Model, Input: int64(m.Input), Cached: int64(m.Cached), Output: int64(m.Output), CostUSD: m.CostUSD, Refused: m.Refused})
		msg, _ := json.Marshal(m)
		outcome := fmt.Sprint(m.Status)
		if m.Refused != "" {
			outcome = "refused"
		}
		c.d.event(ctx, c.run.ID, c.cycle.ID, "model_request", cycle.StepImplement, outcome, string(msg))
	}
	if err := store.InsertModelCalls(ctx, c.d.Pool, calls); err != nil {
		c.d.Logger.Error("record model calls", "run", c.run.ID, "err", err)
	}
	if res.BudgetHit == "" || c.rc == nil {
		return
	}
	target := c.run.PR
	if target == 0 {
		target = c.run.Issue
	}
	if target == 0 {
		return
	}
	body := "**specloop stopped:** " + cycle.BudgetMessage(res.BudgetHit)
	if err := c.d.reply(ctx, c.rc, target, body); err != nil {
		c.d.Logger.Error("budget comment", "run", c.run.ID, "err", err)
	}
}
