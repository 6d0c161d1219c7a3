-- What closes the loop with people (issue 14). A fix cycle carries its
-- request (a maintainer's /loop fix, review threads, failing CI): untrusted
-- text that reaches the agent quoted. A cycle that ended asking a human
-- keeps its question; the answers are kept per obligation, for every later
-- cycle of that obligation.
ALTER TABLE cycles
    ADD COLUMN fix_source text NOT NULL DEFAULT ''
        CONSTRAINT cycles_fix_source_check CHECK (fix_source IN ('', 'command', 'review', 'ci')),
    ADD COLUMN fix_from text NOT NULL DEFAULT '',
    ADD COLUMN fix_text text NOT NULL DEFAULT '',
    ADD COLUMN fix_head text NOT NULL DEFAULT '',
    ADD COLUMN question text NOT NULL DEFAULT '';

CREATE TABLE answers (
    id            bigserial PRIMARY KEY,
    run_id        bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    cycle_id      bigint NOT NULL REFERENCES cycles (id) ON DELETE CASCADE, -- the cycle that asked
    obligation_id text NOT NULL,
    question      text NOT NULL,
    answer        text NOT NULL,
    answered_by   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX answers_run_idx ON answers (run_id, obligation_id, id);
CREATE UNIQUE INDEX answers_cycle_idx ON answers (cycle_id);

-- A repo's trigger URL token (POST /hooks/trigger/{owner}/{repo}), kept
-- only as its SHA-256. `/loop token` makes a one-time ticket (also kept as
-- its SHA-256); opening the ticket's link makes the token, shows it once
-- and replaces the old one, so no plaintext token is ever stored.
CREATE TABLE trigger_tokens (
    repo_full_name  text PRIMARY KEY,
    installation_id bigint NOT NULL,
    token_sha256    bytea NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE trigger_tickets (
    ticket_sha256   bytea PRIMARY KEY,
    repo_full_name  text NOT NULL,
    installation_id bigint NOT NULL,
    created_by      text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);

-- A run that plans first: its planning cycle wrote the task list and the
-- run waits until a maintainer approves it (`/loop approve` or an
-- approving review).
CREATE TABLE plans (
    run_id      bigint PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    cycle_id    bigint REFERENCES cycles (id) ON DELETE SET NULL,
    state       text NOT NULL CONSTRAINT plans_state_check CHECK (state IN ('waiting', 'approved')),
    approved_by text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
