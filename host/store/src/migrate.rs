//! Migrations: one folder per backend under `migrations/`, embedded at build
//! time and applied in order, each in its own transaction, recorded in
//! `schema_migrations`.

/// (version, SQL) for PostgreSQL.
pub(crate) const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_control_plane.sql")),
    (2, include_str!("../../../migrations/postgres/0002_operator_state.sql")),
    (3, include_str!("../../../migrations/postgres/0003_identity_and_datasets.sql")),
    (4, include_str!("../../../migrations/postgres/0004_audit_append_only.sql")),
    (5, include_str!("../../../migrations/postgres/0005_dataset_partitions.sql")),
    (6, include_str!("../../../migrations/postgres/0006_purged_versions.sql")),
    (7, include_str!("../../../migrations/postgres/0007_activation_history.sql")),
    (8, include_str!("../../../migrations/postgres/0008_update_strategies.sql")),
    (9, include_str!("../../../migrations/postgres/0009_partial_queue_indexes.sql")),
    (10, include_str!("../../../migrations/postgres/0010_lean_queue_writes.sql")),
    (11, include_str!("../../../migrations/postgres/0011_batch_queries.sql")),
    (12, include_str!("../../../migrations/postgres/0012_buffered_and_alerts.sql")),
    (13, include_str!("../../../migrations/postgres/0013_org_secrets.sql")),
    (14, include_str!("../../../migrations/postgres/0014_job_rpc.sql")),
    (15, include_str!("../../../migrations/postgres/0015_attempt_usage.sql")),
    (16, include_str!("../../../migrations/postgres/0016_org_quotas.sql")),
    (17, include_str!("../../../migrations/postgres/0017_task_trace_parent.sql")),
    (18, include_str!("../../../migrations/postgres/0018_attempt_logs.sql")),
    (19, include_str!("../../../migrations/postgres/0019_org_fuel.sql")),
    (20, include_str!("../../../migrations/postgres/0020_attempt_taken.sql")),
];

/// (version, SQL) for SQLite.
pub(crate) const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/sqlite/0001_control_plane.sql")),
    (2, include_str!("../../../migrations/sqlite/0002_operator_state.sql")),
    (3, include_str!("../../../migrations/sqlite/0003_identity_and_datasets.sql")),
    (4, include_str!("../../../migrations/sqlite/0004_audit_append_only.sql")),
    (5, include_str!("../../../migrations/sqlite/0005_dataset_partitions.sql")),
    (6, include_str!("../../../migrations/sqlite/0006_purged_versions.sql")),
    (7, include_str!("../../../migrations/sqlite/0007_activation_history.sql")),
    (8, include_str!("../../../migrations/sqlite/0008_update_strategies.sql")),
    (9, include_str!("../../../migrations/sqlite/0009_partial_queue_indexes.sql")),
    (10, include_str!("../../../migrations/sqlite/0010_lean_queue_writes.sql")),
    (11, include_str!("../../../migrations/sqlite/0011_batch_queries.sql")),
    (12, include_str!("../../../migrations/sqlite/0012_buffered_and_alerts.sql")),
    (13, include_str!("../../../migrations/sqlite/0013_org_secrets.sql")),
    (14, include_str!("../../../migrations/sqlite/0014_job_rpc.sql")),
    (15, include_str!("../../../migrations/sqlite/0015_attempt_usage.sql")),
    (16, include_str!("../../../migrations/sqlite/0016_org_quotas.sql")),
    (17, include_str!("../../../migrations/sqlite/0017_task_trace_parent.sql")),
    (18, include_str!("../../../migrations/sqlite/0018_attempt_logs.sql")),
    (19, include_str!("../../../migrations/sqlite/0019_org_fuel.sql")),
    (20, include_str!("../../../migrations/sqlite/0020_attempt_taken.sql")),
];

pub(crate) const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
