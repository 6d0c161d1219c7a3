-- The run page links each cycle's check runs on GitHub.
ALTER TABLE check_runs ADD COLUMN html_url text NOT NULL DEFAULT '';
