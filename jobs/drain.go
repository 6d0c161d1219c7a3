package jobs

import (
	"context"
	"errors"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// DrainWorker works down a repo's open obligations on its schedule: up to
// drain.max_cycles cycles, spread over the specs in path order, one run
// (branch and PR) per spec.
type DrainWorker struct {
	river.WorkerDefaults[DrainArgs]
	d *deps
}

func (w *DrainWorker) Work(ctx context.Context, job *river.Job[DrainArgs]) error {
	d := w.d
	rc, err := d.openRepoForJob(ctx, job.Args.Repo, job.Args.InstallationID)
	if err != nil {
		return err
	}
	if d.Mirrors == nil {
		return errors.New("drain needs a worker with a mirror cache")
	}
	specs, err := w.openSpecs(ctx, rc)
	if err != nil {
		return err
	}
	budget := rc.Config.Drain.MaxCycles
	// Round-robin: each pass gives every spec with work left one cycle.
	planned := map[string]int{}
	for budget > 0 {
		progressed := false
		for _, s := range specs {
			if budget == 0 {
				break
			}
			if planned[s.Path] >= openCount(s) {
				continue
			}
			planned[s.Path]++
			budget--
			progressed = true
		}
		if !progressed {
			break
		}
	}
	for _, s := range specs {
		n := planned[s.Path]
		if n == 0 {
			continue
		}
		run, room, err := d.specRun(ctx, rc, s.Path)
		if err != nil {
			return err
		}
		if run == nil {
			continue
		}
		active, err := activeCycles(ctx, d.Pool, run.ID)
		if err != nil {
			return err
		}
		for i := active; i < n && i-active < room; i++ {
			if _, err := d.queueCycle(ctx, run, "schedule", ""); err != nil {
				return err
			}
		}
	}
	d.Logger.Info("drain", "repo", rc.Full, "specs", len(specs), "planned", planned)
	return nil
}

func openCount(s *spec.Spec) int {
	n := 0
	for _, st := range s.Status() {
		if st.State != spec.StateDone {
			n++
		}
	}
	return n
}

// openSpecs lists the default branch's valid specs that have work left.
func (w *DrainWorker) openSpecs(ctx context.Context, rc *repoContext) ([]*spec.Spec, error) {
	token, err := w.d.GitHub.Token(ctx, rc.InstallationID)
	if err != nil {
		return nil, err
	}
	url := rc.CloneURL
	if _, err := w.d.Mirrors.Fetch(ctx, url, token); err != nil {
		return nil, err
	}
	wd, err := w.d.Mirrors.Checkout(ctx, url, rc.HeadSHA)
	if err != nil {
		return nil, err
	}
	defer wd.Close()
	paths, err := rc.Config.SpecFiles(wd.Path)
	if err != nil {
		return nil, err
	}
	var specs []*spec.Spec
	for _, p := range paths {
		src, err := wd.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s, err := spec.Parse(p, src)
		if err != nil {
			w.d.Logger.Warn("drain: skip invalid spec", "repo", rc.Full, "spec", p, "err", err)
			continue
		}
		s.IncludeOptional = rc.Config.IncludeOptional
		if _, ok := s.Next(); ok {
			specs = append(specs, s)
		}
	}
	return specs, nil
}

// specRun is the run of a spec for a cycle nobody asked for by hand (a
// drain, a push), with room for how many more cycles it may take: none
// when a maintainer stopped it (`/loop next` restarts it, not a schedule),
// and never past limits.cycles_per_pr. A stopped run is returned as nil.
func (d *deps) specRun(ctx context.Context, rc *repoContext, specPath string) (*store.Run, int, error) {
	branch := rc.Config.SpecBranch(specPath)
	existing, err := store.FindRunByBranch(ctx, d.Pool, rc.Full, branch)
	switch {
	case err == nil && existing.State == state.RunStopped:
		d.Logger.Info("run stopped by a maintainer: no automatic cycle", "repo", rc.Full, "branch", branch)
		return nil, 0, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, 0, err
	}
	run, err := store.UpsertRun(ctx, d.Pool, &store.Run{
		Repo: rc.Full, InstallationID: rc.InstallationID, Branch: branch, Kind: state.RunSpec, SpecPath: specPath,
	})
	if err != nil {
		return nil, 0, err
	}
	n, err := cycleCount(ctx, d, run.ID)
	if err != nil {
		return nil, 0, err
	}
	return run, max(rc.Config.Limits.CyclesPerPR-n, 0), nil
}
