//! Completions, set-based: a batch of reports judged each on its own
//! against one snapshot of their tasks; refused reports write nothing, the
//! others commit their outcome, events, state and files together.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::{Affected, Conn, Dialect};
use crate::effects::Effects;
use crate::error::{DbContext, StoreError};
use crate::events::Ingest;
use crate::gate::{admit, Admitted, Seen, SeenAttempt};
use crate::invalidate::{Invalidate, Rewrite};
use crate::model::*;
use crate::sql::{self, overlap_bounds, CHUNK, OUTPUT_VERSIONS};

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
    // A late report may not write state: another task of its job may have
    // run since the reaper freed its place, and its writes would be lost
    // under these (a job's tasks see each other's state one at a time).
    if admitted.late && !c.state.is_empty() {
        return Err(StoreError::LateStateWrite { task: c.auth.task, attempt: c.auth.attempt });
    }
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

/// Judging and applying a batch of reports.
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait Completions: Dialect {
    async fn check_appends(&self, tx: &mut Conn<Self>, batch: &[Completion], plans: Vec<Result<Plan, StoreError>>) -> Result<Vec<Result<Plan, StoreError>>, StoreError>;
    async fn snapshot_in(&self, tx: &mut Conn<Self>, ids: &[TaskId]) -> Result<HashMap<TaskId, Seen>, StoreError>;
    async fn complete_in(&self, tx: &mut Conn<Self>, batch: &[Completion], now: Millis) -> Result<Vec<Result<Completed, StoreError>>, StoreError>;
}

impl<S> Completions for S
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
    #[allow(clippy::map_entry, reason = "each missing value is read with awaits between the check and the insert")]
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
        // What each attempt used, beside its outcome (a late or repeated
        // report of the same attempt adds nothing).
        let used: Vec<crate::usage::UsageRow> = batch
            .iter()
            .zip(&plans)
            .filter_map(|(c, p)| {
                let (p, usage) = (p.as_ref().ok()?, c.usage?);
                Some(crate::usage::UsageRow { task: p.task, attempt: p.attempt, org: p.admitted.org, job: p.admitted.job, outcome: p.attempt_outcome, usage })
            })
            .collect();
        if !used.is_empty() {
            self.insert_usage(&mut *tx, &used, now).await?;
        }
        // Logs are rare and each its own row (one statement each).
        for (c, p) in batch.iter().zip(&plans) {
            if let (Ok(p), Some(log)) = (p, &c.log) {
                sqlx::query(self.q(crate::sql::INSERT_LOG)).bind(p.task).bind(p.attempt).bind(log.as_str()).execute(&mut *tx).await.during("keeping an attempt's log")?;
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
