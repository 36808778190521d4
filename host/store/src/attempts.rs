//! Attempts, set-based: claims start them and completions end them. Statement count is what a
//! database-backed queue pays for (commits are already batched): a batch of
//! tasks costs a handful of statements here, not a handful per task. Each
//! report in a batch is still judged on its own — against a snapshot read
//! once for the whole batch — and refused reports write nothing, so no
//! savepoints are needed.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;

use crate::backend::{new_credential, Produced, StoreSteps};
use crate::error::{DbContext, StoreError};
use crate::invalidate::{Invalidate, Rewrite};
use crate::model::*;
use crate::gate::{admit, Admitted, Seen, SeenAttempt};
use crate::sql::{self, overlap_bounds};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::{Affected, Conn, Dialect};

/// Rows per multi-row statement (6 parameters each for attempts).
const CHUNK: usize = 500;

// Statements over a set of ids take the set as `list`: `IN ($k, …)` on
// SQLite, one array parameter unnested on PostgreSQL — see `id_list`.

fn running_of_jobs(list: &str) -> String {
    format!("SELECT job_id, COUNT(*) FROM tasks WHERE status = 'running' AND job_id {list} GROUP BY job_id")
}

/// Start the tasks in `list` that are still pending, returning each one's
/// new attempt number.
fn mark_running(list: &str) -> String {
    format!(
        "UPDATE tasks SET status = 'running', attempts = attempts + 1, updated_at = $1 \
         WHERE id {list} AND status = 'pending' RETURNING id, attempts"
    )
}

/// Every reported task with all its attempts (a task has few).
fn snapshot(list: &str) -> String {
    format!(
        "SELECT t.id, t.status, t.attempts, t.job_id, j.max_attempts, j.outputs, t.org_id, \
         a.attempt, a.id, a.credential, a.finished_at, a.outcome, a.slot_id \
         FROM tasks t JOIN jobs j ON j.id = t.job_id LEFT JOIN task_attempts a ON a.task_id = t.id \
         WHERE t.id {list}"
    )
}

fn finish_attempts(list: &str) -> String {
    format!("UPDATE task_attempts SET finished_at = $1, outcome = $2 WHERE id {list}")
}

fn set_statuses(list: &str) -> String {
    format!("UPDATE tasks SET status = $1, updated_at = $2, last_error = NULL WHERE id {list}")
}

/// A job's wired inputs.
const JOB_INPUTS: &str = "SELECT input_index, from_job_id, from_output, from_dataset FROM job_inputs WHERE job_id = $1 ORDER BY input_index";
/// The dataset version job `$1`'s output `$2` feeds, as its DAG version points.
const FEED_FROM_JOB: &str = "SELECT d.uuid, v.uuid, v.id FROM jobs fj \
     JOIN dag_dataset_pointers p ON p.dag_version_id = fj.dag_version_id \
     JOIN datasets d ON d.id = p.dataset_id AND d.producer_job = fj.name AND d.output_index = $2 \
     JOIN dataset_versions v ON v.id = p.dataset_version_id WHERE fj.id = $1";
/// The current version of published dataset `$2` in org `$1` (a shared read).
const FEED_FROM_DATASET: &str = "SELECT d.uuid, v.uuid, v.id FROM datasets d JOIN dags g ON g.id = d.dag_id \
     JOIN dag_dataset_pointers p ON p.dag_version_id = g.active_version_id AND p.dataset_id = d.id \
     JOIN dataset_versions v ON v.id = p.dataset_version_id WHERE d.org_id = $1 AND d.name = $2 AND d.published = 1";
/// Who deployed job `$3`'s DAG version, with their role in org `$1` (if a
/// user), whether they deployed the DAG producing dataset `$2` too, and the
/// dataset's `read_roles`: what a shared read is checked against at claim.
const SHARED_READ_GRANT: &str = "SELECT rv.deployed_by, u.role, d.read_roles, \
     (SELECT COUNT(*) FROM dag_versions pv WHERE pv.dag_id = d.dag_id AND pv.deployed_by = rv.deployed_by) \
     FROM jobs rj JOIN dag_versions rv ON rv.id = rj.dag_version_id \
     JOIN datasets d ON d.org_id = $1 AND d.name = $2 \
     LEFT JOIN users u ON u.org_id = $1 AND 'user:' || u.name = rv.deployed_by \
     WHERE rj.id = $3";

/// Whether a DAG version deployed by `deployer` may still read a dataset
/// (the API checked it at deploy; an admin may have changed `read_roles` or
/// the user's role since). Versions deployed by an operator on the system
/// database itself (not `user:…`) are trusted like an admin.
fn shared_read_allowed(deployer: &str, role: Option<&str>, read_roles: &str, deployed_producer: bool) -> bool {
    if !deployer.starts_with("user:") {
        return true;
    }
    let Some(role) = role else { return false };
    let read_roles: Vec<String> = serde_json::from_str(read_roles).unwrap_or_default();
    role == "admin" || deployed_producer || read_roles.iter().any(|r| r == role)
}

