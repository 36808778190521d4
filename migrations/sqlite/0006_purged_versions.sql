-- A purged dataset version keeps its row (and the DAG versions that pointed
-- at it keep their pointers, for history) but has no files or partitions
-- left; a rollback onto a DAG version that points at one is refused.
ALTER TABLE dataset_versions ADD COLUMN purged_at BIGINT;
