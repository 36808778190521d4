//! Request and response bodies of the internal API (JSON).

use serde::{Deserialize, Serialize};
use trace_store::{EmittedEvent, TaskPayload, TaskStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable: `unauthorized`, `not_found`, `stale_attempt`, `task_finished`,
    /// `bad_request`, `internal`.
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEvent {
    pub output: u32,
    #[serde(default)]
    pub partition_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl WireEvent {
    pub(crate) fn to_store(&self) -> Result<EmittedEvent, String> {
        let range = match (self.start, self.end) {
            (Some(s), Some(e)) if s <= e => Some((s, e)),
            (None, None) => None,
            (s, e) => return Err(format!("event range must have start <= end, got start={s:?} end={e:?}")),
        };
        Ok(EmittedEvent { output: self.output, partition_key: self.partition_key.clone(), range, cursor: self.cursor.clone() })
    }
}

/// `GET /internal/task-fetch` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    pub task_id: i64,
    /// `Running` (run it) or `Canceled` (report canceled without running),
    /// or the task's finished status.
    pub status: String,
    pub attempt: Option<i32>,
    /// Scoped to this attempt; authenticates its events and completion.
    pub attempt_credential: Option<String>,
    pub job: String,
    pub kind: String,
    pub operator: String,
    pub config: serde_json::Value,
    pub inputs: i64,
    pub outputs: i32,
    pub timeout_ms: i64,
    pub event: WireEvent,
    /// Operator state as (key, hex value).
    pub state: Vec<(String, String)>,
}

impl From<TaskPayload> for FetchResponse {
    fn from(p: TaskPayload) -> Self {
        let status = if p.is_canceled() { "Canceled".to_owned() } else {
            match p.status {
                TaskStatus::Running => "Running",
                TaskStatus::Pending => "Pending",
                TaskStatus::Completed => "Completed",
                TaskStatus::Failed => "Failed",
                TaskStatus::Canceled => "Canceled",
            }
            .to_owned()
        };
        Self {
            task_id: p.task,
            status,
            attempt: p.attempt.as_ref().map(|a| a.attempt),
            attempt_credential: p.attempt.map(|a| a.credential),
            job: p.job_name,
            kind: p.kind,
            operator: p.operator,
            config: serde_json::from_str(&p.config).unwrap_or(serde_json::Value::Null),
            inputs: p.inputs,
            outputs: p.outputs,
            timeout_ms: p.timeout_ms,
            event: WireEvent {
                output: 0,
                partition_key: p.partition_key,
                start: p.range.map(|r| r.0),
                end: p.range.map(|r| r.1),
                cursor: p.cursor,
            },
            state: p.state.into_iter().map(|(k, v)| (k, hex::encode(v))).collect(),
        }
    }
}

/// `POST /internal/events` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsRequest {
    pub task_id: i64,
    pub attempt: i32,
    pub events: Vec<WireEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsResponse {
    pub accepted: usize,
    pub duplicates: usize,
    pub tasks_created: usize,
}

/// `POST /internal/task-complete` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    pub task_id: i64,
    pub attempt: i32,
    /// `succeeded`, `failed` or `canceled`.
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub retryable: bool,
    #[serde(default)]
    pub final_events: Vec<WireEvent>,
    /// State writes as (key, hex value or null to delete).
    #[serde(default)]
    pub state_writes: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteResponse {
    pub status: String,
    pub late: bool,
    pub tasks_created: usize,
}
