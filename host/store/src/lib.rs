//! The system database. One [`Store`] interface, written once over a
//! `Dialect` (`dialect.rs`) and run on PostgreSQL (production) and
//! SQLite in WAL mode (the embedded default), so both behave the same. Every
//! state change is one transaction.
//!
//! What lives here: orgs, DAG versions and their jobs, events and the tasks
//! they create (1 event → 1 task per subscribed job, deduplicated by
//! idempotency key), attempts with per-attempt credentials and deadlines,
//! worker-slot leases, and the audit log.
//!
//! Where: `backend.rs` (deploys, triggers, task views, cancel, retry, the
//! reaper), `claim.rs` and `complete.rs` (the attempt's two ends, set-based),
//! `gate.rs` (who may report), `events.rs` (ingest), `effects.rs` (state and
//! slots), `invalidate.rs` (re-runs after a rewrite), `registry.rs` (users,
//! tokens, datasets), `lifecycle.rs` (rollback, cutover, purge),
//! `batch_queries.rs`; `postgres.rs` and `sqlite.rs` say what each backend
//! does differently; [`Db`] picks one at run time.

mod backend;
mod batch_queries;
mod buffered;
mod claim;
mod complete;
mod db;
mod deliveries;
mod dialect;
mod effects;
mod error;
mod events;
mod gate;
mod history;
mod ids;
mod invalidate;
mod lifecycle;
mod migrate;
mod model;
mod postgres;
mod quotas;
mod registry;
mod secrets;
mod slot_lease;
mod staged;
mod states;
mod usage;
mod sql;
mod sqlite;

pub use postgres::{PgStore, ACQUIRE_TIMEOUT, ANALYZE_EVERY};
pub use sqlite::SqliteStore;
pub use claim::MAX_INPUT_PARTITIONS;
pub use batch_queries::{BatchEnd, BatchQueries, BatchQueryView, BatchStatus, MAX_BATCH_ERROR_BYTES, MAX_BATCH_SQL_BYTES};
pub use buffered::{table_name, webhook_id, BufferCommit, Buffered, BufferedDataset};
pub use db::Db;
pub use deliveries::{AfterAttempt, AttemptRecord, Deliveries, DeliveryAttemptView, DeliveryView, DestinationSpec, DestinationView, LeasedDelivery, LeasedTarget, DELIVERY_STATES};
pub use error::StoreError;
pub use lifecycle::{Lifecycle, Purged, RolledBack};
pub use model::*;
pub use secrets::{SecretView, Secrets};
pub use slot_lease::{SlotLease, SlotLeases};
pub use staged::{StagedFiles, STAGED_QUERY_CHUNK};
pub use states::NO_REPORT;
pub use quotas::{hour_of, Quota, QuotaUsage, Quotas, HOUR_MS};
pub use history::{DagVersionView, DatasetVersionView, History, VersionState, MAX_DAG_VERSIONS};
pub use usage::{UsageRecords, UsageSummary, MAX_SUMMARY_ROWS};
pub use registry::{AuditEntry, DatasetView, Principal, Registry, Role, UserId, VersionRead};

use trace_dag::Dag;

/// The control plane's view of the system database.
#[allow(async_fn_in_trait, reason = "used through generics, not trait objects")]
pub trait Store: Send + Sync {
    /// Apply pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Create an org; names are unique.
    async fn create_org(&self, name: &str, now: Millis) -> Result<OrgId, StoreError>;

    /// Record a new version of `dag` (creating the DAG on first deploy) with
    /// its jobs, wiring and worker slots, register the datasets it publishes
    /// (a new dataset version where the producer's lineage changed, the
    /// previous one kept where it did not) and make it the active version.
    /// `actor` is recorded as the deployer and in the audit log.
    async fn deploy(&self, org: OrgId, dag: &Dag, yaml: &str, actor: &str, now: Millis) -> Result<Deployed, StoreError>;

    /// Record a new version of `dag` like [`deploy`](Store::deploy) but leave
    /// the active version (and so every reader) where it is: the staged
    /// version's jobs can run and fill its new dataset versions, and
    /// [`Lifecycle::cutover`] makes it active in one transaction.
    async fn stage(&self, org: OrgId, dag: &Dag, yaml: &str, actor: &str, now: Millis) -> Result<Deployed, StoreError>;

    /// Job `job` of version `version` of DAG `dag` (active or not).
    async fn version_job(&self, org: OrgId, dag: &str, version: i32, job: &str) -> Result<Option<JobId>, StoreError>;

    /// Start a run of a source job: one trigger event, one task. The same
    /// `run_id` twice is one run (a restarted source is a retry, not a new run).
    async fn trigger(&self, job: JobId, run_id: &str, range: Option<(u64, u64)>, actor: &str, now: Millis) -> Result<Ingested, StoreError>;

