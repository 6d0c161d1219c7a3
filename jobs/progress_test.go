package jobs

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// progressComments are the bodies of the run's progress comments on n.
func (h *harness) progressComments(n int) (ids []int64, bodies []string) {
	for _, c := range h.emu.IssueComments(testOwner, testRepo, n) {
		if c.GetUser().GetLogin() == botLogin && strings.HasPrefix(c.GetBody(), ProgressMarker) {
			ids, bodies = append(ids, c.GetID()), append(bodies, c.GetBody())
		}
	}
	return ids, bodies
}

// served counts the emulator's answers to method on paths with prefix.
func (h *harness) served(method, prefix string) int {
	n := 0
	for k, v := range h.emu.Served() {
		if strings.HasPrefix(k, method+" "+prefix) {
			n += v
		}
	}
	return n
}

// TestProgressComment: a run has one progress comment, on its issue until
// the PR opens and then on the PR, edited in place by every later cycle
// (each a fresh worker's view, as after a takeover), with the edits of a
// cycle coalesced.
func TestProgressComment(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: passingConfig}, func(c *Config) {
		c.ProgressEvery = time.Hour // only the first edit of a cycle and its conclusion get through
	})
	issue := h.createIssue("Widgets", widgetsSpec)
	run := h.issueRun(issue)
	c1 := h.queued(run.ID, "label")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: c1.ID})
	require.Equal(t, state.Success, h.cycle(c1.ID).Conclusion)

	pr := h.run(run.ID).PR
	require.NotZero(t, pr)
	onIssue, _ := h.progressComments(issue)
	require.Empty(t, onIssue, "the comment moved to the PR once it opened")
	ids, bodies := h.progressComments(pr)
	require.Len(t, ids, 1)
	first := ids[0]
	for _, want := range []string{
		fmt.Sprintf("cycle %d of run %d: success", c1.ID, run.ID),
		"Obligation `w-1`: Build the widget",
		"- [x] prepare: ✓", "- [x] select: ✓ · `w-1`", "- [x] implement: ✓", "- [x] verify: ✓", "- [x] audit: ✓", "- [x] publish: ✓ · PR #",
		"**Conclusion:** success: Obligation `w-1` done",
		fmt.Sprintf("[Run page](%s/runs/%d)", testPublicURL, run.ID),
	} {
		require.Contains(t, bodies[0], want)
	}
	require.NotContains(t, bodies[0], "running now")
	pc, err := store.GetProgressComment(h.ctx, h.pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, store.ProgressComment{ID: first, Number: pr}, pc)
	// Posted on the issue at the start, moved to the PR at the end: about
	// ten step changes took two posts, one delete and no edit.
	require.Equal(t, 2, h.served("POST", fmt.Sprintf("/repos/%s/issues/", testFull)))
	require.Equal(t, 1, h.served("DELETE", fmt.Sprintf("/repos/%s/issues/comments/", testFull)))
	require.Zero(t, h.served("PATCH", fmt.Sprintf("/repos/%s/issues/comments/", testFull)))

	// The next cycle edits the same comment: never a second one.
	c2 := h.queued(run.ID, "command")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: c2.ID})
	ids, bodies = h.progressComments(pr)
	require.Equal(t, []int64{first}, ids)
	require.Contains(t, bodies[0], fmt.Sprintf("cycle %d of run %d: success", c2.ID, run.ID))
	require.Contains(t, bodies[0], "Obligation `w-2`: Paint the widget")
	require.Contains(t, bodies[0], fmt.Sprintf("**Earlier cycles:** cycle %d on `w-1`: success", c1.ID))
	require.Equal(t, 2, h.served("PATCH", fmt.Sprintf("/repos/%s/issues/comments/%d", testFull, first)), "one edit at the start, one at the end")
	require.Equal(t, 2, h.served("POST", fmt.Sprintf("/repos/%s/issues/", testFull)), "nothing new posted")
}

// TestProgressCommentRace: two workers' views of one run (a takeover racing
// the worker it replaces) post at once; one comment is left.
func TestProgressCommentRace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: passingConfig})
	issue := h.createIssue("Widgets", widgetsSpec)
	run := h.issueRun(issue)
	cy := h.queued(run.ID, "label")
	rc, err := h.d.repos.open(h.ctx, run.Repo, run.InstallationID)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &cycleRun{d: h.d, run: run, cycle: cy, rc: rc}
			p := c.newProgress(h.ctx)
			p.started("prepare")
			p.finish(h.ctx, "success", "done")
		}()
	}
	wg.Wait()
	ids, _ := h.progressComments(issue)
	require.Len(t, ids, 1)
	pc, err := store.GetProgressComment(h.ctx, h.pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, ids[0], pc.ID)
}

