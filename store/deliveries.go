package store

import (
	"context"
	"fmt"
	"time"
)

// Delivery is one webhook request, keyed by its X-GitHub-Delivery GUID.
type Delivery struct {
	GUID           string
	Event          string
	Action         string
	RepoFullName   string
	InstallationID int64 // 0 when the payload names none
	ReceivedAt     time.Time
	Jobs           int
	Body           []byte
}

// GetDelivery reads one delivery by GUID.
func GetDelivery(ctx context.Context, db DB, guid string) (*Delivery, error) {
	d := &Delivery{}
	var inst *int64
	err := db.QueryRow(ctx, `
		SELECT guid, event, action, repo_full_name, installation_id, received_at, jobs, body
		FROM deliveries WHERE guid = $1`, guid).
		Scan(&d.GUID, &d.Event, &d.Action, &d.RepoFullName, &inst, &d.ReceivedAt, &d.Jobs, &d.Body)
	if err != nil {
		return nil, fmt.Errorf("get delivery %s: %w", guid, err)
	}
	if inst != nil {
		d.InstallationID = *inst
	}
	return d, nil
}

// CountDeliveries counts recorded deliveries.
func CountDeliveries(ctx context.Context, db DB) (int, error) {
	var n int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM deliveries").Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}

// InsertDeliveries records many deliveries in one statement (group commit)
// and returns the GUIDs it inserted; repeats, in the batch or already
// recorded, are left out.
func InsertDeliveries(ctx context.Context, db DB, ds []*Delivery) (map[string]bool, error) {
	n := len(ds)
	guids, events, actions, repos := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	insts, jobs, bodies := make([]*int64, n), make([]int32, n), make([][]byte, n)
	for i, d := range ds {
		guids[i], events[i], actions[i], repos[i] = d.GUID, d.Event, d.Action, d.RepoFullName
		if d.InstallationID != 0 {
			insts[i] = &d.InstallationID
		}
		jobs[i], bodies[i] = int32(d.Jobs), d.Body
	}
	rows, err := db.Query(ctx, `
		INSERT INTO deliveries (guid, event, action, repo_full_name, installation_id, jobs, body)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::bytea[])
		ON CONFLICT (guid) DO NOTHING
		RETURNING guid`, guids, events, actions, repos, insts, jobs, bodies)
	if err != nil {
		return nil, fmt.Errorf("insert %d deliveries: %w", n, err)
	}
	defer rows.Close()
	inserted := make(map[string]bool, n)
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		inserted[g] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert %d deliveries: %w", n, err)
	}
	return inserted, nil
}
