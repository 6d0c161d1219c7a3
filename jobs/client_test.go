package jobs

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	require.NotNil(t, c.Logger)
	require.Equal(t, app.DefaultRetention, c.Retention)
	require.Equal(t, DefaultLeaseTTL, c.LeaseTTL)
	require.Equal(t, DefaultRepoCacheTTL, c.RepoCacheTTL)
	require.Equal(t, MirrorPruneEvery, c.PruneEvery)
	require.Equal(t, SandboxReapEvery, c.PodReapEvery)
	require.Contains(t, c.WorkerID, fmt.Sprintf("/%d/", os.Getpid()))
	require.NotEqual(t, c.WorkerID, Config{}.WithDefaults().WorkerID, "two processes on one host tell their leases apart")

	set := Config{WorkerID: "w", Retention: time.Hour, LeaseTTL: time.Second, RepoCacheTTL: time.Minute, Logger: discard(), PruneEvery: time.Minute, PodReapEvery: time.Hour}
	require.Equal(t, set, set.WithDefaults(), "settings are kept")
}

// signedLinks stands in for app.Links.
type signedLinks struct{}

func (signedLinks) RunURL(id int64) string {
	return fmt.Sprintf("https://specloop.test/runs/%d?token=signed", id)
}

func TestRunURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "https://specloop.test/runs/4", newDeps(Config{PublicURL: testPublicURL}).runURL(4))
	require.Equal(t, "https://specloop.test/runs/4?token=signed", newDeps(Config{PublicURL: testPublicURL, Links: signedLinks{}}).runURL(4))
}

// TestClientRunsTheWorkers: the client NewClient builds runs every worker
// the product needs: a labelled issue's job queues a cycle, which runs on
// the cycles queue and opens the PR, with signed run links.
func TestClientRunsTheWorkers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{".github/specloop.yml": passingConfig}, func(c *Config) {
		c.Workers = 1
		c.Links = signedLinks{}
	})
	client, err := NewClient(h.d.Config)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		require.NoError(t, client.Stop(sctx))
	})

	issue := h.createIssue("Widgets", widgetsSpec)
	_, err = client.Insert(ctx, IssueLabelArgs{Repo: testFull, InstallationID: h.inst, Issue: issue, Label: "specloop", Labeled: true, Sender: "maintainer"}, nil)
	require.NoError(t, err)

	var run *store.Run
	require.Eventually(t, func() bool {
		run, err = store.FindRun(h.ctx, h.pool, testFull, issue)
		if err != nil {
			return false
		}
		cycles := h.cycles(run.ID)
		return len(cycles) == 1 && cycles[0].State == state.CycleDone
	}, 2*time.Minute, 20*time.Millisecond)
	c := h.cycles(run.ID)[0]
	require.Equal(t, state.Success, c.Conclusion, c.Summary)
	prs := h.emu.PullRequests(testOwner, testRepo)
	require.Len(t, prs, 1)
	require.Contains(t, prs[0].GetBody(), fmt.Sprintf("[Run page](https://specloop.test/runs/%d?token=signed)", run.ID))
	comments := h.botComments(issue)
	require.Len(t, comments, 1)
	require.Contains(t, comments[0], fmt.Sprintf("(https://specloop.test/runs/%d?token=signed)", run.ID))

	var queue string
	require.NoError(t, h.pool.QueryRow(h.ctx, `SELECT queue FROM river_job WHERE kind = 'cycle'`).Scan(&queue))
	require.Equal(t, QueueCycles, queue)
}

// TestClientInsertOnly: with no workers (the web process) the client only
// inserts; nothing works the jobs.
func TestClientInsertOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	client, err := NewClient(h.d.Config)
	require.NoError(t, err)
	res, err := client.Insert(h.ctx, RetentionArgs{}, nil)
	require.NoError(t, err)
	require.Equal(t, rivertype.JobStateAvailable, res.Job.State)
	require.Equal(t, river.QueueDefault, res.Job.Queue)
	require.ErrorContains(t, client.Start(h.ctx), "must be configured for a client to start working")
}
