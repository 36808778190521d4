//! [`Db`]: either backend behind one concrete type, so that callers (the
//! dispatcher, workers, the API) can hold one without being generic and can
//! move its futures across threads.

use trace_dag::Dag;

use crate::error::StoreError;
use crate::model::*;
use crate::batch_queries::{BatchEnd, BatchQueries, BatchQueryView};
use crate::buffered::{BufferCommit, Buffered, BufferedDataset};
use crate::secrets::{SecretView, Secrets};
use crate::slot_lease::{SlotLease, SlotLeases};
use crate::usage::{UsageRecords, UsageSummary};
use crate::history::{DagVersionView, DatasetVersionView, History};
use crate::quotas::{Quota, QuotaUsage, Quotas};
use crate::staged::StagedFiles;
use crate::deliveries::{AfterAttempt, AttemptRecord, Deliveries, DeliveryAttemptView, DeliveryView, DestinationSpec, DestinationView, LeasedDelivery};
use trace_protocol::buffered::{BufferedRead, BufferedRows, Value};
use crate::lifecycle::{Lifecycle, Purged, RolledBack};
use crate::registry::{AuditEntry, DatasetView, Principal, Registry, Role, UserId, VersionRead};
use crate::{PgStore, SqliteStore, Store};

/// The system database, whichever backend it is.
#[derive(Clone)]
pub enum Db {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

macro_rules! both {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Db::Postgres($s) => $call,
            Db::Sqlite($s) => $call,
        }
    };
}

impl Db {
    /// Open by URL: `postgres://…` or `sqlite:PATH`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        match url.strip_prefix("sqlite:") {
            Some(path) => Ok(Db::Sqlite(SqliteStore::open(std::path::Path::new(path)).await?)),
            None => Ok(Db::Postgres(PgStore::connect(url, 16).await?)),
        }
    }
}

