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
		run, err := store.UpsertRun(ctx, d.Pool, &store.Run{
			Repo: rc.Full, InstallationID: rc.InstallationID, Branch: rc.Config.SpecBranch(s.Path), Kind: state.RunSpec, SpecPath: s.Path,
		})
		if err != nil {
			return err
		}
		active, err := activeCycles(ctx, d.Pool, run.ID)
		if err != nil {
			return err
		}
		for i := active; i < n; i++ {
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
