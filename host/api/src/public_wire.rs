//! Request and response bodies of the public API (`/api/v1/*`, JSON).

use serde::{Deserialize, Serialize};
use trace_store::{AttemptView, DatasetView, TaskView};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    pub user: String,
    pub org_id: i64,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployResponse {
    pub dag: String,
    pub version: i32,
    pub jobs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// Durable run id: the same id twice is one run.
    pub run_id: String,
    #[serde(default)]
    pub start: Option<u64>,
    #[serde(default)]
    pub end: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerResponse {
    pub duplicate: bool,
    pub tasks: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub id: i64,
    pub job: String,
    pub status: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptSummary {
    pub attempt: i32,
    pub started_at: i64,
    pub deadline_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: Option<String>,
}

impl From<AttemptView> for AttemptSummary {
    fn from(a: AttemptView) -> Self {
        Self { attempt: a.attempt, started_at: a.started_at, deadline_at: a.deadline_at, finished_at: a.finished_at, outcome: a.outcome }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDetail {
    pub task: TaskSummary,
    pub attempts: Vec<AttemptSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelResponse {
    /// `canceled` at once, or `running` while the cancel is cooperative.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRolesRequest {
    pub read_roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Shown once; only its hash is stored.
    pub token: String,
}
