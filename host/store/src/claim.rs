//! Claims, set-based: lease runnable tasks (a slot each, within their
//! jobs' concurrency), start their attempts, and read their payloads with
//! their inputs, outputs and operator state. A batch of tasks costs a
//! handful of statements, not a handful per task.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::quotas::ClaimBudgets;
use crate::dialect::{Affected, Conn, Dialect};
use crate::effects::Effects;
use crate::error::{DbContext, StoreError};
use crate::ids::new_credential;
use crate::model::*;
use crate::sql::{self, overlap_bounds, CHUNK, OUTPUT_VERSIONS};
use crate::buffered::schema_of;
use trace_protocol::buffered::BufferedTarget;

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

/// A job's wired inputs.
const JOB_INPUTS: &str = "SELECT input_index, from_job_id, from_output, from_dataset FROM job_inputs WHERE job_id = $1 ORDER BY input_index";
/// The dataset version job `$1`'s output `$2` feeds, as its DAG version
/// points, and the buffered dataset it writes (if it does).
const FEED_FROM_JOB: &str = "SELECT d.uuid, v.uuid, v.id, w.buffered_id FROM jobs fj \
     JOIN dag_dataset_pointers p ON p.dag_version_id = fj.dag_version_id \
     JOIN datasets d ON d.id = p.dataset_id AND d.producer_job = fj.name AND d.output_index = $2 \
     JOIN dataset_versions v ON v.id = p.dataset_version_id \
     LEFT JOIN buffered_writers w ON w.dag_version_id = fj.dag_version_id AND w.job_name = fj.name AND w.output_index = $2 \
     WHERE fj.id = $1";
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
    rpc: Option<trace_protocol::rpc::RpcSettings>,
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

/// Whose operator state: org, DAG, job name.
type StateScope = (OrgId, i64, String);
/// A resolved input: (input, dataset uuid, version uuid, version id, has partitions, buffered).
type Feed = (u32, String, String, i64, bool, bool);

/// Claims and the payloads they hand out.
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait Claims: Dialect {
    fn payload_of(&self, r: &<Self::Db as Database>::Row, job: &JobPart) -> TaskPayload;
    async fn job_parts(&self, tx: &mut Conn<Self>, jobs: &[JobId]) -> Result<HashMap<JobId, JobPart>, StoreError>;
    async fn claim_in(&self, tx: &mut Conn<Self>, limit: u32, now: Millis) -> Result<Vec<Claim>, StoreError>;
    async fn payloads_in(&self, tx: &mut Conn<Self>, tasks: &[TaskId]) -> Result<Vec<TaskPayload>, StoreError>;
    async fn covered_partitions(&self, tx: &mut Conn<Self>, p: &TaskPayload, version: i64) -> Result<Option<Vec<PartitionView>>, StoreError>;
}

/// A candidate task metering admitted, before it is marked running.
struct Chosen {
    task: TaskId,
    job: JobId,
    slot: Option<i64>,
    deadline: Millis,
    org: OrgId,
    trace_parent: Option<String>,
}

