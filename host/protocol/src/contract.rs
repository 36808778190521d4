//! The worker contract's values: what a worker is given to run one attempt
//! of a task, and what it reports when the attempt ends. The system
//! database produces and consumes them; the worker, the internal API and
//! the queues only carry them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. Passed in by callers so that tests
/// (and the reaper) control time.
pub type Millis = i64;
pub type OrgId = i64;
pub type JobId = i64;
pub type TaskId = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An event an attempt emits for one of its job's outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmittedEvent {
    pub output: u32,
    pub partition_key: String,
    pub range: Option<(u64, u64)>,
    pub cursor: Option<String>,
}

impl EmittedEvent {
    /// The part of the idempotency key that tells this event apart from its
    /// producer's others: cursor, else partition key, else range.
    pub fn discriminator(&self) -> String {
        match (&self.cursor, self.range) {
            (Some(c), _) => format!("cursor={c}"),
            (None, _) if !self.partition_key.is_empty() => format!("key={}", self.partition_key),
            (None, Some((s, e))) => format!("range={s}_{e}"),
            (None, None) => "key=".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Canceled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => TaskStatus::Pending,
            "running" => TaskStatus::Running,
            "completed" => TaskStatus::Completed,
            "failed" => TaskStatus::Failed,
            _ => TaskStatus::Canceled,
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is reporting: a task attempt and its credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptAuth {
    pub task: TaskId,
    pub attempt: i32,
    pub credential: String,
}

/// How an attempt ended, as its worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    Failed { retryable: bool, message: String },
    /// The worker saw the cancel and did not run the operator.
    Canceled,
}

/// State changes a successful task commits with its completion
/// (`None` deletes the key).
pub type StateWrites = Vec<(String, Option<Vec<u8>>)>;

/// Which world a task's operator runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Reads an external system through the host-held `rpc` capability.
    Source,
    /// Reads its inputs only.
    Transform,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Source => "source",
            TaskKind::Transform => "transform",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "source" => Some(TaskKind::Source),
            "transform" => Some(TaskKind::Transform),
            _ => None,
        }
    }
}

/// Everything a worker needs to run a task's current attempt
/// (`/internal/task-fetch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPayload {
    pub task: TaskId,
    pub job: JobId,
    pub job_name: String,
    pub kind: TaskKind,
    pub operator: String,
    pub config: String,
    pub outputs: i32,
    /// Inputs wired to the job.
    pub inputs: i64,
    pub status: TaskStatus,
    pub cancel_requested: bool,
    /// The current attempt and its credential (absent before the first claim).
    pub attempt: Option<AttemptAuth>,
    pub deadline: Option<Millis>,
    pub timeout_ms: i64,
    pub partition_key: String,
    pub range: Option<(u64, u64)>,
    pub cursor: Option<String>,
    pub org: OrgId,
    pub dag: i64,
    /// The job's durable operator state at fetch time.
    pub state: Vec<(String, Vec<u8>)>,
    /// Where each of the job's outputs goes, by output index.
    pub outputs_to: Vec<OutputTarget>,
    /// What each wired input reads for this task's event: the pinned
    /// version's partitions overlapping the event's range (or with its key).
    pub inputs_from: Vec<InputFeed>,
    /// Why the task cannot run as claimed (say, its inputs cover more
    /// partitions than a task may read): the worker fails the attempt with
    /// this message, not retryable, instead of running the operator. A
    /// claim never fails as a whole for one task's sake.
    pub refusal: Option<String>,
    /// A source job's `rpc:` settings: the worker builds the host-held RPC
    /// client from them and the leased slot's grant ([`crate::plane::ControlPlane::slot_grant`]).
    #[serde(default)]
    pub rpc: Option<crate::rpc::RpcSettings>,
    /// The W3C `traceparent` of the span that created the task, when the
    /// deployment exports spans: the attempt's span continues its trace.
    #[serde(default)]
    pub trace_parent: Option<String>,
    /// The fuel the attempt may burn, when its org meters its tasks (its
    /// quota's `fuel_per_task`): the worker runs it metered and stops it
    /// past this.
    #[serde(default)]
    pub fuel: Option<u64>,
}

