package jobs

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

const (
	// gadgetsSpec has one obligation done and one open.
	gadgetsSpec = "# Gadgets\n\n- [x] [g-1] Design the gadget\n- [ ] [g-2] Ship the gadget\n"
	// doneSpec has nothing left to do.
	doneSpec = "# Done\n\n- [x] [d-1] Everything\n"
	// brokenSpec fails lint: one id twice.
	brokenSpec = "# Broken\n\n- [ ] [b-1] One\n- [ ] [b-1] Two\n"
)

// pushArgs is the job of a push to main that touched files, as the
// intake queues it.
func pushArgs(h *harness, files ...string) SpecPushArgs {
	return SpecPushArgs{Repo: testFull, InstallationID: h.inst, Ref: "refs/heads/main", After: h.mainSHA(), Files: files, Delivery: "d"}
}

// TestSpecPushCheck: a push touching specs gets a specloop/spec check run
// on the pushed commit with every obligation's state and the counts.
func TestSpecPushCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"specs/widgets.md": widgetsSpec, "specs/gadgets.md": gadgetsSpec, "docs/notes.md": "- [ ] not a spec\n"})
	sha := h.mainSHA()
	mustWork(h, h.specPush(), pushArgs(h, "specs/widgets.md", "specs/gadgets.md", "docs/notes.md", "specs/gone.md"))

	checks := h.checkRuns("")
	require.Len(t, checks, 1)
	cr := checks[0]
	require.Equal(t, "specloop/spec", cr.GetName())
	require.Equal(t, sha, cr.GetHeadSHA())
	require.Equal(t, "completed", cr.GetStatus())
	require.Equal(t, string(state.Success), cr.GetConclusion())
	require.Equal(t, "1 done, 3 open, 0 blocked", cr.GetOutput().GetTitle())
	summary := cr.GetOutput().GetSummary()
	for _, want := range []string{
		"### `specs/widgets.md`", "| :white_circle: open | `w-1` | Build the widget |", "**Next:** `w-1` Build the widget",
		"### `specs/gadgets.md`", "| :white_check_mark: done | `g-1` | Design the gadget |", "**Next:** `g-2` Ship the gadget",
	} {
		require.Contains(t, summary, want)
	}
	require.NotContains(t, summary, "docs/notes.md", "not under the spec globs")
	require.Empty(t, cr.GetOutput().Annotations)
	require.Zero(t, h.runCount(), "on_push: check queues no cycle")
	require.Empty(t, h.cycleJobs())
}

// TestSpecPushLint: specs that fail lint fail the check, with an
// annotation at each problem.
func TestSpecPushLint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"specs/widgets.md": widgetsSpec, "specs/broken.md": brokenSpec})
	mustWork(h, h.specPush(), pushArgs(h, "specs/broken.md", "specs/widgets.md"))

	checks := h.checkRuns("")
	require.Len(t, checks, 1)
	cr := checks[0]
	require.Equal(t, string(state.Failure), cr.GetConclusion())
	require.Equal(t, "1 problem(s) in specs; 0 done, 2 open, 0 blocked", cr.GetOutput().GetTitle())
	require.Contains(t, cr.GetOutput().GetSummary(), "- :x: `specs/broken.md:4`: duplicate id \"b-1\" (first at line 3)")
	require.Len(t, cr.GetOutput().Annotations, 1)
	a := cr.GetOutput().Annotations[0]
	require.Equal(t, "specs/broken.md", a.GetPath())
	require.Equal(t, 4, a.GetStartLine())
	require.Equal(t, "failure", a.GetAnnotationLevel())
	require.Equal(t, `duplicate id "b-1" (first at line 3)`, a.GetMessage())
}

// TestSpecPushNothing: a push whose spec files were all removed, or that
// touched no spec, posts nothing.
func TestSpecPushNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"README.md": "# w\n"})
	mustWork(h, h.specPush(), pushArgs(h, "specs/gone.md", "README.md"))
	require.Empty(t, h.checkRuns(""))
}

// TestSpecPushCycle: with on_push: cycle, each changed spec with work left
// gets a run on its own branch and a cycle; a second push while those
// cycles are queued adds none.
func TestSpecPushCycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "on_push: cycle\n",
		"specs/widgets.md": widgetsSpec, "specs/gadgets.md": gadgetsSpec, "specs/done.md": doneSpec, "specs/broken.md": brokenSpec})
	mustWork(h, h.specPush(), pushArgs(h, "specs/widgets.md", "specs/gadgets.md", "specs/done.md", "specs/broken.md"))

	require.Len(t, h.checkRuns(""), 1, "the spec check is posted too")
	require.Equal(t, 2, h.runCount(), "none for a spec that is done or broken")
	var queued []int64
	for path, branch := range map[string]string{"specs/widgets.md": "specloop/spec/widgets", "specs/gadgets.md": "specloop/spec/gadgets"} {
		run, err := store.FindRunByBranch(h.ctx, h.pool, testFull, branch)
		require.NoError(t, err, path)
		require.Equal(t, state.RunSpec, run.Kind)
		require.Equal(t, path, run.SpecPath)
		cycles := h.cycles(run.ID)
		require.Len(t, cycles, 1)
		require.Equal(t, "push", cycles[0].Trigger)
		queued = append(queued, cycles[0].ID)
	}
	require.ElementsMatch(t, queued, h.cycleJobs())

	mustWork(h, h.specPush(), pushArgs(h, "specs/widgets.md"))
	require.ElementsMatch(t, queued, h.cycleJobs(), "no second cycle while one is queued")
	require.Len(t, h.checkRuns(""), 2, "each push gets its check")
}

// TestSpecPushNone: with on_push: none a push does nothing at all.
func TestSpecPushNone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "on_push: none\n", "specs/widgets.md": widgetsSpec})
	before := h.routes()
	mustWork(h, h.specPush(), pushArgs(h, "specs/widgets.md"))
	require.Empty(t, h.checkRuns(""))
	require.Zero(t, h.runCount())
	require.Empty(t, h.cycleJobs())
	require.Equal(t, 1, h.sent(before)[routeContents], "the config is read, the spec is not")
}

// TestSpecPushStoppedRun: with on_push: cycle, a push does not restart a
// run a maintainer stopped.
func TestSpecPushStoppedRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "on_push: cycle\n", "specs/widgets.md": widgetsSpec})
	run := h.specRun("specs/widgets.md", "specloop/spec/widgets")
	require.NoError(t, store.SetRunState(h.ctx, h.pool, run.ID, state.RunStopped))
	mustWork(h, h.specPush(), pushArgs(h, "specs/widgets.md"))
	require.Empty(t, h.cycles(run.ID))
	require.Equal(t, state.RunStopped, h.run(run.ID).State)
	require.Len(t, h.checkRuns(""), 1, "the spec check is still posted")
}
