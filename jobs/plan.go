package jobs

import (
	"context"

	"github.com/specloop/specloop/store"
)

// approvePlan approves a run's plan on an approving review; it reports
// whether the review was that.
func (d *deps) approvePlan(ctx context.Context, rc *repoContext, run *store.Run, a ReviewArgs) (bool, error) {
	return false, nil
}
