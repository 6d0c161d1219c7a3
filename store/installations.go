package store

import (
	"context"
	"fmt"
)

// Installation is one installation of the app on an account.
type Installation struct {
	ID           int64
	AccountLogin string
	AccountType  string
	Suspended    bool
	Deleted      bool
}

// Repo is a repository an installation grants.
type Repo struct {
	ID             int64
	InstallationID int64
	FullName       string
	Private        bool
	DefaultBranch  string
	Removed        bool
}

// UpsertInstallation records an installation or updates its state.
func UpsertInstallation(ctx context.Context, db DB, in *Installation) error {
	_, err := db.Exec(ctx, `
		INSERT INTO installations (id, account_login, account_type, suspended, deleted)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET
			account_login = COALESCE(NULLIF(EXCLUDED.account_login, ''), installations.account_login),
			account_type = COALESCE(NULLIF(EXCLUDED.account_type, ''), installations.account_type),
			suspended = EXCLUDED.suspended, deleted = EXCLUDED.deleted, updated_at = now()`,
		in.ID, in.AccountLogin, in.AccountType, in.Suspended, in.Deleted)
	if err != nil {
		return fmt.Errorf("upsert installation %d: %w", in.ID, err)
	}
	return nil
}

// EnsureInstallation records an installation if it is new and leaves a
// known one as it is (events about its repositories say nothing of its state).
func EnsureInstallation(ctx context.Context, db DB, in *Installation) error {
	_, err := db.Exec(ctx, `
		INSERT INTO installations (id, account_login, account_type) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, in.ID, in.AccountLogin, in.AccountType)
	if err != nil {
		return fmt.Errorf("ensure installation %d: %w", in.ID, err)
	}
	return nil
}

// UpsertRepo records a repository granted to an installation, or marks it
// removed.
func UpsertRepo(ctx context.Context, db DB, r *Repo) error {
	_, err := db.Exec(ctx, `
		INSERT INTO repos (id, installation_id, full_name, private, default_branch, removed)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET
			installation_id = EXCLUDED.installation_id, full_name = EXCLUDED.full_name,
			private = EXCLUDED.private,
			default_branch = COALESCE(NULLIF(EXCLUDED.default_branch, ''), repos.default_branch),
			removed = EXCLUDED.removed, updated_at = now()`,
		r.ID, r.InstallationID, r.FullName, r.Private, r.DefaultBranch, r.Removed)
	if err != nil {
		return fmt.Errorf("upsert repo %s: %w", r.FullName, err)
	}
	return nil
}

// GetInstallation reads an installation.
func GetInstallation(ctx context.Context, db DB, id int64) (*Installation, error) {
	in := &Installation{}
	err := db.QueryRow(ctx, `SELECT id, account_login, account_type, suspended, deleted FROM installations WHERE id = $1`, id).
		Scan(&in.ID, &in.AccountLogin, &in.AccountType, &in.Suspended, &in.Deleted)
	if err != nil {
		return nil, fmt.Errorf("get installation %d: %w", id, err)
	}
	return in, nil
}

// ListRepos lists the repositories of an installation, removed ones too.
func ListRepos(ctx context.Context, db DB, installationID int64) ([]Repo, error) {
	repos, err := queryRepos(ctx, db, `SELECT `+repoColumns+` FROM repos r WHERE installation_id = $1 ORDER BY full_name`, installationID)
	if err != nil {
		return nil, fmt.Errorf("list repos of installation %d: %w", installationID, err)
	}
	return repos, nil
}

// ActiveRepos lists every repository not removed, of installations that are
// neither suspended nor deleted (the schedule drains these).
func ActiveRepos(ctx context.Context, db DB) ([]Repo, error) {
	repos, err := queryRepos(ctx, db, `SELECT `+repoColumns+` FROM repos r JOIN installations i ON i.id = r.installation_id
		WHERE NOT r.removed AND NOT i.suspended AND NOT i.deleted ORDER BY r.full_name`)
	if err != nil {
		return nil, fmt.Errorf("list active repos: %w", err)
	}
	return repos, nil
}

const repoColumns = `r.id, r.installation_id, r.full_name, r.private, r.default_branch, r.removed`

func queryRepos(ctx context.Context, db DB, sql string, args ...any) ([]Repo, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Repo
	for rows.Next() {
		var r Repo
		if err := rows.Scan(&r.ID, &r.InstallationID, &r.FullName, &r.Private, &r.DefaultBranch, &r.Removed); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