/// One input of a task: a dataset version pinned at claim time and the
/// committed partitions of it that the task's event covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFeed {
    pub input: u32,
    pub dataset_uuid: String,
    pub version_uuid: String,
    pub partitions: Vec<PartitionView>,
    /// The input is a buffered dataset: its rows for this task's event are
    /// read through the control plane ([`ControlPlane::buffered_rows`]).
    ///
    /// [`ControlPlane::buffered_rows`]: crate::plane::ControlPlane::buffered_rows
    #[serde(default)]
    pub buffered: bool,
}

/// A job output's dataset and the version its DAG version points at: where
/// a task's rows for that output are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTarget {
    pub output: u32,
    pub dataset_uuid: String,
    pub version_uuid: String,
    /// Set when the job's update strategy is `append`.
    pub append: Option<AppendTarget>,
    /// Set when the output is written to a buffered dataset: its rows go to
    /// the dataset's buffer, not to object storage.
    #[serde(default)]
    pub buffered: Option<crate::buffered::BufferedTarget>,
}

/// An `append` output: the task adds a file of its own beside the ones
/// already committed for its range (or key), without the rows whose
/// `unique_key` those already hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendTarget {
    pub unique_key: Vec<String>,
    /// The committed files overlapping the task's range, or of its key.
    pub existing: Vec<PartitionView>,
}

impl TaskPayload {
    /// Whether the worker must report `Canceled` without running the operator.
    pub fn is_canceled(&self) -> bool {
        self.status == TaskStatus::Canceled || self.cancel_requested
    }
}

/// One attempt's report: how it ended, the events it emitted, the state it
/// writes and the files it wrote, committed together or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub auth: AttemptAuth,
    pub outcome: Outcome,
    pub events: Vec<EmittedEvent>,
    pub state: StateWrites,
    /// Files written for the task's outputs (staged; registered, and so
    /// visible, only if this completion is accepted as a success).
    pub partitions: Vec<WrittenPartition>,
    /// What the attempt used, recorded with its outcome (whatever it was).
    #[serde(default)]
    pub usage: Option<AttemptUsage>,
    /// The end of what the operator logged (at most [`MAX_STORED_LOG_BYTES`],
    /// see [`log_tail`]), kept with the attempt for `trace task` and the
    /// console.
    #[serde(default)]
    pub log: Option<String>,
}

/// Most bytes of an attempt's log kept in the system database: its end,
/// where a failing operator says why. (The sandbox lets a task write up to
/// its own log limit, 1 MiB by default.)
pub const MAX_STORED_LOG_BYTES: usize = 64 << 10;

/// The last [`MAX_STORED_LOG_BYTES`] of `log` (cut at a character
/// boundary, with a first line saying how much was dropped); `None` for an
/// empty log.
pub fn log_tail(log: &str) -> Option<String> {
    if log.is_empty() {
        return None;
    }
    if log.len() <= MAX_STORED_LOG_BYTES {
        return Some(log.to_owned());
    }
    let mut start = log.len() - MAX_STORED_LOG_BYTES;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    Some(format!("[first {start} bytes of {} dropped]\n{}", log.len(), &log[start..]))
}

/// What one attempt used: the basis of per-org accounting. Every field is
/// what the worker measured; none is trusted for more than accounting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptUsage {
    /// From the payload's arrival to the report.
    pub wall_ms: u64,
    /// CPU time of the thread that ran the operator and encoded its outputs.
    pub cpu_ms: u64,
    /// Fuel burned, where the engine meters it.
    #[serde(default)]
    pub fuel: Option<u64>,
    pub peak_memory_bytes: u64,
    pub input_bytes: u64,
    pub input_rows: u64,
    pub output_bytes: u64,
    pub output_rows: u64,
    pub events: u64,
    pub log_bytes: u64,
    /// HTTP requests the task's RPC client sent, and the bytes answered.
    pub rpc_requests: u64,
    pub rpc_bytes: u64,
}

/// Largest value of a usage field the control plane records (about 290
/// years of milliseconds, or 9 EB): a larger one is refused as nonsense.
pub const MAX_USAGE_VALUE: u64 = i64::MAX as u64;

impl AttemptUsage {
    /// The fields' names, in the order of [`AttemptUsage::values`] (the
    /// order the system database's usage columns follow too).
    pub const FIELDS: [&'static str; 12] = [
        "wall_ms", "cpu_ms", "fuel", "peak_memory_bytes", "input_bytes", "input_rows",
        "output_bytes", "output_rows", "events", "log_bytes", "rpc_requests", "rpc_bytes",
    ];