    /// Start many runs of a source job in one transaction (a backfill's
    /// chunks): run ids already triggered are duplicates, so repeating a
    /// backfill resumes it.
    async fn trigger_many(&self, job: JobId, runs: &[(String, (u64, u64))], actor: &str, now: Millis) -> Result<Vec<Ingested>, StoreError>;

    /// How the source tasks of job `job` whose run ids start with
    /// `run_prefix` stand, and the rows their outputs committed.
    async fn run_progress(&self, job: JobId, run_prefix: &str) -> Result<RunProgress, StoreError>;

    /// Accept mid-task events from the current attempt.
    async fn post_events(&self, auth: &AttemptAuth, events: &[EmittedEvent], now: Millis) -> Result<Vec<Ingested>, StoreError>;

    /// Lease up to `limit` runnable tasks: each gets a new attempt, a
    /// credential and, if its job has a pool, one free slot. Never more
    /// running tasks per job than its effective concurrency.
    async fn claim(&self, limit: u32, now: Millis) -> Result<Vec<Claim>, StoreError>;

    /// [`claim`](Store::claim) and hand out each claimed task's full payload
    /// in the same transaction (direct invocation: no fetch round trip).
    async fn claim_payloads(&self, limit: u32, now: Millis) -> Result<Vec<TaskPayload>, StoreError>;

    /// Finish the current attempt; `final_events` and, on success, the
    /// operator's `state` writes commit in the same transaction as the
    /// completion, or not at all.
    async fn complete(&self, auth: &AttemptAuth, outcome: &Outcome, final_events: &[EmittedEvent], state: &StateWrites, now: Millis) -> Result<Completed, StoreError>;

    /// Several completions in one transaction (commit count is the cost of a
    /// queue). Each is judged on its own against one snapshot of the batch's
    /// tasks: a refused one (stale, finished, bad output) writes nothing and
    /// reports its error, the others commit. Only a database failure fails
    /// the whole batch.
    async fn complete_many(&self, batch: &[Completion], now: Millis) -> Result<Vec<Result<Completed, StoreError>>, StoreError>;

    /// The task's payload for its current attempt, with its job's state.
    async fn fetch(&self, task: TaskId) -> Result<TaskPayload, StoreError>;

    /// [`fetch`](Store::fetch) for a worker that received the task from the
    /// queue: the first to take a running attempt runs it; a second (the
    /// message was delivered twice) is told [`Taken::Duplicate`] and the
    /// attempt counts it.
    async fn take(&self, task: TaskId, now: Millis) -> Result<Taken, StoreError>;

    /// Tasks of an org that are pending or running.
    async fn open_tasks(&self, org: OrgId) -> Result<i64, StoreError>;

    /// Task counts of an org by status.
    async fn status_counts(&self, org: OrgId) -> Result<Vec<(TaskStatus, i64)>, StoreError>;

    /// Open tasks of every org: how deep the queue is at `now`.
    async fn queue_depth(&self, now: Millis) -> Result<QueueDepth, StoreError>;

    /// Time out attempts past their deadline: retry with backoff until
    /// `max_attempts`, then fail the task.
    async fn reap(&self, now: Millis) -> Result<Reaped, StoreError>;

    /// Cancel a task: a pending one at once, a running one cooperatively
    /// (its fetch then says `Canceled`).
    async fn cancel(&self, task: TaskId, actor: &str, now: Millis) -> Result<TaskStatus, StoreError>;

    /// Give a failed task one more attempt, from now; a task in any other
    /// state is left as it is. Returns its status afterwards.
    async fn retry(&self, task: TaskId, actor: &str, now: Millis) -> Result<TaskStatus, StoreError>;

    /// A task as the worker fetches it.
    async fn task(&self, task: TaskId) -> Result<TaskView, StoreError>;

    /// Tasks of a job, oldest first.
    async fn tasks_of_job(&self, job: JobId) -> Result<Vec<TaskView>, StoreError>;

    /// The org called `name`, if any.
    async fn org_id(&self, name: &str) -> Result<Option<OrgId>, StoreError>;

    /// Job `job` of DAG `dag`'s active version in `org`, if any.
    async fn active_job(&self, org: OrgId, dag: &str, job: &str) -> Result<Option<JobId>, StoreError>;

    /// Tasks of an org, newest first, at most `limit`.
    async fn tasks_of_org(&self, org: OrgId, limit: u32) -> Result<Vec<TaskView>, StoreError>;

    /// Failed tasks of an org with their last errors, newest first, at most
    /// `limit`.
    async fn failed_tasks(&self, org: OrgId, limit: u32) -> Result<Vec<TaskView>, StoreError>;

    /// Attempts of a task, oldest first.
    async fn attempts(&self, task: TaskId) -> Result<Vec<AttemptView>, StoreError>;

    /// Number of events recorded for an org.
    async fn event_count(&self, org: OrgId) -> Result<i64, StoreError>;
}
