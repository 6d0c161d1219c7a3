package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RepoConfig is a repository as last read from GitHub: its installation,
// default branch and that branch's config file.
type RepoConfig struct {
	Repo           string // owner/name
	InstallationID int64
	DefaultBranch  string
	CloneURL       string
	HeadSHA        string // the default branch's head when Config was read
	Config         []byte // nil: the repo has no config file
	// Stale is set by a push to the default branch since the read.
	Stale  bool
	ReadAt time.Time
}

// GetRepoConfig returns the cached read of a repo, or ErrNotFound.
func GetRepoConfig(ctx context.Context, db DB, repo string) (*RepoConfig, error) {
	c := &RepoConfig{}
	err := db.QueryRow(ctx, `SELECT repo_full_name, installation_id, default_branch, clone_url, head_sha, config, stale, read_at
		FROM repo_configs WHERE repo_full_name = $1`, repo).
		Scan(&c.Repo, &c.InstallationID, &c.DefaultBranch, &c.CloneURL, &c.HeadSHA, &c.Config, &c.Stale, &c.ReadAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get config of %s: %w", repo, err)
	}
	return c, nil
}

// SaveRepoConfig records a fresh read of a repo; it is no longer stale.
func SaveRepoConfig(ctx context.Context, db DB, c *RepoConfig) error {
	_, err := db.Exec(ctx, `INSERT INTO repo_configs (repo_full_name, installation_id, default_branch, clone_url, head_sha, config, stale, read_at)
		VALUES ($1, $2, $3, $4, $5, $6, false, now())
		ON CONFLICT (repo_full_name) DO UPDATE SET installation_id = EXCLUDED.installation_id,
			default_branch = EXCLUDED.default_branch, clone_url = EXCLUDED.clone_url, head_sha = EXCLUDED.head_sha,
			config = EXCLUDED.config, stale = false, read_at = now()`,
		c.Repo, c.InstallationID, c.DefaultBranch, c.CloneURL, c.HeadSHA, c.Config)
	if err != nil {
		return fmt.Errorf("save config of %s: %w", c.Repo, err)
	}
	return nil
}

// InvalidateRepoConfig marks a repo's cached read stale: its default
// branch moved.
func InvalidateRepoConfig(ctx context.Context, db DB, repo string) error {
	if _, err := db.Exec(ctx, `UPDATE repo_configs SET stale = true WHERE repo_full_name = $1`, repo); err != nil {
		return fmt.Errorf("invalidate config of %s: %w", repo, err)
	}
	return nil
}

// ForgetInstallationConfigs drops the cached reads of an installation's
// repos: it was changed, suspended or removed, or its repos were.
func ForgetInstallationConfigs(ctx context.Context, db DB, installationID int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM repo_configs WHERE installation_id = $1`, installationID); err != nil {
		return fmt.Errorf("forget configs of installation %d: %w", installationID, err)
	}
	return nil
}
