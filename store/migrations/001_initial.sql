-- Installations and the repositories they grant.
CREATE TABLE installations (
    id            bigint PRIMARY KEY,
    account_login text NOT NULL DEFAULT '',
    account_type  text NOT NULL DEFAULT '',
    suspended     boolean NOT NULL DEFAULT false,
    deleted       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE repos (
    id              bigint PRIMARY KEY,
    installation_id bigint NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
    full_name       text NOT NULL,
    private         boolean NOT NULL DEFAULT false,
    default_branch  text NOT NULL DEFAULT '',
    removed         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX repos_full_name_idx ON repos (full_name);

-- One row per webhook request that was answered 2xx.
CREATE TABLE deliveries (
    guid            text PRIMARY KEY,
    event           text NOT NULL,
    action          text NOT NULL DEFAULT '',
    repo_full_name  text NOT NULL DEFAULT '',
    installation_id bigint,
    received_at     timestamptz NOT NULL DEFAULT now(),
    jobs            int NOT NULL DEFAULT 0,
    body            bytea NOT NULL
);
CREATE INDEX deliveries_received_at_idx ON deliveries (received_at);

-- A run is the chain of cycles on one branch and its PR.
CREATE TABLE runs (
    id              bigserial PRIMARY KEY,
    repo_full_name  text NOT NULL,
    installation_id bigint NOT NULL,
    branch          text NOT NULL,
    kind            text NOT NULL,          -- issue | spec
    issue_number    int,
    spec_path       text NOT NULL DEFAULT '',
    pr_number       int,
    state           text NOT NULL DEFAULT 'active', -- active | stopped
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repo_full_name, branch)
);

-- One bounded pass on one obligation. lease_* and fence keep a cycle from
-- running twice at once: a worker owns it while its lease is fresh, and
-- every write it makes checks the fence it claimed with.
CREATE TABLE cycles (
    id               bigserial PRIMARY KEY,
    run_id           bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    trigger          text NOT NULL,
    state            text NOT NULL DEFAULT 'queued', -- queued | running | done
    conclusion       text NOT NULL DEFAULT '',
    summary          text NOT NULL DEFAULT '',
    obligation_id    text NOT NULL DEFAULT '',
    obligation_text  text NOT NULL DEFAULT '',
    head_sha         text NOT NULL DEFAULT '',
    stop_requested   boolean NOT NULL DEFAULT false,
    lease_owner      text NOT NULL DEFAULT '',
    lease_expires_at timestamptz,
    fence            bigint NOT NULL DEFAULT 0,
    attempts         int NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX cycles_run_idx ON cycles (run_id, id);
CREATE INDEX cycles_active_idx ON cycles (state) WHERE state <> 'done';

-- Append-only step log of a run; seq is per run, for the run page and SSE.
CREATE TABLE events (
    run_id     bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    cycle_id   bigint,
    kind       text NOT NULL,
    step       text NOT NULL DEFAULT '',
    outcome    text NOT NULL DEFAULT '',
    message    text NOT NULL DEFAULT '',
    started_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX events_created_at_idx ON events (created_at);

CREATE TABLE artifacts (
    id         bigserial PRIMARY KEY,
    cycle_id   bigint NOT NULL REFERENCES cycles (id) ON DELETE CASCADE,
    name       text NOT NULL,
    content    bytea NOT NULL,
    truncated  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX artifacts_cycle_idx ON artifacts (cycle_id);
CREATE INDEX artifacts_created_at_idx ON artifacts (created_at);

-- Check runs specloop started, so a crashed cycle's checks can be completed.
CREATE TABLE check_runs (
    id          bigint PRIMARY KEY,       -- GitHub's id
    cycle_id    bigint REFERENCES cycles (id) ON DELETE SET NULL,
    repo_full_name text NOT NULL,
    name        text NOT NULL,
    head_sha    text NOT NULL,
    completed   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX check_runs_open_idx ON check_runs (cycle_id) WHERE NOT completed;