impl<S> Claims for S
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
            rpc: job.rpc.clone(),
            trace_parent: r.get(12),
            fuel: r.get::<Option<i64>, _>(13).map(|f| f.max(0) as u64),
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
                // Written from validated settings at deploy.
                rpc: r.get::<Option<String>, _>(8).and_then(|t| serde_json::from_str(&t).ok()),
            };
            (r.get::<i64, _>(0), part)
        }).collect())
    }

    /// Lease up to `limit` runnable tasks inside `tx` (see [`crate::Store::claim`]).
    async fn claim_in(&self, tx: &mut Conn<Self>, limit: u32, now: Millis) -> Result<Vec<Claim>, StoreError> {
        let mut budgets = self.budgets(&mut *tx, now).await?;
        let rows = match budgets.as_ref().filter(|b| !b.blocked.is_empty()) {
            None => sqlx::query(self.q(sql::CANDIDATES)).bind(now).bind(i64::from(limit)).fetch_all(&mut *tx).await,
            Some(b) => {
                let query = sqlx::query(self.dynamic(sql::candidates_except(&self.id_list(3, b.blocked.len())))).bind(now).bind(i64::from(limit));
                self.bind_ids(query, &b.blocked).fetch_all(&mut *tx).await
            }
        }
        .during("finding runnable tasks")?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let jobs: Vec<i64> = rows.iter().map(|r| r.get::<i64, _>(1)).collect::<BTreeSet<_>>().into_iter().collect();
        self.lock_jobs(&mut *tx, &jobs).await?;
        let query = self.bind_ids(sqlx::query(self.dynamic(running_of_jobs(&self.id_list(1, jobs.len())))), &jobs);
        let mut running: HashMap<i64, i64> =
            query.fetch_all(&mut *tx).await.during("counting running tasks")?.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut chosen: Vec<Chosen> = Vec::new();
        for row in rows {
            let (task, job): (i64, i64) = (row.get(0), row.get(1));
            let concurrency = i64::from(row.get::<i32, _>(2));
            let pool: Option<String> = row.get(3);
            let count = running.entry(job).or_insert(0);
            if *count >= concurrency {
                continue;
            }
            let org: OrgId = row.get(6);
            let budget = budgets.as_mut().and_then(|b| b.left.get_mut(&org));
            if budget.as_ref().is_some_and(|left| **left <= 0) {
                continue; // the org's quota is used up for this round: the task waits
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
            if let Some(left) = budgets.as_mut().and_then(|b| b.left.get_mut(&org)) {
                *left -= 1;
            }
            chosen.push(Chosen { task, job, slot, deadline: now + row.get::<i64, _>(5), org, trace_parent: row.get(7) });
        }
        // Candidates were read without row locks: a task another
        // dispatcher claimed (or a cancel settled) meanwhile is no
        // longer pending, and the update passes it over. The jobs'
        // locks make the running counts above exact either way.
        let mut marked: HashMap<TaskId, i32> = HashMap::with_capacity(chosen.len());
        for chunk in chosen.chunks(CHUNK) {
            let tasks: Vec<TaskId> = chunk.iter().map(|c| c.task).collect();
            let query = self.bind_ids(sqlx::query(self.dynamic(mark_running(&self.id_list(2, tasks.len())))).bind(now), &tasks);
            let rows = query.fetch_all(&mut *tx).await.during("marking tasks running")?;
            marked.extend(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<i32, _>(1))));
        }
        let mut claims = Vec::with_capacity(marked.len());
        let mut started: HashMap<OrgId, i64> = HashMap::new();
        for Chosen { task, job, slot, deadline, org, trace_parent } in chosen {
            match marked.get(&task) {
                Some(&attempt) => {
                    if budgets.as_ref().is_some_and(|b| b.hourly.contains(&org)) {
                        *started.entry(org).or_insert(0) += 1;
                    }
                    claims.push(Claim { task, job, attempt, credential: new_credential(), slot, deadline, trace_parent })
                }
                None => self.release(&mut *tx, slot, task).await?,
            }
        }
        self.count_starts(&mut *tx, &started, now).await?;
        for chunk in claims.chunks(CHUNK) {
            self.insert_attempts(&mut *tx, chunk, now).await?;
        }
        Ok(claims)
    }

    /// The payloads of `tasks` inside `tx`, in the order given, with
    /// their jobs' operator state (read once per job).
    #[allow(clippy::map_entry, reason = "each missing value is read with awaits between the check and the insert")]
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
        let mut states: HashMap<StateScope, Vec<(String, Vec<u8>)>> = HashMap::new();
        // Per job: its targets, with the version row id of each append one.
        let mut targets: HashMap<JobId, Vec<(OutputTarget, Option<i64>)>> = HashMap::new();
        // Per job: (input, dataset uuid, version uuid, version id, has partitions).
        let mut feeds: HashMap<JobId, Vec<Feed>> = HashMap::new();
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
                        // Only FEED_FROM_JOB has the column: a shared read is never buffered.
                        let buffered = from_job.is_some() && row.get::<Option<i64>, _>(3).is_some();
                        let any: Option<i32> = sqlx::query_scalar(self.q(HAS_PARTITIONS)).bind(version)
                            .fetch_optional(&mut *tx).await.during("looking for partitions")?;
                        resolved.push((input, row.get(0), row.get(1), version, any.is_some(), buffered));
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
                    let buffered = match (r.get::<Option<String>, _>(6), r.get::<Option<String>, _>(7)) {
                        (Some(dataset_uuid), Some(schema)) => Some(BufferedTarget { dataset_uuid, schema: schema_of(&schema)? }),
                        _ => None,
                    };
                    Ok((OutputTarget { output: r.get::<i32, _>(0) as u32, dataset_uuid: r.get(3), version_uuid: r.get(1), append, buffered }, version))
                });
                targets.insert(p.job, to.collect::<Result<_, StoreError>>()?);
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
            for (input, dataset_uuid, version_uuid, version, has, buffered) in &feeds[&p.job] {
                let mut partitions = Vec::new();
                // Only versions with files cost a query per task.
                if *has {
                    match self.covered_partitions(&mut *tx, &p, *version).await? {
                        Some(covered) => partitions = covered,
                        None => p.refusal = Some(StoreError::TooManyPartitions { task: p.task, input: *input, limit: MAX_INPUT_PARTITIONS }.to_string()),
                    }
                }
                p.inputs_from.push(InputFeed { input: *input, dataset_uuid: dataset_uuid.clone(), version_uuid: version_uuid.clone(), partitions, buffered: *buffered });
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
}
