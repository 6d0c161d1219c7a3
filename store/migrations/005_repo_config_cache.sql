-- A repo's config as read from its default branch, so jobs read GitHub once
-- per default-branch commit: a push to the default branch marks it stale, an
-- installation event drops its installation's rows.
CREATE TABLE repo_configs (
    repo_full_name  text PRIMARY KEY,
    installation_id bigint NOT NULL,
    default_branch  text NOT NULL,
    clone_url       text NOT NULL,
    head_sha        text NOT NULL,       -- the default branch's head the config was read at
    config          bytea,               -- .github/specloop.yml at head_sha; NULL when absent
    stale           boolean NOT NULL DEFAULT false,
    read_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX repo_configs_installation_idx ON repo_configs (installation_id);
