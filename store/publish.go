package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Published is what a cycle recorded before pushing its commit: the sha and
// the result it publishes, as the caller encoded it.
type Published struct {
	SHA    string
	Result []byte
}

// RecordPublished records, under the cycle's fence, the commit a cycle is
// about to push and the result it publishes, so a taker can finish the
// publish if the worker dies past the push. A later attempt overwrites it.
func RecordPublished(ctx context.Context, db DB, id, fence int64, sha string, result []byte) error {
	tag, err := db.Exec(ctx, `UPDATE cycles SET published_sha = $3, published_result = $4
		WHERE id = $1 AND fence = $2 AND state = 'running'`, id, fence, sha, result)
	if err != nil {
		return fmt.Errorf("record the publish of cycle %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrFenced
	}
	return nil
}

// GetPublished is the publish a cycle recorded; nil when it recorded none.
func GetPublished(ctx context.Context, db DB, id int64) (*Published, error) {
	var p Published
	err := db.QueryRow(ctx, `SELECT published_sha, published_result FROM cycles WHERE id = $1`, id).Scan(&p.SHA, &p.Result)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("publish of cycle %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("publish of cycle %d: %w", id, err)
	}
	if p.SHA == "" {
		return nil, nil
	}
	return &p, nil
}
