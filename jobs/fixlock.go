package jobs

import (
	"context"

	"github.com/specloop/specloop/store"
)

// runFixes is a run's cycles, oldest first, and the fix request of each
// (by cycle id; the zero Fix for a cycle that is no fix): what a fix
// trigger counts before it queues, and what a fix cycle reads back.
func runFixes(ctx context.Context, db store.DB, runID int64) ([]*store.Cycle, map[int64]store.Fix, error) {
	cycles, err := store.ListCycles(ctx, db, runID)
	if err != nil {
		return nil, nil, err
	}
	fixes, err := store.RunFixes(ctx, db, runID)
	if err != nil {
		return nil, nil, err
	}
	return cycles, fixes, nil
}

// lockFixes takes the run's fix lock and reads its cycles and fixes under
// it: a CI suite and a review (or two of either) arriving together then
// count the same cycles one after the other, so they queue one fix, not
// two. release ends the lock; call it once the fix is queued or not.
func (d *deps) lockFixes(ctx context.Context, runID int64) (release func(), cycles []*store.Cycle, fixes map[int64]store.Fix, err error) {
	release, err = store.LockRunFixes(ctx, d.Pool, runID)
	if err != nil {
		return nil, nil, nil, err
	}
	if cycles, fixes, err = runFixes(ctx, d.Pool, runID); err != nil {
		release()
		return nil, nil, nil, err
	}
	return release, cycles, fixes, nil
}
