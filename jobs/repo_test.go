package jobs

import (
	"net/http"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestRepoCacheOpen: the first open reads the repo, its default branch and
// its config from GitHub; later opens read nothing until a push marks the
// read stale, and then the new config is what jobs see.
func TestRepoCacheOpen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "label: loop-me\n", "specs/widgets.md": widgetsSpec})
	c := h.d.repos

	before := h.routes()
	rc, err := c.open(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Equal(t, map[string]int{routeToken: 1, routeRepo: 1, routeRef: 1, routeContents: 1}, h.sent(before), "one read of each")
	require.Equal(t, testOwner, rc.Owner)
	require.Equal(t, testRepo, rc.Name)
	require.Equal(t, h.inst, rc.InstallationID)
	require.Equal(t, "main", rc.DefaultBranch)
	require.Equal(t, "main", rc.base())
	require.Equal(t, h.mainSHA(), rc.HeadSHA)
	require.Equal(t, h.emu.URL()+"/"+testFull+".git", rc.CloneURL)
	require.Equal(t, "loop-me", rc.Config.Label)

	before = h.routes()
	again, err := c.open(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Empty(t, h.sent(before), "a cached read asks GitHub nothing")
	require.Equal(t, rc.HeadSHA, again.HeadSHA)
	require.Equal(t, "loop-me", again.Config.Label)

	// A push to the default branch changes the config and, in the intake,
	// marks the read stale.
	sha := h.push("main", map[string]string{repoconfig.Path: "label: robots\n"})
	require.NoError(t, store.InvalidateRepoConfig(h.ctx, h.pool, testFull))
	before = h.routes()
	fresh, err := c.open(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Equal(t, map[string]int{routeRepo: 1, routeRef: 1, routeContents: 1}, h.sent(before), "a stale read is read again")
	require.Equal(t, sha, fresh.HeadSHA)
	require.Equal(t, "robots", fresh.Config.Label)

	before = h.routes()
	_, err = c.open(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Empty(t, h.sent(before), "the new read is cached")
}

// TestRepoCacheTTL: a read older than RepoCacheTTL is read again even when
// no push said so (a lost webhook).
func TestRepoCacheTTL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *Config) { c.RepoCacheTTL = time.Nanosecond })
	_, err := h.d.repos.open(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	before := h.routes()
	rc, err := h.d.repos.open(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Equal(t, map[string]int{routeRepo: 1, routeRef: 1, routeContents: 1}, h.sent(before))
	require.Equal(t, repoconfig.DefaultLabel, rc.Config.Label, "no config file: the defaults")
}

// TestRepoCacheFindsInstallation: a delivery without an installation (a
// repo webhook) finds it as the app.
func TestRepoCacheFindsInstallation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	before := h.gh.Requests()
	rc, err := h.d.repos.open(h.ctx, testFull, 0)
	require.NoError(t, err)
	require.Equal(t, h.inst, rc.InstallationID)
	after := h.gh.Requests()
	require.Equal(t, 1, countAs(after, routeFindInst, "app")-countAs(before, routeFindInst, "app"))

	cached, err := store.GetRepoConfig(h.ctx, h.pool, testFull)
	require.NoError(t, err)
	require.Equal(t, h.inst, cached.InstallationID, "recorded for the jobs that follow")
}

func countAs(m map[app.Request]int, route, installation string) int {
	return m[app.Request{Route: route, Installation: installation}]
}

// TestRepoCacheFresh: before a cycle runs, one GetRef says whether the
// default branch moved; only then is the config read again.
func TestRepoCacheFresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "label: one\n"})
	c := h.d.repos

	before := h.routes()
	rc, err := c.fresh(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Equal(t, map[string]int{routeToken: 1, routeRepo: 1, routeRef: 1, routeContents: 1}, h.sent(before), "nothing cached: a full read")
	require.Equal(t, "one", rc.Config.Label)

	before = h.routes()
	rc, err = c.fresh(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Equal(t, map[string]int{routeRef: 1}, h.sent(before), "the branch did not move: exactly one GetRef")
	require.Equal(t, h.mainSHA(), rc.HeadSHA)

	// The default branch moves and no webhook told the cache.
	sha := h.push("main", map[string]string{repoconfig.Path: "label: two\n"})
	before = h.routes()
	rc, err = c.fresh(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Equal(t, map[string]int{routeRef: 2, routeRepo: 1, routeContents: 1}, h.sent(before), "moved: GetRef, then a full read")
	require.Equal(t, sha, rc.HeadSHA)
	require.Equal(t, "two", rc.Config.Label)

	// A stale read skips the GetRef and reads.
	require.NoError(t, store.InvalidateRepoConfig(h.ctx, h.pool, testFull))
	before = h.routes()
	_, err = c.fresh(h.ctx, testFull, h.inst)
	require.NoError(t, err)
	require.Equal(t, map[string]int{routeRef: 1, routeRepo: 1, routeContents: 1}, h.sent(before))
}

// TestBadConfig: a config that does not parse gets one failing
// specloop/config check run on the default branch's head that says where,
// and every job on the repo is cancelled (retrying cannot fix it).
func TestBadConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "on_push: sometimes\n"})
	issue := h.createIssue("spec", widgetsSpec)

	res, err := work(h, h.issueLabel(), IssueLabelArgs{Repo: testFull, InstallationID: h.inst, Issue: issue, Label: "specloop", Labeled: true, Sender: "maintainer"})
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCancelled, res.EventKind)

	checks := h.checkRuns("")
	require.Len(t, checks, 1)
	cr := checks[0]
	require.Equal(t, "specloop/config", cr.GetName())
	require.Equal(t, h.mainSHA(), cr.GetHeadSHA())
	require.Equal(t, "completed", cr.GetStatus())
	require.Equal(t, string(state.Failure), cr.GetConclusion())
	require.Equal(t, ".github/specloop.yml does not parse", cr.GetOutput().GetTitle())
	require.Contains(t, cr.GetOutput().GetSummary(), `on_push "sometimes" must be check, cycle or none`)
	require.Zero(t, h.runCount(), "nothing else runs")
	require.Empty(t, h.botComments(issue))

	// The next job on the repo reads the cached config: cancelled again,
	// without asking GitHub or posting a second check run.
	comment := h.comment("maintainer", issue, "/loop help")
	before := h.routes()
	res, err = work(h, h.command(), CommandArgs{Repo: testFull, InstallationID: h.inst, Issue: issue, Command: "help", Sender: "maintainer", CommentID: comment})
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCancelled, res.EventKind)
	require.Empty(t, h.sent(before))
	require.Len(t, h.checkRuns(""), 1, "the config check is posted once")
	require.Empty(t, h.botComments(issue))
}

// TestBadConfigCheckRetried: when GitHub fails to take the config check,
// the job fails (and is retried) instead of being cancelled, and the retry
// posts the check: a broken config is never silent.
func TestBadConfigCheckRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{repoconfig.Path: "on_push: sometimes\n"})
	issue := h.createIssue("spec", widgetsSpec)
	args := IssueLabelArgs{Repo: testFull, InstallationID: h.inst, Issue: issue, Label: "specloop", Labeled: true, Sender: "maintainer"}
	remove, err := h.emu.Inject(emulator.Fault{Method: "POST", Path: "/repos/{owner}/{repo}/check-runs", Count: 1, Status: http.StatusBadGateway})
	require.NoError(t, err)
	defer remove.Remove()

	res, err := work(h, h.issueLabel(), args)
	require.Error(t, err)
	require.Equal(t, river.EventKindJobFailed, res.EventKind, "retried, not cancelled")
	require.Empty(t, h.checkRuns(""))

	res, err = work(h, h.issueLabel(), args)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCancelled, res.EventKind)
	checks := h.checkRuns("")
	require.Len(t, checks, 1)
	require.Equal(t, "specloop/config", checks[0].GetName())
	require.Equal(t, string(state.Failure), checks[0].GetConclusion())
}
