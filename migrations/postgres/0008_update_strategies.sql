-- Update strategies and explicit invalidations.
--
-- jobs.update_strategy: 'replace' (a partition rewritten by a later task
-- invalidates its range downstream, transitively) or 'append' (each task
-- adds its own file; rows whose `unique_key` is already in the range are
-- dropped before writing). unique_key: a JSON array of column names.
ALTER TABLE jobs ADD COLUMN update_strategy TEXT NOT NULL DEFAULT 'replace';
ALTER TABLE jobs ADD COLUMN unique_key TEXT NOT NULL DEFAULT '[]';

-- events.kind: 'data' (emitted by an operator or a trigger) or
-- 'invalidation' (the platform re-running a downstream task whose input
-- partition was rewritten; it repeats that task's event).
ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT 'data';

-- dataset_partitions.scope: for an `append` job's files (one per task, so
-- their partition_key names the task too), the partition key they add rows
-- to; readers of that key read them all.
ALTER TABLE dataset_partitions ADD COLUMN scope TEXT;
