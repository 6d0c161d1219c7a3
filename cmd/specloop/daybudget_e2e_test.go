package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator/modelapi"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestDayBudget: limits.usd_per_day is the repo's, over all its runs of
// the day (UTC). The real Claude Code goes through the model proxy to the
// stand-in, which answers as claude-sonnet-4-5 ($3 per million input
// tokens): a first run spends about $0.61 and succeeds; a second run of
// the same repo that day spends $0.60 on its first request, which takes
// the day past $1 though the run alone is under it, so the proxy refuses
// its next request, the cycle ends action_required, and the issue says
// which limit stopped it and how to go on. A run of another repo with the
// same limit, right after, is not stopped.
func TestDayBudget(t *testing.T) {
	// Not parallel: modelAPI sets the worker's environment.
	api := modelAPI(t, "claude-sonnet-4-5")
	st := newStack(t, stack.Options{})
	ctx := context.Background()
	const config = "agent: claude\nlimits: {usd_per_day: 1}\nverify: {command: \"true\"}\n"
	verdict := modelapi.Step{Structured: map[string]any{"verdict": "pass", "summary": "the file is there", "findings": []any{}},
		Usage: modelapi.Usage{Input: 1000, Output: 10}}
	// 200,000 uncached input tokens at $3 per million.
	const big = 200_000
	dayStart := time.Now().UTC().Truncate(24 * time.Hour)

	addRepo(t, st, "day-budget", map[string]string{"README.md": "# day budget\n", ".github/specloop.yml": config})
	addRepo(t, st, "day-budget-other", map[string]string{"README.md": "# another repo\n", ".github/specloop.yml": config})

	// The first run stays under the day's budget.
	api.Append(modelapi.Step{Shell: "echo one > one.txt", Usage: modelapi.Usage{Input: big}},
		modelapi.Step{Text: "Wrote one.txt.", Usage: modelapi.Usage{Input: 1000, Output: 10}}, verdict)
	first := openLabelledIssue(t, st, "day-budget", "- [ ] [d-1] Write one.txt")
	run1, cycles := waitCycles(t, st, "day-budget", first, 1)
	require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
	_, _, day, err := store.ModelSpent(ctx, st.Server.Pool, st.Owner+"/day-budget", run1.ID, dayStart)
	require.NoError(t, err)
	require.Greater(t, day, 0.6)
	require.Less(t, day, 1.0, "the first run leaves the day's budget unspent")

	// The second run's first request takes the day past $1. The step
	// after it is the other repo's first: the refused request never
	// reaches the stand-in, so that step is still there for it.
	api.Append(modelapi.Step{Shell: "echo two > two.txt", Usage: modelapi.Usage{Input: big}})
	otherSteps := []modelapi.Step{{Shell: "echo other > other.txt", Usage: modelapi.Usage{Input: 1000, Output: 10}},
		{Text: "Wrote other.txt.", Usage: modelapi.Usage{Input: 1000, Output: 10}}, verdict}
	api.Append(otherSteps...)
	second := openLabelledIssue(t, st, "day-budget", "- [ ] [d-2] Write two.txt")
	run2, cycles := waitCycles(t, st, "day-budget", second, 1)
	require.Equal(t, state.ActionRequired, cycles[0].Conclusion, cycles[0].Summary)
	require.Contains(t, cycles[0].Summary, "limits.usd_per_day (1 USD)")
	require.Equal(t, len(otherSteps), api.Remaining(), "the refused request never reached the model API")
	_, runUSD, err := store.RunSpent(ctx, st.Server.Pool, run2.ID)
	require.NoError(t, err)
	require.Less(t, runUSD, 1.0, "the run alone is under $1: the day stopped it")
	said := botSaid(t, st, "day-budget", second)
	require.Contains(t, said, "The model budget limits.usd_per_day (1 USD) is spent", "the run's issue says which limit stopped it")
	require.Contains(t, said, "raise `limits.usd_per_day` in `.github/specloop.yml` (or remove it) and comment `/loop retry`")
	require.Contains(t, said, "or wait until tomorrow (UTC), when the day's budget starts again")
	_, ok := fileAt(t, st, "day-budget", run2.Branch, "two.txt")
	require.False(t, ok, "nothing of the stopped cycle was pushed")

	// Another repo's day is its own.
	third := openLabelledIssue(t, st, "day-budget-other", "- [ ] [o-1] Write other.txt")
	run3, cycles := waitCycles(t, st, "day-budget-other", third, 1)
	require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
	require.Zero(t, api.Remaining())
	other, ok := fileAt(t, st, "day-budget-other", run3.Branch, "other.txt")
	require.True(t, ok, "the other repo's change landed")
	require.Equal(t, "other\n", other)
	require.NotContains(t, botSaid(t, st, "day-budget-other", third), "limits.usd_per_day")
}
