package jobs

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/spec"
)

// SpecPushWorker posts the specloop/spec check run for a push to the
// default branch that touched specs and, with `on_push: cycle`, queues a
// cycle for each changed spec's next obligation.
type SpecPushWorker struct {
	river.WorkerDefaults[SpecPushArgs]
	d *deps
}

func (w *SpecPushWorker) Work(ctx context.Context, job *river.Job[SpecPushArgs]) error {
	a := job.Args
	rc, err := w.d.openRepoForJob(ctx, a.Repo, a.InstallationID)
	if err != nil {
		return err
	}
	if rc.Config.OnPush == "none" {
		return nil
	}
	var specs []*spec.Spec
	var problems []*spec.Error
	for _, f := range a.Files {
		if !rc.Config.IsSpec(f) {
			continue
		}
		src, err := rc.file(ctx, f, a.After)
		if err != nil {
			return err
		}
		if src == nil || !rc.Config.IsSpecFile(f, src) {
			continue // removed in this push, or prose beside the specs
		}
		errs := spec.Lint(f, src)
		problems = append(problems, errs...) // warnings are shown, not refused
		if spec.HasErrors(errs) {
			continue
		}
		s, err := spec.Parse(f, src)
		if err != nil {
			return fmt.Errorf("parse %s: %w", f, err)
		}
		s.IncludeOptional = rc.Config.IncludeOptional
		specs = append(specs, s)
	}
	if len(specs) == 0 && len(problems) == 0 {
		return nil
	}
	check := evidence.SpecCheck(a.After, specs, problems)
	check.ExternalID = evidence.SpecCheckID(a.Files)
	if _, err := rc.checks().Create(ctx, check); err != nil {
		return err
	}
	// A "Re-run" of the check posts it again and queues nothing.
	if rc.Config.OnPush != "cycle" || a.Rerun {
		return nil
	}
	for _, s := range specs {
		if _, ok := s.Next(); !ok {
			continue
		}
		run, room, err := w.d.specRun(ctx, rc, s.Path)
		if err != nil {
			return err
		}
		if run == nil || room == 0 {
			continue
		}
		if n, err := activeCycles(ctx, w.d.Pool, run.ID); err != nil {
			return err
		} else if n > 0 {
			continue
		}
		if _, err := w.d.queueCycle(ctx, run, "push", ""); err != nil {
			return err
		}
	}
	return nil
}