/// Whether version `$1` has any committed file (not how many: this runs per
/// claim batch).
const HAS_PARTITIONS: &str = "SELECT 1 FROM dataset_partitions WHERE dataset_version_id = $1 LIMIT 1";
/// Partitions of version `$1` overlapping `[$2, $3)`, or keyed `$4` (or
/// appended to key `$4`).
const FEED_PARTITIONS: &str = "SELECT partition_key, range_start, range_end, object_key, row_count, byte_count, staging_key \
     FROM dataset_partitions WHERE dataset_version_id = $1 \
     AND ((range_start IS NOT NULL AND range_start < $3 AND range_end > $2) OR partition_key = $4 OR scope = $4) \
     ORDER BY range_start, partition_key LIMIT $5";

/// Most partitions one input of one task reads.
pub const MAX_INPUT_PARTITIONS: usize = 10_000;

/// Where a job's outputs go, for its DAG version: output, version uuid,
/// version row id, dataset uuid, update strategy, unique key.
const OUTPUT_VERSIONS: &str = "SELECT d.output_index, v.uuid, v.id, d.uuid, j.update_strategy, j.unique_key FROM jobs j \
     JOIN dag_dataset_pointers p ON p.dag_version_id = j.dag_version_id \
     JOIN datasets d ON d.id = p.dataset_id AND d.producer_job = j.name \
     JOIN dataset_versions v ON v.id = p.dataset_version_id WHERE j.id = $1 ORDER BY d.output_index";

/// Files of version `$1` covering `[$2, $3)` or added to key `$4`, with
/// their task: what an append is checked against at commit.
const APPENDED_COVER: &str = "SELECT object_key, task_id FROM dataset_partitions WHERE dataset_version_id = $1 \
     AND ((range_start IS NOT NULL AND range_start < $3 AND range_end > $2) OR partition_key = $4 OR scope = $4)";
/// Serializes appends to one dataset version (PostgreSQL; SQLite has one
/// writer). `NO KEY UPDATE`: appends exclude each other, while other
/// writers' foreign-key checks on the version (`KEY SHARE`) go on.
const LOCK_VERSION: &str = "SELECT id FROM dataset_versions WHERE id = $1";
const LOCK_VERSION_PG: &str = " FOR NO KEY UPDATE";

/// An appended file and what it would add to, as accepted so far in a batch.
struct Added {
    task: TaskId,
    version: i64,
    range: Option<(u64, u64)>,
    scope: String,
}

/// Whether appended file `w` (of `task`, version `version`) was
/// deduplicated against everything now committed to its range or key, and
/// everything accepted before it in this batch.
fn append_is_current(w: &WrittenPartition, task: TaskId, version: i64, committed: &[(String, TaskId)], added: &[Added]) -> bool {
    let overlaps = |a: &Added| {
        a.task != task
            && a.version == version
            && match (a.range, w.range) {
                (Some((s1, e1)), Some((s2, e2))) => s1 < e2 && s2 < e1,
                _ => Some(&a.scope) == w.scope.as_ref(),
            }
    };
    committed.iter().all(|(key, by)| *by == task || w.deduped_against.contains(key)) && !added.iter().any(overlaps)
}

/// A success that lost an append race becomes a retry (or, out of
/// attempts, a failure): nothing of it is written.
fn into_retry(mut plan: Plan, message: String) -> Plan {
    let retry = plan.attempt < plan.admitted.max_attempts;
    plan.attempt_outcome = "failed";
    plan.status = if retry { TaskStatus::Pending } else { TaskStatus::Failed };
    plan.error = Some(message);
    plan.partition_versions.clear();
    plan
}

/// The task that committed version `$1`'s partition `$2`, if any.
const PRIOR_WRITER: &str = "SELECT task_id FROM dataset_partitions WHERE dataset_version_id = $1 AND partition_key = $2";

const UPSERT_PARTITION: &str = "INSERT INTO dataset_partitions (dataset_version_id, partition_key, range_start, range_end, \
     object_key, staging_key, row_count, byte_count, task_id, attempt, created_at, scope) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (dataset_version_id, partition_key) DO UPDATE SET range_start = excluded.range_start, \
     range_end = excluded.range_end, object_key = excluded.object_key, staging_key = excluded.staging_key, \
     row_count = excluded.row_count, byte_count = excluded.byte_count, task_id = excluded.task_id, \
     attempt = excluded.attempt, created_at = excluded.created_at";

/// (output, version uuid, version row id, dataset uuid) of a job's outputs.
type Targets = Vec<(u32, String, i64, String)>;

