-- The run page and its live stream: a step's structured evidence (verify
-- counts, findings, tokens) rides on its event as JSON.
ALTER TABLE events ADD COLUMN data jsonb;

-- One progress comment per run, edited in place: its id and the issue or PR
-- it is on live with the run, so a worker that takes a cycle over edits the
-- same comment instead of posting another.
ALTER TABLE runs
    ADD COLUMN progress_comment_id bigint,
    ADD COLUMN progress_comment_number int;

-- What retention took from a run, and when, for its page.
ALTER TABLE runs
    ADD COLUMN events_pruned bigint NOT NULL DEFAULT 0,
    ADD COLUMN artifacts_pruned bigint NOT NULL DEFAULT 0,
    ADD COLUMN pruned_at timestamptz,
    ADD COLUMN pruned_before timestamptz;
