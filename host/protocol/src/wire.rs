//! Request and response bodies of the internal API (JSON).

use serde::{Deserialize, Serialize};
use crate::contract::{AppendTarget, AttemptAuth, EmittedEvent, InputFeed, OutputTarget, PartitionView, TaskKind, TaskPayload, TaskStatus, WrittenPartition};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable: `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `stale_attempt`, `task_finished`, `bad_request`, `limit_exceeded`,
    /// `too_many_requests`, `gone`, `unavailable`, `internal`.
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
    pub fn to_store(&self) -> Result<EmittedEvent, String> {
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
    /// The attempt's deadline (epoch ms): past it the reaper retries the task.
    pub deadline: Option<i64>,
    pub org_id: i64,
    pub dag_id: i64,
    pub job_id: i64,
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
    /// Where each output's rows go.
    #[serde(default)]
    pub outputs_to: Vec<WireOutputTarget>,
    /// What each input reads.
    #[serde(default)]
    pub inputs_from: Vec<WireInputFeed>,
    /// Why the task cannot run as claimed (the worker fails it with this).
    #[serde(default)]
    pub refusal: Option<String>,
    /// A source job's RPC settings (no credentials: those come from
    /// `/internal/slot-grant`).
    #[serde(default)]
    pub rpc: Option<crate::rpc::RpcSettings>,
    /// The task's trace context (W3C `traceparent`), when spans are exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_parent: Option<String>,
    /// Fuel the attempt may burn (its org's `fuel_per_task`), if metered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireInputFeed {
    pub input: u32,
    pub dataset_uuid: String,
    pub version_uuid: String,
    pub partitions: Vec<WirePartitionView>,
    #[serde(default)]
    pub buffered: bool,
}

/// A committed partition, on both APIs (a worker's inputs, a user's
/// `GET /api/v1/datasets/{name}/partitions`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePartitionView {
    pub partition_key: String,
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// Where the file is in the platform's object storage (ids only).
    pub object_key: String,
    pub rows: u64,
    pub bytes: u64,
    /// Workers only: where the file was staged (see `PartitionView`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_key: Option<String>,
}

impl WirePartitionView {
    /// As a user sees it: without the platform's staging key.
    pub fn public(mut self) -> Self {
        self.staging_key = None;
        self
    }
}

impl From<PartitionView> for WirePartitionView {
    fn from(p: PartitionView) -> Self {
        let (start, end) = (p.range.map(|r| r.0), p.range.map(|r| r.1));
        Self { partition_key: p.partition_key, start, end, object_key: p.object_key, rows: p.rows, bytes: p.bytes, staging_key: p.staging_key }
    }
}

impl From<WirePartitionView> for PartitionView {
    fn from(p: WirePartitionView) -> Self {
        let range = p.start.zip(p.end);
        Self { partition_key: p.partition_key, range, object_key: p.object_key, rows: p.rows, bytes: p.bytes, staging_key: p.staging_key }
    }
}

impl From<InputFeed> for WireInputFeed {
    fn from(f: InputFeed) -> Self {
        Self {
            input: f.input,
            dataset_uuid: f.dataset_uuid,
            version_uuid: f.version_uuid,
            partitions: f.partitions.into_iter().map(Into::into).collect(),
            buffered: f.buffered,
        }
    }
}

impl From<WireInputFeed> for InputFeed {
    fn from(f: WireInputFeed) -> Self {
        Self {
            input: f.input,
            dataset_uuid: f.dataset_uuid,
            version_uuid: f.version_uuid,
            partitions: f.partitions.into_iter().map(Into::into).collect(),
            buffered: f.buffered,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireOutputTarget {
    pub output: u32,
    pub dataset_uuid: String,
    pub version_uuid: String,
    /// An `append` output's unique key and the files it adds to.
    #[serde(default)]
    pub append: Option<WireAppendTarget>,
    /// A buffered output's dataset and table schema.
    #[serde(default)]
    pub buffered: Option<crate::buffered::BufferedTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireAppendTarget {
    pub unique_key: Vec<String>,
    pub existing: Vec<WirePartitionView>,
}

impl From<OutputTarget> for WireOutputTarget {
    fn from(t: OutputTarget) -> Self {
        let append = t.append.map(|a| WireAppendTarget { unique_key: a.unique_key, existing: a.existing.into_iter().map(Into::into).collect() });
        Self { output: t.output, dataset_uuid: t.dataset_uuid, version_uuid: t.version_uuid, append, buffered: t.buffered }
    }
}

impl From<WireOutputTarget> for OutputTarget {
    fn from(t: WireOutputTarget) -> Self {
        let append = t.append.map(|a| AppendTarget { unique_key: a.unique_key, existing: a.existing.into_iter().map(Into::into).collect() });
        Self { output: t.output, dataset_uuid: t.dataset_uuid, version_uuid: t.version_uuid, append, buffered: t.buffered }
    }
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
            deadline: p.deadline,
            org_id: p.org,
            dag_id: p.dag,
            job_id: p.job,
            job: p.job_name,
            kind: p.kind.as_str().to_owned(),
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
            outputs_to: p.outputs_to.into_iter().map(Into::into).collect(),
            inputs_from: p.inputs_from.into_iter().map(Into::into).collect(),
            refusal: p.refusal,
            trace_parent: p.trace_parent,
            fuel: p.fuel,
            rpc: p.rpc,
        }
    }
}

impl FetchResponse {
    /// Back into the store's payload (the worker's side of the wire).
    pub fn into_payload(self) -> Result<TaskPayload, String> {
        let status = match self.status.as_str() {
            "Running" => TaskStatus::Running,
            "Pending" => TaskStatus::Pending,
            "Completed" => TaskStatus::Completed,
            "Failed" => TaskStatus::Failed,
            "Canceled" => TaskStatus::Canceled,
            other => return Err(format!("unknown task status {other:?}")),
        };
        let attempt = match (self.attempt, self.attempt_credential) {
            (Some(attempt), Some(credential)) => Some(AttemptAuth { task: self.task_id, attempt, credential }),
            _ => None,
        };
        let state = self
            .state
            .into_iter()
            .map(|(k, v)| hex::decode(&v).map(|v| (k, v)).map_err(|_| "state value is not hex".to_owned()))
            .collect::<Result<_, _>>()?;
        let event = self.event.to_store()?;
        Ok(TaskPayload {
            task: self.task_id,
            job: self.job_id,
            job_name: self.job,
            kind: TaskKind::parse(&self.kind).ok_or_else(|| format!("unknown task kind {:?}", self.kind))?,
            operator: self.operator,
            config: self.config.to_string(),
            outputs: self.outputs,
            inputs: self.inputs,
            // A cancel is folded into the status on the wire.
            cancel_requested: status == TaskStatus::Canceled,
            status,
            attempt,
            deadline: self.deadline,
            timeout_ms: self.timeout_ms,
            partition_key: event.partition_key,
            range: event.range,
            cursor: event.cursor,
            org: self.org_id,
            dag: self.dag_id,
            state,
            outputs_to: self.outputs_to.into_iter().map(Into::into).collect(),
            inputs_from: self.inputs_from.into_iter().map(Into::into).collect(),
            refusal: self.refusal,
            rpc: self.rpc,
            trace_parent: self.trace_parent,
            fuel: self.fuel,
        })
    }
}

impl WireEvent {
    pub fn from_store(e: &EmittedEvent) -> Self {
        Self { output: e.output, partition_key: e.partition_key.clone(), start: e.range.map(|r| r.0), end: e.range.map(|r| r.1), cursor: e.cursor.clone() }
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
    /// Files the attempt staged for its outputs.
    #[serde(default)]
    pub partitions: Vec<WirePartition>,
    /// What the attempt used.
    #[serde(default)]
    pub usage: Option<crate::contract::AttemptUsage>,
    /// The end of the operator's log (the server keeps at most
    /// [`crate::contract::MAX_STORED_LOG_BYTES`] of it).
    #[serde(default)]
    pub log: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePartition {
    pub output: u32,
    pub version_uuid: String,
    pub partition_key: String,
    #[serde(default)]
    pub start: Option<u64>,
    #[serde(default)]
    pub end: Option<u64>,
    pub object_key: String,
    pub staging_key: String,
    pub rows: u64,
    pub bytes: u64,
    /// An appended file's partition key (see [`WrittenPartition::scope`]).
    #[serde(default)]
    pub scope: Option<String>,
    /// See [`WrittenPartition::deduped_against`].
    #[serde(default)]
    pub deduped_against: Vec<String>,
}

impl WirePartition {
    pub fn from_store(w: &WrittenPartition) -> Self {
        Self {
            output: w.output,
            version_uuid: w.version_uuid.clone(),
            partition_key: w.partition_key.clone(),
            start: w.range.map(|r| r.0),
            end: w.range.map(|r| r.1),
            object_key: w.object_key.clone(),
            staging_key: w.staging_key.clone(),
            rows: w.rows,
            bytes: w.bytes,
            scope: w.scope.clone(),
            deduped_against: w.deduped_against.clone(),
        }
    }

    pub fn to_store(&self) -> Result<WrittenPartition, String> {
        let range = match (self.start, self.end) {
            (Some(s), Some(e)) if s <= e => Some((s, e)),
            (None, None) => None,
            (s, e) => return Err(format!("partition range must have start <= end, got start={s:?} end={e:?}")),
        };
        Ok(WrittenPartition {
            output: self.output,
            version_uuid: self.version_uuid.clone(),
            partition_key: self.partition_key.clone(),
            range,
            object_key: self.object_key.clone(),
            staging_key: self.staging_key.clone(),
            rows: self.rows,
            bytes: self.bytes,
            scope: self.scope.clone(),
            deduped_against: self.deduped_against.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteResponse {
    pub status: String,
    pub late: bool,
    pub tasks_created: usize,
}

/// `POST /internal/buffer-rows`: rows of a buffered output (a live attempt's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferRowsRequest {
    pub task_id: i64,
    pub attempt: i32,
    pub output: u32,
    pub rows: Vec<Vec<crate::buffered::Value>>,
}

/// `POST /internal/buffered-read`: the rows of a buffered input for the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferedReadRequest {
    pub task_id: i64,
    pub attempt: i32,
    pub input: u32,
}

/// `POST /internal/slot-grant`: the env and secrets of the slot the
/// attempt leased (answered with a [`crate::rpc::SlotGrant`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotGrantRequest {
    pub task_id: i64,
    pub attempt: i32,
}
