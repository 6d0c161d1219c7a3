package jobs

import (
	"context"
	"crypto/rand"
	"fmt"
	"github.com/specloop/specloop/attest"
	"log/slog"
	"os"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/workspace"
)

// GitHub makes API clients for the app; app.Clients implements it, and
// tests point it at the emulator.
type GitHub interface {
	App() *github.Client
	Installation(installationID int64) *github.Client
	Token(ctx context.Context, installationID int64) (string, error)
}

// Linker signs a run page's URL so only someone given the link can read it.
type Linker interface {
	RunURL(runID int64) string
}

// Config is what the workers share. NewClient takes a copy with defaults
// filled in (WithDefaults) and never changes it afterwards.
type Config struct {
	// WorkerID tells this process's workers apart in cycle leases; empty
	// means one is made up from the host and pid.
	WorkerID  string
	Pool      *pgxpool.Pool
	GitHub    GitHub
	Logger    *slog.Logger
	PublicURL string // base of links in comments and check runs
	AppSlug   string // "<slug>[bot]" is the app's own user
	// Engine runs cycles and Mirrors holds the repos' mirrors; both nil in
	// a process that runs no cycles (`specloop web`).
	Engine  *cycle.Engine
	Mirrors *workspace.Cache
	// Sandboxes deletes sandboxes that dead workers left (kubernetes
	// pods); nil for drivers whose sandboxes die with the worker.
	Sandboxes sandbox.Reaper
	Links     Linker // signs run-page links; nil leaves links unsigned
	// Retention is how long events and artifacts are kept
	// (app.DefaultRetention).
	Retention time.Duration
	// LeaseTTL is how long a cycle's lease lasts without a heartbeat (30
	// s); a dead worker's cycle is taken over this soon after it stops.
	LeaseTTL time.Duration
	// RepoCacheTTL bounds how long a repo's cached config is trusted when
	// no push said it changed (6 h): a backstop for a lost webhook.
	RepoCacheTTL time.Duration
	// Stops tells running cycles at once that a stop was requested; the
	// caller runs it for the process's lifetime. nil leaves the heartbeat
	// (every LeaseTTL/3) to notice.
	Stops *store.StopListener
	// Workers is how many cycles this process runs at once; 0 makes an
	// insert-only client (the `web` process).
	Workers int
	// LiveEvery is the shortest time between two live log chunks of a step
	// (DefaultLiveEvery); ProgressEvery between two edits of a run's
	// progress comment (DefaultProgressEvery).
	LiveEvery     time.Duration
	ProgressEvery time.Duration
	// EvidenceKeys sign the statements of what ran (nil or no current
	// key: they are pushed unsigned and the check runs say so).
	EvidenceKeys *attest.Keys
	// PruneEvery is how often the Housekeeper prunes this process's mirror
	// cache (MirrorPruneEvery).
	PruneEvery time.Duration
	// PodReapEvery is how often the Housekeeper asks Sandboxes to delete
	// the sandboxes of cycles no live worker holds (SandboxReapEvery;
	// KUBE_REAP_EVERY). Slower than the cycle reap: it lists pods from the
	// apiserver, and a dead worker's pods are bounded by their own
	// activeDeadlineSeconds meanwhile.
	PodReapEvery time.Duration
	// SandboxImages is the operator's allow-list of repos' sandbox.image
	// (KUBE_IMAGES); empty refuses them in the config check.
	SandboxImages []string
}

// Defaults of Config.
const (
	DefaultLeaseTTL     = app.DefaultLeaseTTL
	DefaultRepoCacheTTL = 6 * time.Hour
)

// WithDefaults returns a copy of c with every zero setting at its default.
func (c Config) WithDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Retention <= 0 {
		c.Retention = app.DefaultRetention
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.PodReapEvery <= 0 {
		c.PodReapEvery = SandboxReapEvery
	}
	if c.PruneEvery <= 0 {
		c.PruneEvery = MirrorPruneEvery
	}
	if c.RepoCacheTTL <= 0 {
		c.RepoCacheTTL = DefaultRepoCacheTTL
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		c.WorkerID = fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
	}
	return c
}