impl Store for Db {
    async fn migrate(&self) -> Result<(), StoreError> {
        both!(self, s => s.migrate().await)
    }
    async fn create_org(&self, name: &str, now: Millis) -> Result<OrgId, StoreError> {
        both!(self, s => s.create_org(name, now).await)
    }
    async fn deploy(&self, org: OrgId, dag: &Dag, yaml: &str, actor: &str, now: Millis) -> Result<Deployed, StoreError> {
        both!(self, s => s.deploy(org, dag, yaml, actor, now).await)
    }
    async fn stage(&self, org: OrgId, dag: &Dag, yaml: &str, actor: &str, now: Millis) -> Result<Deployed, StoreError> {
        both!(self, s => s.stage(org, dag, yaml, actor, now).await)
    }
    async fn version_job(&self, org: OrgId, dag: &str, version: i32, job: &str) -> Result<Option<JobId>, StoreError> {
        both!(self, s => s.version_job(org, dag, version, job).await)
    }
    async fn trigger(&self, job: JobId, run_id: &str, range: Option<(u64, u64)>, actor: &str, now: Millis) -> Result<Ingested, StoreError> {
        both!(self, s => s.trigger(job, run_id, range, actor, now).await)
    }
    async fn trigger_many(&self, job: JobId, runs: &[(String, (u64, u64))], actor: &str, now: Millis) -> Result<Vec<Ingested>, StoreError> {
        both!(self, s => s.trigger_many(job, runs, actor, now).await)
    }
    async fn run_progress(&self, job: JobId, run_prefix: &str) -> Result<RunProgress, StoreError> {
        both!(self, s => s.run_progress(job, run_prefix).await)
    }
    async fn post_events(&self, auth: &AttemptAuth, events: &[EmittedEvent], now: Millis) -> Result<Vec<Ingested>, StoreError> {
        both!(self, s => s.post_events(auth, events, now).await)
    }
    async fn claim(&self, limit: u32, now: Millis) -> Result<Vec<Claim>, StoreError> {
        both!(self, s => s.claim(limit, now).await)
    }
    async fn claim_payloads(&self, limit: u32, now: Millis) -> Result<Vec<TaskPayload>, StoreError> {
        both!(self, s => s.claim_payloads(limit, now).await)
    }
    async fn complete(&self, auth: &AttemptAuth, outcome: &Outcome, final_events: &[EmittedEvent], state: &StateWrites, now: Millis) -> Result<Completed, StoreError> {
        both!(self, s => s.complete(auth, outcome, final_events, state, now).await)
    }
    async fn complete_many(&self, batch: &[Completion], now: Millis) -> Result<Vec<Result<Completed, StoreError>>, StoreError> {
        both!(self, s => s.complete_many(batch, now).await)
    }
    async fn take(&self, task: TaskId, now: Millis) -> Result<Taken, StoreError> {
        both!(self, s => s.take(task, now).await)
    }
    async fn fetch(&self, task: TaskId) -> Result<TaskPayload, StoreError> {
        both!(self, s => s.fetch(task).await)
    }
    async fn open_tasks(&self, org: OrgId) -> Result<i64, StoreError> {
        both!(self, s => s.open_tasks(org).await)
    }
    async fn status_counts(&self, org: OrgId) -> Result<Vec<(TaskStatus, i64)>, StoreError> {
        both!(self, s => s.status_counts(org).await)
    }
    async fn queue_depth(&self, now: Millis) -> Result<QueueDepth, StoreError> {
        both!(self, s => s.queue_depth(now).await)
    }
    async fn reap(&self, now: Millis) -> Result<Reaped, StoreError> {
        both!(self, s => s.reap(now).await)
    }
    async fn cancel(&self, task: TaskId, actor: &str, now: Millis) -> Result<TaskStatus, StoreError> {
        both!(self, s => s.cancel(task, actor, now).await)
    }
    async fn retry(&self, task: TaskId, actor: &str, now: Millis) -> Result<TaskStatus, StoreError> {
        both!(self, s => s.retry(task, actor, now).await)
    }
    async fn task(&self, task: TaskId) -> Result<TaskView, StoreError> {
        both!(self, s => s.task(task).await)
    }
    async fn tasks_of_job(&self, job: JobId) -> Result<Vec<TaskView>, StoreError> {
        both!(self, s => s.tasks_of_job(job).await)
    }
    async fn org_id(&self, name: &str) -> Result<Option<OrgId>, StoreError> {
        both!(self, s => s.org_id(name).await)
    }
    async fn active_job(&self, org: OrgId, dag: &str, job: &str) -> Result<Option<JobId>, StoreError> {
        both!(self, s => s.active_job(org, dag, job).await)
    }
    async fn tasks_of_org(&self, org: OrgId, limit: u32) -> Result<Vec<TaskView>, StoreError> {
        both!(self, s => s.tasks_of_org(org, limit).await)
    }
    async fn failed_tasks(&self, org: OrgId, limit: u32) -> Result<Vec<TaskView>, StoreError> {
        both!(self, s => s.failed_tasks(org, limit).await)
    }
    async fn attempts(&self, task: TaskId) -> Result<Vec<AttemptView>, StoreError> {
        both!(self, s => s.attempts(task).await)
    }
    async fn event_count(&self, org: OrgId) -> Result<i64, StoreError> {
        both!(self, s => s.event_count(org).await)
    }
}

impl Registry for Db {
    async fn create_user(&self, org: OrgId, name: &str, role: Role, actor: &str, now: Millis) -> Result<UserId, StoreError> {
        both!(self, s => s.create_user(org, name, role, actor, now).await)
    }
    async fn create_token(&self, user: UserId, label: &str, actor: &str, now: Millis) -> Result<String, StoreError> {
        both!(self, s => s.create_token(user, label, actor, now).await)
    }
    async fn revoke_tokens(&self, user: UserId, actor: &str, now: Millis) -> Result<u64, StoreError> {
        both!(self, s => s.revoke_tokens(user, actor, now).await)
    }
    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        both!(self, s => s.authenticate(token).await)
    }
    async fn user(&self, org: OrgId, name: &str) -> Result<Option<UserId>, StoreError> {
        both!(self, s => s.user(org, name).await)
    }
    async fn datasets(&self, org: OrgId) -> Result<Vec<DatasetView>, StoreError> {
        both!(self, s => s.datasets(org).await)
    }
    async fn partitions(&self, org: OrgId, dataset: &str) -> Result<Vec<PartitionView>, StoreError> {
        both!(self, s => s.partitions(org, dataset).await)
    }
    async fn version_partitions(&self, org: OrgId, dataset: &str, version: &str) -> Result<VersionRead, StoreError> {
        both!(self, s => s.version_partitions(org, dataset, version).await)
    }
    async fn partition_files(&self, org: OrgId) -> Result<Vec<(String, String)>, StoreError> {
        both!(self, s => s.partition_files(org).await)
    }
    async fn audit_tail(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        both!(self, s => s.audit_tail(limit).await)
    }
    async fn set_read_roles(&self, org: OrgId, dataset: &str, roles: &[String], actor: &str, now: Millis) -> Result<(), StoreError> {
        both!(self, s => s.set_read_roles(org, dataset, roles, actor, now).await)
    }
}

