package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
)

// ConfigRecheckWorker is "Re-run" on a specloop/config check: the intake
// marked the cached config stale, so opening the repo reads it again. A
// config that still fails gets a fresh failing check (posted by the read);
// one that parses now gets a passing check on the same commit, which
// replaces the failing one there.
type ConfigRecheckWorker struct {
	river.WorkerDefaults[ConfigRecheckArgs]
	d *deps
}

func (w *ConfigRecheckWorker) Work(ctx context.Context, job *river.Job[ConfigRecheckArgs]) error {
	a := job.Args
	rc, err := w.d.repos.open(ctx, a.Repo, a.InstallationID)
	if errors.Is(err, errBadConfig) {
		return nil // the read posted the failing check again
	}
	if err != nil {
		return err
	}
	_, err = rc.checks().Create(ctx, evidence.Run{
		Name: "specloop/config", HeadSHA: rc.HeadSHA, Status: evidence.Completed, Conclusion: state.Success,
		Title:   "The config parses",
		Summary: fmt.Sprintf("`%s` at `%.12s` parses; specloop runs for this repository again.", repoconfig.Path, rc.HeadSHA),
	})
	if err != nil {
		return fmt.Errorf("post the config check of %s: %w", a.Repo, err)
	}
	return nil
}
