-- The values of package state, checked by the database: a typo in Go or in
-- hand-written SQL fails loudly instead of becoming a state nobody reads.
-- A cycle has a conclusion exactly when it is done; skipped is a step's
-- conclusion, never a cycle's.
ALTER TABLE runs
    ADD CONSTRAINT runs_kind_check CHECK (kind IN ('issue', 'spec')),
    ADD CONSTRAINT runs_state_check CHECK (state IN ('active', 'stopped'));
ALTER TABLE cycles
    ADD CONSTRAINT cycles_state_check CHECK (state IN ('queued', 'running', 'done')),
    ADD CONSTRAINT cycles_conclusion_check CHECK (
        conclusion IN ('', 'success', 'failure', 'neutral', 'cancelled', 'timed_out', 'action_required')),
    ADD CONSTRAINT cycles_done_has_conclusion CHECK ((state = 'done') = (conclusion <> ''));
