-- The reaper finds expired attempts through running tasks (bounded by the
-- concurrency limits), so closing an attempt no longer updates an index of
-- unfinished attempts. (PostgreSQL also drops the queue tables' foreign
-- keys here; SQLite keeps them.)
DROP INDEX attempts_open;
