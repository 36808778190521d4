//! Row types the store hands out and takes in. The worker contract's types
//! (payload, completion and what they carry) are `trace-protocol`'s, re-exported.

pub use trace_protocol::contract::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub org: OrgId,
    pub dag_id: i64,
    pub version_id: i64,
    pub version: i32,
    /// Job name → id in this version.
    pub jobs: Vec<(String, JobId)>,
}

impl Deployed {
    pub fn job(&self, name: &str) -> JobId {
        self.jobs.iter().find(|(n, _)| n == name).map(|(_, id)| *id).unwrap_or_else(|| panic!("no job {name}"))
    }
}

/// The outcome of recording one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub event_id: i64,
    /// The same idempotency key was seen before: nothing new was created.
    pub duplicate: bool,
    /// Tasks created for subscribed jobs.
    pub tasks: Vec<TaskId>,
}

/// A leased task: what the dispatcher hands a worker (as `task_id` only over
/// a queue; the rest is fetched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub task: TaskId,
    pub job: JobId,
    pub attempt: i32,
    /// Scoped to this one attempt; held by the worker wrapper, never by guests.
    pub credential: String,
    pub slot: Option<i64>,
    pub deadline: Millis,
    /// The task's trace context (W3C `traceparent`), when spans are exported.
    pub trace_parent: Option<String>,
}

impl Claim {
    pub fn auth(&self) -> AttemptAuth {
        AttemptAuth { task: self.task, attempt: self.attempt, credential: self.credential.clone() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub status: TaskStatus,
    /// Downstream results of the final events.
    pub events: Vec<Ingested>,
    /// Downstream tasks queued again because this task rewrote partitions
    /// they had read (update strategy `replace`).
    pub invalidated: Vec<TaskId>,
    /// A timed-out attempt that reported after all (no newer attempt had started).
    pub late: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaped {
    pub retried: Vec<TaskId>,
    pub failed: Vec<TaskId>,
}

/// A task with what a worker needs to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub id: TaskId,
    pub job: JobId,
    pub job_name: String,
    pub status: TaskStatus,
    pub attempts: i32,
    pub cancel_requested: bool,
    pub available_at: Millis,
    pub last_error: Option<String>,
    pub event_partition_key: String,
    pub event_range: Option<(u64, u64)>,
    /// The task re-runs an earlier one whose input was rewritten.
    pub invalidation: bool,
    pub org: OrgId,
}

/// Delay before retry `attempt + 1`: 1 s, 2 s, 4 s … capped at 60 s.
pub fn retry_backoff(attempts: i32) -> Millis {
    let exp = attempts.clamp(1, 7) - 1;
    (1_000i64 << exp).min(60_000)
}

/// One attempt of a task, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptView {
    pub attempt: i32,
    pub started_at: Millis,
    pub deadline_at: Millis,
    pub finished_at: Option<Millis>,
    /// `succeeded`, `failed`, `canceled`, `timeout`, or `None` while running.
    pub outcome: Option<String>,
    /// The end of what its operator logged, if it logged anything.
    pub log: Option<String>,
    /// Queue deliveries of this attempt dropped because a worker had
    /// already taken it (a message delivered twice).
    pub duplicate_deliveries: i32,
}

/// What [`Store::take`](crate::Store::take) found.
#[derive(Debug)]
pub enum Taken {
    /// Run it (or, not running, report it as it is).
    Run(Box<TaskPayload>),
    /// Another worker already took this running attempt.
    Duplicate { attempt: i32 },
}

/// Open tasks across every org (the `trace_queue_depth` and `trace_tasks`
/// gauges): in total and per job name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Pending and due: waiting for a claim.
    pub due: i64,
    /// Pending, due later (a retry's backoff).
    pub backing_off: i64,
    pub running: i64,
    /// The same per job name (jobs of every org and DAG with that name
    /// together), for at most [`MAX_DEPTH_JOBS`] names in name order.
    pub by_job: Vec<JobDepth>,
}

/// Most job names [`QueueDepth::by_job`] reports (a bound on the metric's
/// series, whatever tenants name their jobs).
pub const MAX_DEPTH_JOBS: usize = 1000;

/// Open tasks of the jobs with one name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobDepth {
    pub job: String,
    pub due: i64,
    pub backing_off: i64,
    pub running: i64,
}

/// Progress of a set of runs (a backfill).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub counts: Vec<(TaskStatus, i64)>,
    /// Rows in the partitions those tasks committed.
    pub rows: u64,
}

impl RunProgress {
    pub fn count(&self, status: TaskStatus) -> i64 {
        self.counts.iter().filter(|(s, _)| *s == status).map(|(_, n)| n).sum()
    }

    pub fn total(&self) -> i64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// One event and who produced it, for multi-producer ingest.
pub(crate) struct Produced<'a> {
    pub org: OrgId,
    pub job: JobId,
    pub task: TaskId,
    pub event: &'a EmittedEvent,
}