// deps is the workers' shared, read-only view of the Config.
type deps struct {
	Config
	repos *repoCache
	// afterPush, when set (tests only), runs right after a cycle's push
	// succeeds: where a worker that dies leaves a pushed commit with no
	// PR, check runs or tick (resume.go).
	afterPush func(ctx context.Context, sha string)
}

// QueueCycles is the queue cycles run on, sized by WORKERS; everything else
// (replies, check runs, schedules) runs on the default queue so a long cycle
// never delays a 👀.
const QueueCycles = "cycles"

// NewClient builds the River client: insert-only when cfg.Workers is 0
// (the `web` process), else with every worker and the periodic jobs.
func NewClient(cfg Config) (*river.Client[pgx.Tx], error) {
	d := newDeps(cfg)
	rc := &river.Config{Logger: d.Logger}
	if d.Workers > 0 {
		// Its jobs are known by this id in attempted_by: the Housekeeper of
		// any worker rescues them once this process is gone.
		rc.ID = RiverClientID(d.WorkerID)
		rc.Workers = d.workers()
		rc.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 8},
			QueueCycles:        {MaxWorkers: d.Workers},
		}
		rc.FetchPollInterval = 200 * time.Millisecond
		rc.FetchCooldown = 50 * time.Millisecond
		rc.PeriodicJobs = d.periodicJobs()
	}
	c, err := river.NewClient(riverpgxv5.New(d.Pool), rc)
	if err != nil {
		return nil, fmt.Errorf("job client: %w", err)
	}
	return c, nil
}

func newDeps(cfg Config) *deps {
	cfg = cfg.WithDefaults()
	return &deps{Config: cfg, repos: &repoCache{pool: cfg.Pool, gh: cfg.GitHub, logger: cfg.Logger, ttl: cfg.RepoCacheTTL, images: cfg.SandboxImages}}
}

// workers registers every worker on d.
func (d *deps) workers() *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &IssueLabelWorker{d: d})
	river.AddWorker(w, &PullClosedWorker{d: d})
	river.AddWorker(w, &CommandWorker{d: d})
	river.AddWorker(w, &CheckRunWorker{d: d})
	river.AddWorker(w, &ConfigRecheckWorker{d: d})
	river.AddWorker(w, &SpecPushWorker{d: d})
	river.AddWorker(w, &CycleWorker{d: d})
	river.AddWorker(w, &DrainWorker{d: d})
	river.AddWorker(w, &ScheduleWorker{d: d})
	river.AddWorker(w, &RetentionWorker{d: d})
	river.AddWorker(w, &ReaperWorker{d: d})
	river.AddWorker(w, &MirrorPruneWorker{d: d})
	river.AddWorker(w, &ReviewWorker{d: d})
	river.AddWorker(w, &CheckSuiteWorker{d: d})
	river.AddWorker(w, &TriggerWorker{d: d})
	river.AddWorker(w, &RedeliverWorker{d: d})
	river.AddWorker(w, &ReconcileWorker{d: d})
	river.AddWorker(w, &CheckSweepWorker{d: d})
	return w
}

func (d *deps) periodicJobs() []*river.PeriodicJob {
	every := func(interval time.Duration, args river.JobArgs) *river.PeriodicJob {
		return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
			return args, nil
		}, &river.PeriodicJobOpts{RunOnStart: true})
	}
	schedule := river.NewPeriodicJob(everyMinute{}, func() (river.JobArgs, *river.InsertOpts) {
		return ScheduleArgs{}, nil
	}, &river.PeriodicJobOpts{RunOnStart: true})
	return []*river.PeriodicJob{
		schedule,
		every(time.Hour, RetentionArgs{}),
		// The reaper and the mirror prune are not here: each worker process
		// runs them itself (Housekeeper).
		every(DeliveriesEvery, RedeliverArgs{}),
		every(DeliveriesEvery, ReconcileArgs{}),
		every(SweepEvery, CheckSweepArgs{}),
	}
}

// everyMinute fires at the start of every minute, so each schedule tick is
// scheduled for the minute it checks.
type everyMinute struct{}

func (everyMinute) Next(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }

func (d *deps) runURL(runID int64) string {
	if d.Links != nil {
		return d.Links.RunURL(runID)
	}
	return fmt.Sprintf("%s/runs/%d", d.PublicURL, runID)
}
