-- The version that was active when this one became active: what a rollback
-- returns to (not simply the next lower number, which a staged version that
-- was never active could be).
ALTER TABLE dag_versions ADD COLUMN previous_active_id BIGINT;
