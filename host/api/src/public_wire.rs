//! Request and response bodies of the public API (`/api/v1/*`, JSON).

use serde::{Deserialize, Serialize};
use trace_store::{AttemptView, DatasetView, TaskView};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub user: String,
    pub org_id: i64,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeployResponse {
    pub dag: String,
    pub version: i32,
    pub jobs: Vec<String>,
    /// The version waits for a cutover.
    #[serde(default)]
    pub staged: bool,
    /// Staged over an active version: tasks queued to rematerialize the
    /// edited jobs.
    #[serde(default)]
    pub rematerializing: u64,
}

/// `GET /api/v1/dags`: one row per version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DagVersionSummary {
    pub dag: String,
    pub version: i32,
    /// `active`, `staged` (newer than the active one) or `previous`.
    pub state: String,
    pub created_at: i64,
    pub deployed_by: String,
    pub jobs: i64,
}

impl From<trace_store::DagVersionView> for DagVersionSummary {
    fn from(v: trace_store::DagVersionView) -> Self {
        Self { dag: v.dag, version: v.version, state: v.state.as_str().to_owned(), created_at: v.created_at, deployed_by: v.deployed_by, jobs: v.jobs }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CutoverRequest {
    /// The staged version to make active.
    pub version: i32,
}

/// What a cutover or rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SwitchResponse {
    pub from_version: i32,
    pub to_version: i32,
    /// Queued tasks of the replaced version, canceled.
    pub canceled: u64,
    /// Running ones, asked to stop.
    pub stopping: u64,
    /// Cutover: work the old version's edited jobs did meanwhile, queued again.
    pub replayed: u64,
    /// Cutover: the old version's open tasks, queued for the new version.
    pub moved: u64,
}

impl From<trace_store::RolledBack> for SwitchResponse {
    fn from(r: trace_store::RolledBack) -> Self {
        Self { from_version: r.from_version, to_version: r.to_version, canceled: r.canceled, stopping: r.stopping, replayed: r.replayed, moved: r.moved }
    }
}

/// `POST /api/v1/dags/{dag}/jobs/{job}/backfill`: like `trace backfill`,
/// and resumable from it (the same label, range and chunk are the same runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    pub start: u64,
    pub end: u64,
    /// Units per chunk (one source task each).
    pub chunk: u64,
    #[serde(default)]
    pub label: Option<String>,
    /// A version other than the active one.
    #[serde(default)]
    pub version: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackfillResponse {
    pub label: String,
    pub chunks: usize,
    pub new: usize,
    pub already_triggered: usize,
    /// The source tasks of the new chunks.
    pub tasks: Vec<i64>,
}

/// `GET /api/v1/datasets/{name}/versions`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetVersionSummary {
    pub uuid: String,
    pub created_at: i64,
    pub dag_version: i32,
    /// The active DAG version serves this one.
    pub active: bool,
    pub purged_at: Option<i64>,
    pub partitions: i64,
    pub rows: i64,
    pub bytes: i64,
}