impl Lifecycle for Db {
    async fn rollback(&self, org: OrgId, dag: &str, actor: &str, now: Millis) -> Result<RolledBack, StoreError> {
        both!(self, s => s.rollback(org, dag, actor, now).await)
    }
    async fn cutover(&self, org: OrgId, dag: &str, version: i32, actor: &str, now: Millis) -> Result<RolledBack, StoreError> {
        both!(self, s => s.cutover(org, dag, version, actor, now).await)
    }
    async fn rematerialize(&self, org: OrgId, dag: &str, version: i32, actor: &str, now: Millis) -> Result<u64, StoreError> {
        both!(self, s => s.rematerialize(org, dag, version, actor, now).await)
    }
    async fn purge_version(&self, org: OrgId, dataset: &str, version_uuid: &str, actor: &str, now: Millis) -> Result<Purged, StoreError> {
        both!(self, s => s.purge_version(org, dataset, version_uuid, actor, now).await)
    }
}

impl BatchQueries for Db {
    async fn start_batch_query(&self, org: OrgId, actor: &str, sql: &str, now: Millis, deadline: Millis) -> Result<String, StoreError> {
        both!(self, s => s.start_batch_query(org, actor, sql, now, deadline).await)
    }
    async fn end_batch_query(&self, id: &str, end: &BatchEnd, now: Millis) -> Result<(), StoreError> {
        both!(self, s => s.end_batch_query(id, end, now).await)
    }
    async fn batch_query(&self, org: OrgId, id: &str, now: Millis) -> Result<Option<BatchQueryView>, StoreError> {
        both!(self, s => s.batch_query(org, id, now).await)
    }
}

impl Buffered for Db {
    async fn buffered_datasets(&self) -> Result<Vec<BufferedDataset>, StoreError> {
        both!(self, s => s.buffered_datasets().await)
    }
    async fn commit_buffered(&self, rows: &BufferedRows, now: Millis) -> Result<BufferCommit, StoreError> {
        both!(self, s => s.commit_buffered(rows, now).await)
    }
    async fn read_buffered(&self, auth: &AttemptAuth, input: u32) -> Result<BufferedRead, StoreError> {
        both!(self, s => s.read_buffered(auth, input).await)
    }
    async fn buffer_messages(&self, auth: &AttemptAuth, output: u32, rows: Vec<Vec<Value>>) -> Result<Vec<BufferedRows>, StoreError> {
        both!(self, s => s.buffer_messages(auth, output, rows).await)
    }
}

impl Deliveries for Db {
    async fn set_destination(&self, org: OrgId, spec: &DestinationSpec<'_>, actor: &str, now: Millis) -> Result<(), StoreError> {
        both!(self, s => s.set_destination(org, spec, actor, now).await)
    }
    async fn destinations(&self, org: OrgId) -> Result<Vec<DestinationView>, StoreError> {
        both!(self, s => s.destinations(org).await)
    }
    async fn delete_destination(&self, org: OrgId, name: &str, actor: &str, now: Millis) -> Result<(), StoreError> {
        both!(self, s => s.delete_destination(org, name, actor, now).await)
    }
    async fn lease_deliveries(&self, owner: &str, now: Millis, lease_ms: i64, limit: u32) -> Result<Vec<LeasedDelivery>, StoreError> {
        both!(self, s => s.lease_deliveries(owner, now, lease_ms, limit).await)
    }
    async fn record_attempts(&self, owner: &str, done: &[(i64, AttemptRecord, AfterAttempt)]) -> Result<Vec<bool>, StoreError> {
        both!(self, s => s.record_attempts(owner, done).await)
    }
    async fn deliveries(&self, org: OrgId, status: Option<&str>, limit: u32) -> Result<Vec<DeliveryView>, StoreError> {
        both!(self, s => s.deliveries(org, status, limit).await)
    }
    async fn delivery(&self, org: OrgId, id: i64) -> Result<Option<(DeliveryView, Vec<DeliveryAttemptView>)>, StoreError> {
        both!(self, s => s.delivery(org, id).await)
    }
    async fn delivery_counts(&self, org: OrgId) -> Result<Vec<(String, i64)>, StoreError> {
        both!(self, s => s.delivery_counts(org).await)
    }
    async fn retry_delivery(&self, org: OrgId, id: i64, actor: &str, now: Millis) -> Result<(), StoreError> {
        both!(self, s => s.retry_delivery(org, id, actor, now).await)
    }
}