    /// Every field, in [`AttemptUsage::FIELDS`] order (`fuel` may be absent).
    pub fn values(&self) -> [Option<u64>; 12] {
        [
            Some(self.wall_ms), Some(self.cpu_ms), self.fuel, Some(self.peak_memory_bytes), Some(self.input_bytes), Some(self.input_rows),
            Some(self.output_bytes), Some(self.output_rows), Some(self.events), Some(self.log_bytes), Some(self.rpc_requests), Some(self.rpc_bytes),
        ]
    }

    /// The inverse of [`AttemptUsage::values`]; an absent value other than
    /// `fuel` reads as 0.
    pub fn from_values(v: [Option<u64>; 12]) -> Self {
        let n = |i: usize| v[i].unwrap_or(0);
        AttemptUsage {
            wall_ms: n(0), cpu_ms: n(1), fuel: v[2], peak_memory_bytes: n(3), input_bytes: n(4), input_rows: n(5),
            output_bytes: n(6), output_rows: n(7), events: n(8), log_bytes: n(9), rpc_requests: n(10), rpc_bytes: n(11),
        }
    }

    /// The first field past [`MAX_USAGE_VALUE`], by name (the API refuses it).
    pub fn out_of_bounds(&self) -> Option<(&'static str, u64)> {
        Self::FIELDS.into_iter().zip(self.values()).map(|(f, v)| (f, v.unwrap_or(0))).find(|(_, v)| *v > MAX_USAGE_VALUE)
    }
}

/// One output file an attempt wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenPartition {
    pub output: u32,
    /// The dataset version it belongs to (one of the task's [`OutputTarget`]s).
    pub version_uuid: String,
    pub partition_key: String,
    pub range: Option<(u64, u64)>,
    /// An appended file: the partition key it adds rows to (its own
    /// `partition_key` also names its task, so each task adds one).
    pub scope: Option<String>,
    /// An appended file: the committed files its rows were deduplicated
    /// against. If another task has added to the range since, the
    /// completion becomes a retry (which deduplicates against that too).
    pub deduped_against: Vec<String>,
    /// Where it is read from once committed.
    pub object_key: String,
    /// Where the attempt wrote it.
    pub staging_key: String,
    pub rows: u64,
    pub bytes: u64,
}

/// A committed partition of a dataset version, as readers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionView {
    pub partition_key: String,
    pub range: Option<(u64, u64)>,
    pub object_key: String,
    pub rows: u64,
    pub bytes: u64,
    /// Where the committed file was staged. A worker that died between
    /// its commit and moving the file leaves it there; readers fall back
    /// to it. Internal: never shown to users.
    pub staging_key: Option<String>,
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_round_trips_through_its_values_and_names_what_is_out_of_bounds() {
        let u = AttemptUsage { wall_ms: 1, cpu_ms: 2, fuel: Some(3), peak_memory_bytes: 4, input_bytes: 5, input_rows: 6, output_bytes: 7, output_rows: 8, events: 9, log_bytes: 10, rpc_requests: 11, rpc_bytes: 12 };
        assert_eq!(AttemptUsage::from_values(u.values()), u);
        assert_eq!(u.values().map(|v| v.unwrap()), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "values follow FIELDS");
        assert_eq!(u.out_of_bounds(), None);
        let over = AttemptUsage { output_rows: u64::MAX, ..u };
        assert_eq!(over.out_of_bounds(), Some(("output_rows", u64::MAX)));
        assert_eq!(AttemptUsage { fuel: None, ..u }.values()[2], None);
    }

    #[test]
    fn a_long_log_keeps_its_end_cut_at_a_character_and_says_so() {
        assert_eq!(log_tail(""), None);
        assert_eq!(log_tail("short\n").as_deref(), Some("short\n"));
        // 3-byte characters, so the cut falls inside one and moves forward.
        let long = format!("{}the reason\n", "€".repeat(MAX_STORED_LOG_BYTES / 3 + 10));
        let tail = log_tail(&long).unwrap();
        let (head, kept) = tail.split_once('\n').unwrap();
        assert!(kept.ends_with("the reason\n"));
        assert!(kept.len() <= MAX_STORED_LOG_BYTES, "{}", kept.len());
        let dropped = long.len() - kept.len();
        assert_eq!(head, format!("[first {dropped} bytes of {} dropped]", long.len()));
    }
}
