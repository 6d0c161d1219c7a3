-- Event numbers never go down, even after retention prunes every event of a
-- run: an SSE client resuming from an old number must not miss new events.
ALTER TABLE runs ADD COLUMN last_event_seq bigint NOT NULL DEFAULT 0;
UPDATE runs SET last_event_seq = COALESCE((SELECT MAX(seq) FROM events WHERE events.run_id = runs.id), 0);
