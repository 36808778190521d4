//! Store errors: the attempt-gating rejections callers act on, and database
//! failures with the operation that hit them.

use crate::model::{TaskId, TaskStatus};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("task {0} does not exist")]
    NoSuchTask(TaskId),
    #[error("job {0} does not exist")]
    NoSuchJob(i64),
    #[error("stale attempt: task {task} attempt {attempt} was superseded by attempt {current}")]
    StaleAttempt { task: TaskId, attempt: i32, current: i32 },
    #[error("task {task} is already {status}; attempt {attempt} can no longer report")]
    TaskFinished { task: TaskId, attempt: i32, status: TaskStatus },
    #[error("task {task} attempt {attempt} timed out before it reported, and its report writes operator state computed from state that may have changed since; the task runs again")]
    LateStateWrite { task: TaskId, attempt: i32 },
    #[error("credential does not match task {task} attempt {attempt}")]
    BadCredential { task: TaskId, attempt: i32 },
    #[error("event for output {output} of job {job}, which has {outputs} output(s)")]
    NoSuchOutput { job: i64, output: u32, outputs: i32 },
    #[error("task {task} output {output}: {why}")]
    BadPartition { task: TaskId, output: u32, why: String },
    #[error("task {task} output {output} does not write a buffered dataset")]
    NotBufferedOutput { task: TaskId, output: u32 },
    #[error("task {task} input {input} covers too many partitions: more than limit={limit}")]
    TooManyPartitions { task: TaskId, input: u32, limit: usize },
    #[error("task {task} output {output} (append) adds to too many committed partitions: more than limit={limit}")]
    TooManyAppended { task: TaskId, output: u32, limit: usize },
    #[error("job `{job}` may not read dataset {dataset:?}: {deployer}, who deployed its DAG version, is no longer allowed by its read_roles")]
    ReadDenied { job: String, dataset: String, deployer: String },
    #[error("DAG {0:?} does not exist")]
    NoSuchDag(String),
    #[error("DAG {dag:?} has no version {version}")]
    NoSuchDagVersion { dag: String, version: i32 },
    #[error("DAG {dag:?} version {version} is already the active one")]
    AlreadyActive { dag: String, version: i32 },
    #[error("DAG {0:?} has no version before its active one to roll back to")]
    NothingToRollBackTo(String),
    #[error("DAG {dag:?} version {version} points at a purged dataset version; it cannot be made active again")]
    RollbackOntoPurged { dag: String, version: i32 },
    #[error("dataset {dataset:?} has no version {version:?}")]
    NoSuchDatasetVersion { dataset: String, version: String },
    #[error("dataset {dataset:?} version {version:?} is what its DAG's active version serves; it cannot be purged")]
    VersionInUse { dataset: String, version: String },
    #[error("org {0:?} already exists")]
    OrgExists(String),
    #[error("user {0:?} already exists in this org")]
    UserExists(String),
    #[error("user {0} does not exist")]
    NoSuchUser(i64),
    #[error("dataset {0:?} does not exist")]
    NoSuchDataset(String),
    #[error("{0}")]
    BadRole(String),
    #[error("dataset {dataset:?} is already produced by DAG {dag:?}; a dataset has one producing DAG")]
    DatasetProducedElsewhere { dataset: String, dag: String },
    #[error("buffered dataset {dataset:?} already exists with other columns or unique key; its rows outlive DAG versions, so its schema cannot change (publish a new dataset name)")]
    BufferedSchemaChanged { dataset: String },
    #[error("buffered rows for dataset {dataset}: {why}")]
    BadBufferedRows { dataset: String, why: String },
    #[error("task {task} input {input} is not a buffered dataset written by a job of its DAG")]
    NotBuffered { task: TaskId, input: u32 },
    #[error("task {task} input {input} covers too many buffered rows: more than limit={limit}")]
    TooManyBufferedRows { task: TaskId, input: u32, limit: usize },
    #[error("destination {0:?} does not exist")]
    NoSuchDestination(String),
    #[error("delivery {0} does not exist")]
    NoSuchDelivery(i64),
    #[error("delivery {id} is {status}; only a failed delivery can be retried")]
    NotRetryable { id: i64, status: String },
    #[error("the DAG's worker slots name secrets this org does not have: {}; set them first (`trace secret set NAME`)", .0.join(", "))]
    MissingSecrets(Vec<String>),
    #[error("secret {0:?} does not exist")]
    NoSuchSecret(String),
    #[error("the system database holds something this version cannot read: {0}")]
    Corrupt(String),
    #[error("the completer has shut down")]
    Closed,
    #[error("the batch this completion was in failed: {0}")]
    BatchFailed(String),
    #[error("database error while {op}")]
    Db {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// Whether the database could not be reached or was going away (a
    /// restart, a crash, a network cut): a passing condition, worth trying
    /// again, and nothing about the request itself.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Db { source, .. } = self else { return false };
        match source {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
            // SQLSTATE class 08 (connection exception) and 57P0x (the
            // server shutting down, crashed, or not yet accepting).
            sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P0")),
            _ => false,
        }
    }
}

/// Attach the operation name to a database error.
pub(crate) trait DbContext<T> {
    fn during(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn during(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Db { op, source })
    }
}