impl From<trace_store::DatasetVersionView> for DatasetVersionSummary {
    fn from(v: trace_store::DatasetVersionView) -> Self {
        Self {
            uuid: v.uuid,
            created_at: v.created_at,
            dag_version: v.dag_version,
            active: v.active,
            purged_at: v.purged_at,
            partitions: v.partitions,
            rows: v.rows,
            bytes: v.bytes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurgeResponse {
    /// Partitions unregistered.
    pub partitions: usize,
    pub files_deleted: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// Durable run id: the same id twice is one run.
    pub run_id: String,
    #[serde(default)]
    pub start: Option<u64>,
    #[serde(default)]
    pub end: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriggerResponse {
    pub duplicate: bool,
    pub tasks: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskSummary {
    pub id: i64,
    pub job: String,
    pub status: String,
    /// The status in words: `retrying` for a pending task that already had
    /// an attempt.
    #[serde(default)]
    pub state: String,
    pub attempts: i32,
    pub cancel_requested: bool,
    pub partition_key: String,
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// The task re-runs an earlier one whose input was rewritten.
    #[serde(default)]
    pub invalidation: bool,
    pub last_error: Option<String>,
}

impl From<TaskView> for TaskSummary {
    fn from(t: TaskView) -> Self {
        Self {
            id: t.id,
            state: t.state().to_owned(),
            job: t.job_name,
            status: t.status.as_str().to_owned(),
            attempts: t.attempts,
            cancel_requested: t.cancel_requested,
            partition_key: t.event_partition_key,
            start: t.event_range.map(|r| r.0),
            end: t.event_range.map(|r| r.1),
            invalidation: t.invalidation,
            last_error: t.last_error,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptSummary {
    pub attempt: i32,
    pub started_at: i64,
    pub deadline_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: Option<String>,
    /// The attempt in words: running, overdue, timed out (no report: its
    /// worker died or lost the control plane), its outcome, and the
    /// duplicate queue deliveries it saw.
    #[serde(default)]
    pub state: String,
    /// Queue deliveries of this attempt dropped because a worker had
    /// already taken it.
    #[serde(default)]
    pub duplicate_deliveries: i32,
    /// What the attempt used, once it reported.
    #[serde(default)]
    pub usage: Option<trace_store::AttemptUsage>,
    /// The end of what its operator logged (at most 64 KiB), if anything.
    #[serde(default)]
    pub log: Option<String>,
}

impl From<AttemptView> for AttemptSummary {
    fn from(a: AttemptView) -> Self {
        let state = a.state(trace_store::now_millis());
        Self {
            attempt: a.attempt,
            started_at: a.started_at,
            deadline_at: a.deadline_at,
            finished_at: a.finished_at,
            outcome: a.outcome,
            state,
            duplicate_deliveries: a.duplicate_deliveries,
            usage: None,
            log: a.log,
        }
    }
}

/// `GET /api/v1/usage` rows: one (bucket, DAG, job) each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageRow {
    /// Start of the hour or day, ms since the epoch (UTC).
    pub bucket: i64,
    pub dag: String,
    pub job: String,
    pub attempts: i64,
    pub unsuccessful: i64,
    /// Sums, except `peak_memory_bytes`: the largest.
    pub usage: trace_store::AttemptUsage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskDetail {
    pub task: TaskSummary,
    pub attempts: Vec<AttemptSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CancelResponse {
    /// `canceled` at once, or `running` while the cancel is cooperative.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetSummary {
    pub name: String,
    pub uuid: String,
    pub dag: String,
    pub producer_job: String,
    pub output_index: i32,
    pub read_roles: Vec<String>,
    pub version: Option<String>,
}

impl From<DatasetView> for DatasetSummary {
    fn from(d: DatasetView) -> Self {
        Self {
            name: d.name,
            uuid: d.uuid,
            dag: d.dag,
            producer_job: d.producer_job,
            output_index: d.output_index,
            read_roles: d.read_roles,
            version: d.version,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRolesRequest {
    pub read_roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Shown once; only its hash is stored.
    pub token: String,
}

/// `POST /api/v1/query` and `POST /api/v1/queries`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// One read-only statement; datasets are tables by name.
    pub sql: String,
    /// Datasets read at a past version: name → version UUID.
    #[serde(default)]
    pub as_of: std::collections::BTreeMap<String, String>,
    /// `json` (the default), `csv`, `arrow` or `parquet`; overrides `Accept`.
    #[serde(default)]
    pub format: Option<String>,
    /// Fewer rows than the server's interactive limit.
    #[serde(default)]
    pub max_rows: Option<usize>,
    /// A shorter wall-time limit than the server's, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl From<QueryBody> for trace_query::QueryRequest {
    fn from(body: QueryBody) -> Self {
        trace_query::QueryRequest {
            sql: body.sql,
            as_of: body.as_of,
            max_rows: body.max_rows,
            timeout: body.timeout_ms.map(std::time::Duration::from_millis),
        }
    }
}

/// A JSON query result. Other formats carry the counts in the
/// `trace-row-count` and `trace-truncated` headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryAnswer {
    pub columns: Vec<ColumnInfo>,
    /// One object per row, keyed by column name.
    pub rows: Vec<serde_json::Value>,
    pub row_count: usize,
    /// More rows matched than `max_rows`; the rest were not returned.
    pub truncated: bool,
    pub elapsed_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A batch query's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchQuery {
    pub id: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// Where the Parquet result is, once it succeeded (`GET` it with the token).
    pub result: Option<String>,
}

impl From<trace_query::BatchQueryView> for BatchQuery {
    fn from(v: trace_query::BatchQueryView) -> Self {
        let result = v.object_key.as_ref().map(|_| format!("/api/v1/queries/{}/result", v.id));
        BatchQuery { status: v.status.as_str().to_owned(), rows: v.rows, bytes: v.bytes, error: v.error, created_at: v.created_at, finished_at: v.finished_at, result, id: v.id }
    }
}

/// A dataset a caller can query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TableInfo {
    pub name: String,
    pub version: Option<String>,
    pub columns: Vec<ColumnInfo>,
    pub partitions: u64,
    pub rows: u64,
    pub bytes: u64,
}

impl From<trace_query::DatasetSchema> for TableInfo {
    fn from(d: trace_query::DatasetSchema) -> Self {
        TableInfo {
            columns: d.columns.into_iter().map(|(name, data_type)| ColumnInfo { name, data_type }).collect(),
            name: d.name,
            version: d.version,
            partitions: d.partitions,
            rows: d.rows,
            bytes: d.bytes,
        }
    }
}

/// `GET /api/v1/quota`: the org's limits (`null`: none) and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaView {
    pub max_running: Option<u64>,
    pub max_tasks_per_hour: Option<u64>,
    pub max_stored_bytes: Option<u64>,
    pub max_queries: Option<u64>,
    /// Fuel each task attempt may burn (the org's tasks run metered).
    pub fuel_per_task: Option<u64>,
    pub running: i64,
    pub started_this_hour: i64,
    pub stored_bytes: i64,
}
