-- The queue's indexes each look at one state only: make them partial, so a
-- task or attempt changing state does not add index entries for rows those
-- lookups never want (each claim and completion rewrites a batch of rows).
--   claims:   pending tasks in (available_at, id) order;
--   metering: running tasks per job;
--   reaper:   unfinished attempts by deadline.
-- Lookups of a job's tasks use the (job_id, event_id) unique index.
DROP INDEX tasks_pending;
CREATE INDEX tasks_pending ON tasks (available_at, id) WHERE status = 'pending';
DROP INDEX tasks_by_job_status;
CREATE INDEX tasks_running_by_job ON tasks (job_id) WHERE status = 'running';
DROP INDEX attempts_running;
CREATE INDEX attempts_open ON task_attempts (deadline_at) WHERE finished_at IS NULL;