fn payloads(list: &str) -> String {
    format!("{} WHERE t.id {list}", sql::PAYLOAD_SELECT)
}

fn job_payloads(list: &str) -> String {
    format!("{} WHERE j.id {list}", sql::JOB_PAYLOAD_SELECT)
}

/// The part of a payload that every task of a job shares.
pub(crate) struct JobPart {
    name: String,
    kind: TaskKind,
    operator: String,
    config: String,
    outputs: i32,
    timeout_ms: i64,
    dag: i64,
}

/// What an accepted report changes.
pub(crate) struct Plan {
    task: TaskId,
    attempt: i32,
    admitted: Admitted,
    attempt_outcome: &'static str,
    status: TaskStatus,
    error: Option<String>,
    /// The dataset-version row of each of the report's partitions.
    partition_versions: Vec<i64>,
}

/// Each written partition must belong to one of the task's own output
/// targets and sit under that version's path: a worker cannot register a
/// file into another job's (or tenant's) dataset.
fn check_partitions(c: &Completion, org: OrgId, targets: Option<&Targets>) -> Result<Vec<i64>, StoreError> {
    c.partitions
        .iter()
        .map(|p| {
            let bad = |why: String| StoreError::BadPartition { task: c.auth.task, output: p.output, why };
            let (_, _, version_id, dataset_uuid) = targets
                .and_then(|t| t.iter().find(|(o, v, _, _)| *o == p.output && *v == p.version_uuid))
                .ok_or_else(|| bad(format!("dataset version {} is not where this job's output goes", p.version_uuid)))?;
            let prefix = format!("org/{org}/dataset/{dataset_uuid}/version/{}/", p.version_uuid);
            if !p.object_key.starts_with(&prefix) || p.object_key.contains("..") {
                return Err(bad(format!("object key {:?} is not under {prefix:?}", p.object_key)));
            }
            Ok(*version_id)
        })
        .collect()
}

fn judge(c: &Completion, seen: Option<&Seen>, taken: &HashMap<TaskId, TaskStatus>, targets: &HashMap<JobId, Targets>) -> Result<Plan, StoreError> {
    let admitted = admit(&c.auth, seen, taken)?;
    let (attempt_outcome, status, error) = match &c.outcome {
        Outcome::Succeeded => ("succeeded", TaskStatus::Completed, None),
        Outcome::Canceled => ("canceled", TaskStatus::Canceled, None),
        Outcome::Failed { retryable, message } => {
            let retry = *retryable && c.auth.attempt < admitted.max_attempts;
            ("failed", if retry { TaskStatus::Pending } else { TaskStatus::Failed }, Some(message.clone()))
        }
    };
    let mut partition_versions = Vec::new();
    if status == TaskStatus::Completed {
        // Check every event and file before writing any.
        if let Some(e) = c.events.iter().find(|e| i64::from(e.output) >= i64::from(admitted.outputs)) {
            return Err(StoreError::NoSuchOutput { job: admitted.job, output: e.output, outputs: admitted.outputs });
        }
        partition_versions = check_partitions(c, admitted.org, targets.get(&admitted.job))?;
    }
    Ok(Plan { task: c.auth.task, attempt: c.auth.attempt, admitted, attempt_outcome, status, error, partition_versions })
}

/// A partition row: key, range start, range end, object key, rows, bytes,
/// staging key.
pub(crate) fn partition_view<R: Row>(r: &R) -> PartitionView
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let (start, end): (Option<i64>, Option<i64>) = (r.get(1), r.get(2));
    PartitionView {
        partition_key: r.get(0),
        range: start.zip(end).map(|(s, e)| (s as u64, e as u64)),
        object_key: r.get(3),
        rows: r.get::<i64, _>(4) as u64,
        bytes: r.get::<i64, _>(5) as u64,
        staging_key: r.get(6),
    }
}

/// Claims and completions, set-based (see the module's doc).
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait ClaimAndComplete: Dialect {
    fn payload_of(&self, r: &<Self::Db as Database>::Row, job: &JobPart) -> TaskPayload;
    async fn job_parts(&self, tx: &mut Conn<Self>, jobs: &[JobId]) -> Result<HashMap<JobId, JobPart>, StoreError>;
    async fn claim_in(&self, tx: &mut Conn<Self>, limit: u32, now: Millis) -> Result<Vec<Claim>, StoreError>;
    async fn payloads_in(&self, tx: &mut Conn<Self>, tasks: &[TaskId]) -> Result<Vec<TaskPayload>, StoreError>;
    async fn covered_partitions(&self, tx: &mut Conn<Self>, p: &TaskPayload, version: i64) -> Result<Option<Vec<PartitionView>>, StoreError>;
    async fn check_appends(&self, tx: &mut Conn<Self>, batch: &[Completion], plans: Vec<Result<Plan, StoreError>>) -> Result<Vec<Result<Plan, StoreError>>, StoreError>;
    async fn snapshot_in(&self, tx: &mut Conn<Self>, ids: &[TaskId]) -> Result<HashMap<TaskId, Seen>, StoreError>;
    async fn complete_in(&self, tx: &mut Conn<Self>, batch: &[Completion], now: Millis) -> Result<Vec<Result<Completed, StoreError>>, StoreError>;
}

