-- Each request an agent made through the model proxy: what the run and the
-- repo's day have spent, for limits.tokens_per_run, usd_per_run and
-- usd_per_day. Kept with the run (pruned with it), indexed for the day's
-- sum per repo.
CREATE TABLE model_calls (
    id             bigserial PRIMARY KEY,
    repo_full_name text NOT NULL,
    run_id         bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    cycle_id       bigint REFERENCES cycles (id) ON DELETE CASCADE,
    path           text NOT NULL,
    status         integer NOT NULL,
    model          text NOT NULL DEFAULT '',
    input_tokens   bigint NOT NULL DEFAULT 0,
    cached_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens  bigint NOT NULL DEFAULT 0,
    cost_usd       double precision NOT NULL DEFAULT 0,
    refused        text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_calls_run_idx ON model_calls (run_id);
CREATE INDEX model_calls_repo_day_idx ON model_calls (repo_full_name, created_at);
