package jobs

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// GitHub makes API clients for the app; app.Clients implements it, and
// tests point it at the emulator.
type GitHub interface {
	App() *github.Client
	Installation(installationID int64) *github.Client
	Token(ctx context.Context, installationID int64) (string, error)
}

// Deps is what the workers share.
type Deps struct {
	// WorkerID tells this process's workers apart in cycle leases; empty
	// means one is made up.
	WorkerID  string
	Pool      *pgxpool.Pool
	GitHub    GitHub
	Logger    *slog.Logger
	PublicURL string // base of links in comments and check runs
	AppSlug   string // "<slug>[bot]" is the app's own user
	Engine    *Engine
	Links     Linker // signs run-page links; nil leaves links unsigned
	Retention time.Duration
	// LeaseTTL is how long a cycle's lease lasts without a heartbeat; a dead
	// worker's cycle is taken over this soon after it stops beating.
	LeaseTTL time.Duration
}

// Linker signs a run page's URL so only someone given the link can read it.
type Linker interface {
	RunURL(runID int64) string
}

// ClientOptions sizes the worker pool.
type ClientOptions struct {
	Workers int // concurrent cycles in this process; 0 makes an insert-only client
}

// NewClient builds the River client: insert-only when opts.Workers is 0
// (the `web` process), else with every worker and the periodic jobs.
func NewClient(d *Deps, opts ClientOptions) (*river.Client[pgx.Tx], error) {
	if d.LeaseTTL == 0 {
		d.LeaseTTL = 30 * time.Second
	}
	if d.WorkerID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		d.WorkerID = fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
	}
	cfg := &river.Config{Logger: d.Logger}
	if opts.Workers > 0 {
		workers := river.NewWorkers()
		river.AddWorker(workers, &IssueLabelWorker{d: d})
		river.AddWorker(workers, &CommandWorker{d: d})
		river.AddWorker(workers, &CheckRunWorker{d: d})
		river.AddWorker(workers, &SpecPushWorker{d: d})
		river.AddWorker(workers, &CycleWorker{d: d})
		river.AddWorker(workers, &DrainWorker{d: d})
		river.AddWorker(workers, &ScheduleWorker{d: d})
		river.AddWorker(workers, &RetentionWorker{d: d})
		river.AddWorker(workers, &ReaperWorker{d: d})
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 8},
			QueueCycles:        {MaxWorkers: opts.Workers},
		}
		cfg.FetchPollInterval = 200 * time.Millisecond
		cfg.FetchCooldown = 50 * time.Millisecond
		cfg.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(time.Minute), func() (river.JobArgs, *river.InsertOpts) {
				return ScheduleArgs{}, nil
			}, &river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
				return RetentionArgs{}, nil
			}, &river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(d.LeaseTTL/2), func() (river.JobArgs, *river.InsertOpts) {
				return ReaperArgs{}, nil
			}, &river.PeriodicJobOpts{RunOnStart: true}),
		}
	}
	c, err := river.NewClient(riverpgxv5.New(d.Pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("job client: %w", err)
	}
	return c, nil
}

// QueueCycles is the queue cycles run on, sized by WORKERS; everything else
// (replies, check runs, schedules) runs on the default queue so a long cycle
// never delays a 👀.
const QueueCycles = "cycles"

// splitRepo splits "owner/name".
func splitRepo(full string) (string, string) {
	owner, name, _ := strings.Cut(full, "/")
	return owner, name
}

// installation resolves the installation of a repo when a delivery did not
// carry one (repo webhooks do not).
func (d *Deps) installation(ctx context.Context, repo string, id int64) (int64, error) {
	if id != 0 {
		return id, nil
	}
	owner, name := splitRepo(repo)
	inst, _, err := d.GitHub.App().Apps.FindRepositoryInstallation(ctx, owner, name)
	if err != nil {
		return 0, fmt.Errorf("find installation of %s: %w", repo, err)
	}
	return inst.GetID(), nil
}

func (d *Deps) runURL(runID int64) string {
	if d.Links != nil {
		return d.Links.RunURL(runID)
	}
	return fmt.Sprintf("%s/runs/%d", d.PublicURL, runID)
}