impl Secrets for Db {
    async fn set_secret(&self, org: OrgId, name: &str, sealed: &str, actor: &str, now: Millis) -> Result<(), StoreError> {
        both!(self, s => s.set_secret(org, name, sealed, actor, now).await)
    }
    async fn secrets(&self, org: OrgId) -> Result<Vec<SecretView>, StoreError> {
        both!(self, s => s.secrets(org).await)
    }
    async fn sealed_secret(&self, org: OrgId, name: &str) -> Result<Option<String>, StoreError> {
        both!(self, s => s.sealed_secret(org, name).await)
    }
    async fn delete_secret(&self, org: OrgId, name: &str, actor: &str, now: Millis) -> Result<(), StoreError> {
        both!(self, s => s.delete_secret(org, name, actor, now).await)
    }
}

impl SlotLeases for Db {
    async fn slot_lease(&self, auth: &AttemptAuth) -> Result<SlotLease, StoreError> {
        both!(self, s => s.slot_lease(auth).await)
    }
    async fn job_slot(&self, job: i64, index: u32) -> Result<(Option<trace_protocol::rpc::RpcSettings>, SlotLease), StoreError> {
        both!(self, s => s.job_slot(job, index).await)
    }
    async fn followed_to(&self, job: i64) -> Result<Option<u64>, StoreError> {
        both!(self, s => s.followed_to(job).await)
    }
}

impl UsageRecords for Db {
    async fn task_usage(&self, task: TaskId) -> Result<Vec<(i32, AttemptUsage)>, StoreError> {
        both!(self, s => s.task_usage(task).await)
    }
    async fn usage_summary(&self, org: OrgId, since: Millis, until: Millis, bucket_ms: i64) -> Result<Vec<UsageSummary>, StoreError> {
        both!(self, s => s.usage_summary(org, since, until, bucket_ms).await)
    }
}

impl History for Db {
    async fn dag_versions(&self, org: OrgId) -> Result<Vec<DagVersionView>, StoreError> {
        both!(self, s => s.dag_versions(org).await)
    }
    async fn dataset_versions(&self, org: OrgId, dataset: &str) -> Result<Vec<DatasetVersionView>, StoreError> {
        both!(self, s => s.dataset_versions(org, dataset).await)
    }
}

impl StagedFiles for Db {
    async fn org_ids(&self) -> Result<Vec<OrgId>, StoreError> {
        both!(self, s => s.org_ids().await)
    }
    async fn live_attempts(&self, tasks: &[i64]) -> Result<std::collections::HashSet<(i64, i32)>, StoreError> {
        both!(self, s => s.live_attempts(tasks).await)
    }
    async fn committed_files(&self, tasks: &[i64]) -> Result<Vec<(String, String)>, StoreError> {
        both!(self, s => s.committed_files(tasks).await)
    }
}

impl Quotas for Db {
    async fn set_quota(&self, org: OrgId, quota: &Quota, actor: &str, now: Millis) -> Result<(), StoreError> {
        both!(self, s => s.set_quota(org, quota, actor, now).await)
    }
    async fn quota(&self, org: OrgId) -> Result<Option<Quota>, StoreError> {
        both!(self, s => s.quota(org).await)
    }
    async fn quota_usage(&self, org: OrgId, now: Millis) -> Result<QuotaUsage, StoreError> {
        both!(self, s => s.quota_usage(org, now).await)
    }
}
