-- What a cycle publishes, recorded between its commit and its push: the
-- commit's sha and the result (conclusion, summary, the steps' evidence,
-- the PR's text) as JSON. A worker that takes the cycle over and finds the
-- run's branch at that sha finishes the publish from it rather than
-- running the agent again on work that already landed.
ALTER TABLE cycles
    ADD COLUMN published_sha    text NOT NULL DEFAULT '',
    ADD COLUMN published_result jsonb;