// TestLiveLog: the agent's and verify's output reaches the run's events
// while the cycle runs, redacted, in chunks, before the step's end.
func TestLiveLog(t *testing.T) {
	t.Parallel()
	secret := "ghp_" + strings.Repeat("a1B2", 9)
	cfg := strings.Replace(passingConfig, agentCommand,
		`command: 'echo built >> built.txt; for i in 1 2 3; do echo agent line $i; sleep 0.2; done; echo token `+secret+`'`, 1)
	cfg = strings.Replace(cfg, "command: 'true'", "command: 'echo verify says ok'", 1)
	h := newHarness(t, specRepo(cfg), func(c *Config) { c.LiveEvery = 50 * time.Millisecond })
	run := h.specRun("specs/widgets.md", widgetsBranch)
	c := h.queued(run.ID, "push")
	mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID})
	require.Equal(t, state.Success, h.cycle(c.ID).Conclusion, h.cycle(c.ID).Summary)

	evs, err := store.ListEvents(h.ctx, h.pool, run.ID, 0, 1000)
	require.NoError(t, err)
	logs := map[string]string{}
	chunks := map[string]int{}
	finished := map[string]bool{}
	for _, e := range evs {
		switch {
		case e.Kind == "log":
			require.False(t, finished[e.Step], "%s output after the step ended", e.Step)
			logs[e.Step] += e.Message
			chunks[e.Step]++
		case e.Kind == "step" && e.Outcome != "started":
			finished[e.Step] = true
		}
	}
	require.Contains(t, logs["implement"], "agent line 1\nagent line 2\nagent line 3\n")
	require.Contains(t, logs["implement"], "token [REDACTED]")
	require.NotContains(t, logs["implement"], secret)
	require.Greater(t, chunks["implement"], 1, "streamed as it was written, not at the end")
	require.Contains(t, logs["verify"], "verify says ok")
	// The step's event carries its evidence for the run page.
	for _, e := range evs {
		if e.Kind == "step" && e.Step == "verify" && e.Outcome == "success" {
			require.Contains(t, string(e.Data), `"counts":`)
		}
	}
}

// TestProgressRender: while a cycle runs the checklist marks the current
// step (and the fix attempt), and shows verify counts and tokens so far.
func TestProgressRender(t *testing.T) {
	t.Parallel()
	d := newDeps(Config{PublicURL: testPublicURL})
	c := &cycleRun{d: d, run: &store.Run{ID: 3}, cycle: &store.Cycle{ID: 12, ObligationID: "w-1", ObligationText: "Build the widget"}}
	p := &progress{c: c, runID: 3, cycleID: 12, obligation: "`w-1`: Build the widget", outcome: map[string]state.Conclusion{}, note: map[string]string{}}
	p.outcome["prepare"], p.note["prepare"] = state.Success, "120ms"
	p.outcome["select"] = state.Success
	p.outcome["implement"] = state.Success
	p.current, p.fixing = "verify", "fix 1/2"
	p.verify = &store.StepCounts{Known: true, Passed: 3, Failed: 1}
	p.tokens = &store.StepTokens{Input: 1200, Output: 300, Total: 1500}
	got := p.render()
	for _, want := range []string{
		ProgressMarker + "\n### specloop · cycle 12 of run 3: running\n",
		"Obligation `w-1`: Build the widget",
		"- [x] prepare: ✓ · 120ms\n- [x] select: ✓\n- [x] implement: ✓\n- [ ] **verify** ← running now (fix 1/2)\n- [ ] audit\n- [ ] publish\n",
		"**Verify:** 3 passed, 1 failed, 0 skipped",
		"**Tokens:** 1200 in, 300 out, 1500 total",
		"[Run page](https://specloop.test/runs/3)",
	} {
		require.Contains(t, got, want)
	}
	require.NotContains(t, got, "Conclusion")
	p.outcome["verify"] = state.Failure
	p.current = ""
	p.conclusion, p.summary = "failure", "Verify still fails.\nMore detail."
	got = p.render()
	require.Contains(t, got, "- [x] verify: failure\n")
	require.Contains(t, got, "**Conclusion:** failure: Verify still fails. …")
}
