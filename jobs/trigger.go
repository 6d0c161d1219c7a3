// The trigger URL's jobs and `/loop token`.

package jobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/specloop/specloop/store"
)

// TicketTTL is how long the one-time link of `/loop token` works.
const TicketTTL = 15 * time.Minute

// TriggerArgs is a POST to the trigger URL: the next cycle of the run of
// issue or PR Number, or a drain of the repo when Number is 0.
type TriggerArgs struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installation_id"`
	Number         int    `json:"number,omitempty"`
}

func (TriggerArgs) Kind() string { return "trigger" }

// TriggerWorker queues what the trigger URL asked for.
type TriggerWorker struct {
	river.WorkerDefaults[TriggerArgs]
	d *deps
}

func (w *TriggerWorker) Work(ctx context.Context, job *river.Job[TriggerArgs]) error {
	a, d := job.Args, w.d
	if a.Number == 0 {
		client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
		if err != nil {
			return fmt.Errorf("queue a drain: %w", err)
		}
		_, err = client.Insert(ctx, DrainArgs{Repo: a.Repo, InstallationID: a.InstallationID, Due: time.Now().Truncate(time.Minute)}, drainInsertOpts())
		return err
	}
	rc, err := d.openRepoForJob(ctx, a.Repo, a.InstallationID)
	if err != nil {
		return err
	}
	run, err := store.FindRun(ctx, d.Pool, a.Repo, a.Number)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if n, err := cycleCount(ctx, d, run.ID); err != nil {
		return err
	} else if n >= rc.Config.Limits.CyclesPerPR {
		d.Logger.Info("trigger: cycle limit reached", "repo", a.Repo, "run", run.ID)
		return nil
	}
	_, err = d.queueCycle(ctx, run, "trigger", "")
	return err
}

// token gives an admin a one-time link to a new trigger token. The link is
// posted in the reply, where everyone who reads the PR sees it; it shows
// the token to whoever opens it first, once, within TicketTTL, and the
// token replaces the old one only then. An admin whose link says "used"
// knows someone else saw the token and runs `/loop token` again.
func (w *CommandWorker) token(ctx context.Context, rc *repoContext, a CommandArgs, _ *store.Run) (string, error) {
	perm, _, err := rc.GH.Repositories.GetPermissionLevel(ctx, rc.Owner, rc.Name, a.Sender)
	if err != nil {
		return "", fmt.Errorf("permission of %s on %s: %w", a.Sender, rc.Full, err)
	}
	if perm.GetPermission() != "admin" {
		return "only a repository admin can make a trigger token.", nil
	}
	var b [32]byte
	rand.Read(b[:])
	ticket := hex.EncodeToString(b[:])
	h := sha256.Sum256([]byte(ticket))
	if err := store.InsertTriggerTicket(ctx, w.d.Pool, h[:], store.TriggerTicket{Repo: rc.Full, InstallationID: rc.InstallationID, CreatedBy: a.Sender}, TicketTTL); err != nil {
		return "", err
	}
	link := fmt.Sprintf("%s/hooks/trigger/%s/reveal?ticket=%s", w.d.PublicURL, rc.Full, ticket)
	return fmt.Sprintf("open [this one-time link](%s) within %s to see the new trigger token: it is shown once, to whoever opens it first, "+
		"and the old token stops working then. If the link says it was used and you did not use it, run `/loop token` again. "+
		"Then `POST %s/hooks/trigger/%s` with `Authorization: Bearer <token>` queues a drain, or with `{\"number\": N}` the next cycle of #N's run.",
		link, TicketTTL, w.d.PublicURL, rc.Full), nil
}
