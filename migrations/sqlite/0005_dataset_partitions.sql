-- Every job output is a dataset: published ones under their name, the rest
-- internal (named `~dag.job.output`, never listed). And the partitions a
-- dataset version holds: a row per committed file, written in the same
-- transaction as the completion of the task that produced it, so a file is
-- visible exactly when its task's success is.

ALTER TABLE datasets ADD COLUMN published INTEGER NOT NULL DEFAULT 1;

CREATE TABLE dataset_partitions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_version_id  BIGINT NOT NULL REFERENCES dataset_versions(id),
    partition_key       TEXT NOT NULL,
    range_start         BIGINT,
    range_end           BIGINT,
    object_key          TEXT NOT NULL,
    staging_key         TEXT NOT NULL,
    row_count           BIGINT NOT NULL,
    byte_count          BIGINT NOT NULL,
    task_id             BIGINT NOT NULL REFERENCES tasks(id),
    attempt             INTEGER NOT NULL,
    created_at          BIGINT NOT NULL,
    UNIQUE (dataset_version_id, partition_key)
);