impl<S> ClaimAndComplete for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    <S::Db as Database>::QueryResult: Affected,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i32: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i32>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Vec<u8>: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> Vec<u8>: Decode<'r, S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db>,
    for<'r> Option<i32>: Decode<'r, S::Db>,
    for<'r> Option<String>: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    /// A payload from its task row ([`sql::PAYLOAD_SELECT`]) and its job's part.
    fn payload_of(&self, r: &<Self::Db as Database>::Row, job: &JobPart) -> TaskPayload {
        let task: TaskId = r.get(0);
        let attempt: i32 = r.get(4);
        let credential: Option<String> = r.get(5);
        let start: Option<i64> = r.get(8);
        let end: Option<i64> = r.get(9);
        TaskPayload {
            task,
            job: r.get(1),
            job_name: job.name.clone(),
            kind: job.kind,
            operator: job.operator.clone(),
            config: job.config.clone(),
            outputs: job.outputs,
            // Counted from the job's wiring in `payloads_in`.
            inputs: 0,
            status: TaskStatus::parse(r.get::<String, _>(2).as_str()),
            cancel_requested: r.get::<i32, _>(3) != 0,
            attempt: credential.map(|credential| AttemptAuth { task, attempt, credential }),
            deadline: r.get(6),
            timeout_ms: job.timeout_ms,
            partition_key: r.get(7),
            range: start.zip(end).map(|(s, e)| (s as u64, e as u64)),
            cursor: r.get(10),
            org: r.get(11),
            dag: job.dag,
            state: Vec::new(),
            outputs_to: Vec::new(),
            inputs_from: Vec::new(),
            refusal: None,
        }
    }

    /// The shared part of the payloads of `jobs`' tasks.
    async fn job_parts(&self, tx: &mut Conn<Self>, jobs: &[JobId]) -> Result<HashMap<JobId, JobPart>, StoreError> {
        let query = self.bind_ids(sqlx::query(self.dynamic(job_payloads(&self.id_list(1, jobs.len())))), jobs);
        let rows = query.fetch_all(&mut *tx).await.during("reading jobs of task payloads")?;
        Ok(rows.iter().map(|r| {
            let part = JobPart {
                name: r.get(1),
                // Written only from the DAG's two kinds at deploy.
                kind: TaskKind::parse(r.get::<String, _>(2).as_str()).unwrap_or(TaskKind::Transform),
                operator: r.get(3),
                config: r.get(4),
                outputs: r.get(5),
                timeout_ms: r.get(6),
                dag: r.get(7),
            };
            (r.get::<i64, _>(0), part)
        }).collect())
    }

    /// Lease up to `limit` runnable tasks inside `tx` (see [`crate::Store::claim`]).
    async fn claim_in(&self, tx: &mut Conn<Self>, limit: u32, now: Millis) -> Result<Vec<Claim>, StoreError> {
        let rows = sqlx::query(self.q(sql::CANDIDATES)).bind(now).bind(i64::from(limit)).fetch_all(&mut *tx).await.during("finding runnable tasks")?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let jobs: Vec<i64> = rows.iter().map(|r| r.get::<i64, _>(1)).collect::<BTreeSet<_>>().into_iter().collect();
        self.lock_jobs(&mut *tx, &jobs).await?;
        let query = self.bind_ids(sqlx::query(self.dynamic(running_of_jobs(&self.id_list(1, jobs.len())))), &jobs);
        let mut running: HashMap<i64, i64> =
            query.fetch_all(&mut *tx).await.during("counting running tasks")?.iter().map(|r| (r.get(0), r.get(1))).collect();
        // (task, job, slot, deadline) of each task metering admits.
        let mut chosen: Vec<(TaskId, JobId, Option<i64>, Millis)> = Vec::new();
        for row in rows {
            let (task, job): (i64, i64) = (row.get(0), row.get(1));
            let concurrency = i64::from(row.get::<i32, _>(2));
            let pool: Option<String> = row.get(3);
            let count = running.entry(job).or_insert(0);
            if *count >= concurrency {
                continue;
            }
            // Pooled jobs lease a slot each (rare: one statement per task).
            let slot: Option<i64> = match &pool {
                None => None,
                Some(pool) => {
                    let leased: Option<i64> = sqlx::query_scalar(self.q(sql::LEASE_SLOT)).bind(task).bind(row.get::<i64, _>(4)).bind(pool)
                        .fetch_optional(&mut *tx).await.during("leasing a slot")?;
                    if leased.is_none() {
                        continue;
                    }
                    leased
                }
            };
            *count += 1;
            chosen.push((task, job, slot, now + row.get::<i64, _>(5)));
        }
        // Candidates were read without row locks: a task another
        // dispatcher claimed (or a cancel settled) meanwhile is no
        // longer pending, and the update passes it over. The jobs'
        // locks make the running counts above exact either way.
        let mut marked: HashMap<TaskId, i32> = HashMap::with_capacity(chosen.len());
        for chunk in chosen.chunks(CHUNK) {
            let tasks: Vec<TaskId> = chunk.iter().map(|c| c.0).collect();
            let query = self.bind_ids(sqlx::query(self.dynamic(mark_running(&self.id_list(2, tasks.len())))).bind(now), &tasks);
            let rows = query.fetch_all(&mut *tx).await.during("marking tasks running")?;
            marked.extend(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<i32, _>(1))));
        }
        let mut claims = Vec::with_capacity(marked.len());
        for (task, job, slot, deadline) in chosen {
            match marked.get(&task) {
                Some(&attempt) => claims.push(Claim { task, job, attempt, credential: new_credential(), slot, deadline }),
                None => self.release(&mut *tx, slot, task).await?,
            }
        }
        for chunk in claims.chunks(CHUNK) {
            self.insert_attempts(&mut *tx, chunk, now).await?;
        }
        Ok(claims)
    }

    /// The payloads of `tasks` inside `tx`, in the order given, with
    /// their jobs' operator state (read once per job).
    async fn payloads_in(&self, tx: &mut Conn<Self>, tasks: &[TaskId]) -> Result<Vec<TaskPayload>, StoreError> {
        let mut by_id: HashMap<TaskId, TaskPayload> = HashMap::with_capacity(tasks.len());
        let mut jobs: HashMap<JobId, JobPart> = HashMap::new();
        for chunk in tasks.chunks(CHUNK) {
            let query = self.bind_ids(sqlx::query(self.dynamic(payloads(&self.id_list(1, chunk.len())))), chunk);
            let rows = query.fetch_all(&mut *tx).await.during("reading task payloads")?;
            let new_jobs: BTreeSet<JobId> = rows.iter().map(|r| r.get::<i64, _>(1)).filter(|j| !jobs.contains_key(j)).collect();
            if !new_jobs.is_empty() {
                jobs.extend(self.job_parts(&mut *tx, &new_jobs.into_iter().collect::<Vec<_>>()).await?);
            }
            for r in rows {
                let job: JobId = r.get(1);
                let part = jobs.get(&job).ok_or(StoreError::NoSuchJob(job))?;
                let p = self.payload_of(&r, part);
                by_id.insert(p.task, p);
            }
        }
        let mut states: HashMap<(OrgId, i64, String), Vec<(String, Vec<u8>)>> = HashMap::new();
        // Per job: its targets, with the version row id of each append one.
        let mut targets: HashMap<JobId, Vec<(OutputTarget, Option<i64>)>> = HashMap::new();
        // Per job: (input, dataset uuid, version uuid, version id, has partitions).
        let mut feeds: HashMap<JobId, Vec<(u32, String, String, i64, bool)>> = HashMap::new();
        // Jobs whose deployer may no longer read a shared input: why.
        let mut denied: HashMap<JobId, String> = HashMap::new();
        // Per job: how many inputs are wired to it.
        let mut wired: HashMap<JobId, i64> = HashMap::new();
        for p in by_id.values() {
            if !feeds.contains_key(&p.job) {
                let inputs = sqlx::query(self.q(JOB_INPUTS)).bind(p.job).fetch_all(&mut *tx).await.during("reading job inputs")?;
                wired.insert(p.job, inputs.len() as i64);
                let mut resolved = Vec::new();
                for r in inputs {
                    let input = r.get::<i32, _>(0) as u32;
                    let (from_job, from_output, from_dataset): (Option<i64>, Option<i32>, Option<String>) = (r.get(1), r.get(2), r.get(3));
                    let row = match (from_job, from_dataset) {
                        (Some(job), _) => sqlx::query(self.q(FEED_FROM_JOB)).bind(job).bind(from_output.unwrap_or(0))
                            .fetch_optional(&mut *tx).await.during("resolving an input")?,
                        (None, Some(name)) => {
                            let grant = sqlx::query(self.q(SHARED_READ_GRANT)).bind(p.org).bind(&name).bind(p.job)
                                .fetch_optional(&mut *tx).await.during("checking a shared read")?;
                            let allowed = grant.as_ref().is_none_or(|g| {
                                shared_read_allowed(g.get::<String, _>(0).as_str(), g.get::<Option<String>, _>(1).as_deref(), g.get::<String, _>(2).as_str(), g.get::<i64, _>(3) > 0)
                            });
                            if allowed {
                                sqlx::query(self.q(FEED_FROM_DATASET)).bind(p.org).bind(&name)
                                    .fetch_optional(&mut *tx).await.during("resolving a shared read")?
                            } else {
                                let deployer = grant.map(|g| g.get::<String, _>(0)).unwrap_or_default();
                                denied.insert(p.job, StoreError::ReadDenied { job: p.job_name.clone(), dataset: name.clone(), deployer }.to_string());
                                None
                            }
                        }
                        (None, None) => None,
                    };
                    if let Some(row) = row {
                        let version: i64 = row.get(2);
                        let any: Option<i32> = sqlx::query_scalar(self.q(HAS_PARTITIONS)).bind(version)
                            .fetch_optional(&mut *tx).await.during("looking for partitions")?;
                        resolved.push((input, row.get(0), row.get(1), version, any.is_some()));
                    }
                }
                feeds.insert(p.job, resolved);
            }
            if !targets.contains_key(&p.job) {
                let rows = sqlx::query(self.q(OUTPUT_VERSIONS)).bind(p.job).fetch_all(&mut *tx).await.during("reading output targets")?;
                let to = rows.iter().map(|r| {
                    let append = r.get::<String, _>(4) == "append";
                    let append = append.then(|| AppendTarget {
                        unique_key: serde_json::from_str(r.get::<String, _>(5).as_str()).unwrap_or_default(),
                        existing: Vec::new(),
                    });
                    let version = append.is_some().then(|| r.get::<i64, _>(2));
                    (OutputTarget { output: r.get::<i32, _>(0) as u32, dataset_uuid: r.get(3), version_uuid: r.get(1), append }, version)
                });
                targets.insert(p.job, to.collect());
            }
            let scope = (p.org, p.dag, p.job_name.clone());
            if !states.contains_key(&scope) {
                let rows = sqlx::query(self.q(sql::STATE_OF)).bind(p.org).bind(p.dag).bind(&p.job_name)
                    .fetch_all(&mut *tx).await.during("reading operator state")?;
                states.insert(scope, rows.iter().map(|s| (s.get(0), s.get(1))).collect());
            }
        }
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            let mut p = by_id.remove(t).ok_or(StoreError::NoSuchTask(*t))?;
            p.refusal = denied.get(&p.job).cloned();
            p.inputs = wired[&p.job];
            p.state = states[&(p.org, p.dag, p.job_name.clone())].clone();
            for (target, append_version) in &targets[&p.job] {
                let mut target = target.clone();
                if let (Some(append), Some(version)) = (target.append.as_mut(), append_version) {
                    match self.covered_partitions(&mut *tx, &p, *version).await? {
                        Some(existing) => append.existing = existing,
                        None => p.refusal = Some(StoreError::TooManyAppended { task: p.task, output: target.output, limit: MAX_INPUT_PARTITIONS }.to_string()),
                    }
                }
                p.outputs_to.push(target);
            }
            for (input, dataset_uuid, version_uuid, version, has) in &feeds[&p.job] {
                let mut partitions = Vec::new();
                // Only versions with files cost a query per task.
                if *has {
                    match self.covered_partitions(&mut *tx, &p, *version).await? {
                        Some(covered) => partitions = covered,
                        None => p.refusal = Some(StoreError::TooManyPartitions { task: p.task, input: *input, limit: MAX_INPUT_PARTITIONS }.to_string()),
                    }
                }
                p.inputs_from.push(InputFeed { input: *input, dataset_uuid: dataset_uuid.clone(), version_uuid: version_uuid.clone(), partitions });
            }
            out.push(p);
        }
        Ok(out)
    }

    /// The partitions of dataset version `version` that task `p`'s
    /// event covers; `None` past [`MAX_INPUT_PARTITIONS`].
    async fn covered_partitions(&self, tx: &mut Conn<Self>, p: &TaskPayload, version: i64) -> Result<Option<Vec<PartitionView>>, StoreError> {
        let (start, end) = overlap_bounds(p.range);
        let rows = sqlx::query(self.q(FEED_PARTITIONS)).bind(version).bind(start).bind(end).bind(&p.partition_key)
            .bind(MAX_INPUT_PARTITIONS as i64 + 1).fetch_all(&mut *tx).await.during("listing covered partitions")?;
        Ok((rows.len() <= MAX_INPUT_PARTITIONS).then(|| rows.iter().map(partition_view).collect()))
    }

    /// Turn each success whose appended files raced another task's
    /// into a retry (see [`append_is_current`]).
    async fn check_appends(&self, tx: &mut Conn<Self>, batch: &[Completion], plans: Vec<Result<Plan, StoreError>>) -> Result<Vec<Result<Plan, StoreError>>, StoreError> {
        let appends = |c: &Completion| c.partitions.iter().any(|w| w.scope.is_some());
        // Sorted (a BTreeSet), so two completers lock in one order.
        let versions: Vec<i64> = batch
            .iter()
            .zip(&plans)
            .filter(|(c, _)| appends(c))
            .filter_map(|(_, p)| p.as_ref().ok())
            .flat_map(|p| p.partition_versions.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if versions.is_empty() {
            return Ok(plans);
        }
        for v in &versions {
            sqlx::query(self.locking(LOCK_VERSION, LOCK_VERSION_PG)).bind(*v).execute(&mut *tx).await.during("locking a dataset version")?;
        }
        let mut added: Vec<Added> = Vec::new();
        let mut out = Vec::with_capacity(plans.len());
        for (c, plan) in batch.iter().zip(plans) {
            let plan = match plan {
                Ok(p) if p.status == TaskStatus::Completed && appends(c) => p,
                other => {
                    out.push(other);
                    continue;
                }
            };
            let mut raced = None;
            for (w, version) in c.partitions.iter().zip(&plan.partition_versions) {
                let Some(scope) = &w.scope else { continue };
                let (start, end) = overlap_bounds(w.range);
                let committed: Vec<(String, TaskId)> = sqlx::query(self.q(APPENDED_COVER)).bind(*version).bind(start).bind(end).bind(scope)
                    .fetch_all(&mut *tx).await.during("checking an append")?
                    .iter().map(|r| (r.get(0), r.get(1))).collect();
                if !append_is_current(w, plan.task, *version, &committed, &added) {
                    raced = Some(format!(
                        "append conflict: another task added to {scope} of output {} while this one ran; retrying against its rows",
                        w.output
                    ));
                    break;
                }
            }
            match raced {
                Some(message) => out.push(Ok(into_retry(plan, message))),
                None => {
                    for (w, version) in c.partitions.iter().zip(&plan.partition_versions) {
                        if let Some(scope) = &w.scope {
                            added.push(Added { task: plan.task, version: *version, range: w.range, scope: scope.clone() });
                        }
                    }
                    out.push(Ok(plan));
                }
            }
        }
        Ok(out)
    }

    /// `tasks` (distinct) with all their attempts, as of now in `tx`.
    async fn snapshot_in(&self, tx: &mut Conn<Self>, ids: &[TaskId]) -> Result<HashMap<TaskId, Seen>, StoreError> {
        let mut seen: HashMap<TaskId, Seen> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let query = self.bind_ids(sqlx::query(self.dynamic(snapshot(&self.id_list(1, chunk.len())))), chunk);
            for r in query.fetch_all(&mut *tx).await.during("reading reported attempts")? {
                let task: TaskId = r.get(0);
                let entry = seen.entry(task).or_insert_with(|| Seen {
                    status: TaskStatus::parse(r.get::<String, _>(1).as_str()),
                    current: r.get(2),
                    job: r.get(3),
                    max_attempts: r.get(4),
                    outputs: r.get(5),
                    org: r.get(6),
                    attempts: HashMap::new(),
                });
                if let Some(attempt) = r.get::<Option<i32>, _>(7) {
                    entry.attempts.insert(attempt, SeenAttempt {
                        id: r.get(8),
                        credential: r.get(9),
                        finished: r.get(10),
                        outcome: r.get(11),
                        slot: r.get(12),
                    });
                }
            }
        }
        Ok(seen)
    }

    /// Apply a batch of completions inside `tx` (see [`crate::Store::complete_many`]).
    async fn complete_in(&self, tx: &mut Conn<Self>, batch: &[Completion], now: Millis) -> Result<Vec<Result<Completed, StoreError>>, StoreError> {
        // 1. One snapshot of every reported task and its attempts.
        let ids: Vec<TaskId> = batch.iter().map(|c| c.auth.task).collect::<BTreeSet<_>>().into_iter().collect();
        let seen = self.snapshot_in(&mut *tx, &ids).await?;

        // Output targets of the jobs whose reports carry files.
        let mut targets: HashMap<JobId, Targets> = HashMap::new();
        for c in batch.iter().filter(|c| !c.partitions.is_empty()) {
            let Some(job) = seen.get(&c.auth.task).map(|s| s.job) else { continue };
            if !targets.contains_key(&job) {
                let rows = sqlx::query(self.q(OUTPUT_VERSIONS)).bind(job).fetch_all(&mut *tx).await.during("reading output targets")?;
                targets.insert(job, rows.iter().map(|r| (r.get::<i32, _>(0) as u32, r.get(1), r.get(2), r.get(3))).collect());
            }
        }

        // 2. Judge each report on its own.
        let mut taken: HashMap<TaskId, TaskStatus> = HashMap::new();
        let plans: Vec<Result<Plan, StoreError>> = batch
            .iter()
            .map(|c| {
                let plan = judge(c, seen.get(&c.auth.task), &taken, &targets);
                if let Ok(p) = &plan {
                    taken.insert(p.task, p.status);
                }
                plan
            })
            .collect();

        // 2b. Appends: each must have deduplicated against every file now
        // in its range (another task may have added one meanwhile).
        let plans = self.check_appends(&mut *tx, batch, plans).await?;

        // 3. Write what the accepted ones change, set by set.
        let mut produced: Vec<Produced<'_>> = Vec::new();
        // (report index, what it rewrote)
        let mut rewrites: Vec<(usize, Rewrite)> = Vec::new();
        for (index, (c, plan)) in batch.iter().zip(&plans).enumerate() {
            let Ok(p) = plan else { continue };
            if p.status == TaskStatus::Completed {
                self.write_state(&mut *tx, p.task, &c.state).await?;
                for (w, version) in c.partitions.iter().zip(&p.partition_versions) {
                    // An appended file's key names its own task: only
                    // replaced partitions can have another writer.
                    if w.scope.is_none() {
                        let prior: Option<TaskId> = sqlx::query_scalar(self.q(PRIOR_WRITER)).bind(*version).bind(&w.partition_key)
                            .fetch_optional(&mut *tx).await.during("looking for a committed partition")?;
                        if prior.is_some_and(|prior| prior != p.task) {
                            rewrites.push((index, Rewrite { task: p.task, version_id: *version, partition_key: w.partition_key.clone(), range: w.range }));
                        }
                    }
                    let (start, end) = w.range.map_or((None, None), |(s, e)| (Some(s as i64), Some(e as i64)));
                    sqlx::query(self.q(UPSERT_PARTITION)).bind(*version).bind(&w.partition_key).bind(start).bind(end)
                        .bind(&w.object_key).bind(&w.staging_key).bind(w.rows as i64).bind(w.bytes as i64)
                        .bind(p.task).bind(p.attempt).bind(now).bind(&w.scope)
                        .execute(&mut *tx).await.during("registering a partition")?;
                }
                produced.extend(c.events.iter().map(|event| Produced { org: p.admitted.org, job: p.admitted.job, task: p.task, event }));
            }
        }
        let mut ingested = self.ingest(&mut *tx, &produced, now).await?.into_iter();
        // After the reports' own events: a reader they queued is not queued twice.
        let mut invalidated: HashMap<usize, Vec<TaskId>> = HashMap::new();
        for (index, rewrite) in &rewrites {
            let queued = self.invalidate_in(&mut *tx, rewrite, now).await?;
            invalidated.entry(*index).or_default().extend(queued);
        }

        let mut finished: HashMap<&'static str, Vec<i64>> = HashMap::new();
        let mut settled: HashMap<&'static str, Vec<TaskId>> = HashMap::new();
        for p in plans.iter().flatten() {
            if !p.admitted.late {
                finished.entry(p.attempt_outcome).or_default().push(p.admitted.attempt_id);
                self.release(&mut *tx, p.admitted.slot, p.task).await?;
            }
            match p.status {
                TaskStatus::Completed | TaskStatus::Canceled => settled.entry(p.status.as_str()).or_default().push(p.task),
                TaskStatus::Pending => {
                    sqlx::query(self.q(sql::SET_RETRY)).bind(p.task).bind(now + retry_backoff(p.attempt)).bind(now).bind(&p.error)
                        .execute(&mut *tx).await.during("scheduling a retry")?;
                }
                _ => {
                    sqlx::query(self.q(sql::SET_STATUS)).bind(p.task).bind(p.status.as_str()).bind(now).bind(&p.error)
                        .execute(&mut *tx).await.during("finishing a task")?;
                }
            }
        }
        for (outcome, attempts) in &finished {
            for chunk in attempts.chunks(CHUNK) {
                let query = self.bind_ids(sqlx::query(self.dynamic(finish_attempts(&self.id_list(3, chunk.len())))).bind(now).bind(*outcome), chunk);
                query.execute(&mut *tx).await.during("finishing attempts")?;
            }
        }
        for (status, tasks) in &settled {
            for chunk in tasks.chunks(CHUNK) {
                let query = self.bind_ids(sqlx::query(self.dynamic(set_statuses(&self.id_list(3, chunk.len())))).bind(*status).bind(now), chunk);
                query.execute(&mut *tx).await.during("finishing tasks")?;
            }
        }

        Ok(batch
            .iter()
            .zip(plans)
            .enumerate()
            .map(|(index, (c, plan))| {
                let p = plan?;
                let events = if p.status == TaskStatus::Completed { ingested.by_ref().take(c.events.len()).collect() } else { Vec::new() };
                let invalidated = invalidated.remove(&index).unwrap_or_default();
                Ok(Completed { status: p.status, events, invalidated, late: p.admitted.late })
            })
            .collect())
    }
}
