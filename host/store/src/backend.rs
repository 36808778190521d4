//! The store's operations, written once over a [`Dialect`]: deploying
//! versions, triggering and ingesting events, operator state, slots, task
//! views, cancel and retry, and the reaper. Claims and completions are in
//! `attempts.rs`; what each backend does differently is in `postgres.rs` and
//! `sqlite.rs`.

use std::collections::HashMap;

use sqlx::Row;
use trace_core::units::parse_duration;
use trace_dag::{materialization_hash, Dag, InputSource, JobKind};

use crate::dialect::Conn;
use crate::error::{DbContext, StoreError};
use crate::model::*;
use crate::claim::Claims;
use crate::complete::Completions;
use crate::effects::Effects;
use crate::events::Ingest;
use crate::registry::RegisterDatasets;
use crate::buffered::RegisterBuffered;
use crate::secrets::CheckSecrets;
use crate::{migrate, sql, Store};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::{Affected, Dialect};





/// The steps the store's operations share: versions, ingest, state, slots.
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait StoreSteps: Dialect {
    async fn record_version(&self, org: OrgId, dag: &Dag, yaml: &str, actor: &str, now: Millis, activate: bool) -> Result<Deployed, StoreError>;
    async fn trigger_in(&self, tx: &mut Conn<Self>, job: JobId, run_id: &str, range: Option<(u64, u64)>, now: Millis) -> Result<Ingested, StoreError>;
    async fn view(&self, filter: &'static str, id: i64, limit: Option<u32>) -> Result<Vec<TaskView>, StoreError>;
}

impl<S> StoreSteps for S
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
    /// Record a new DAG version; make it active now (`activate`), or
    /// leave it staged for a later cutover.
    async fn record_version(&self, org: OrgId, dag: &Dag, yaml: &str, actor: &str, now: Millis, activate: bool) -> Result<Deployed, StoreError> {
        let mut tx = self.begin_write().await?;
        self.check_secrets(&mut tx, org, dag).await?;
        sqlx::query(self.q(sql::UPSERT_DAG)).bind(org).bind(&dag.name).execute(&mut *tx).await.during("creating a DAG")?;
        let dag_id: i64 = sqlx::query_scalar(self.q(sql::DAG_ID)).bind(org).bind(&dag.name)
            .fetch_one(&mut *tx).await.during("finding a DAG")?;
        let version: i32 = sqlx::query_scalar(self.q(sql::NEXT_VERSION)).bind(dag_id)
            .fetch_one(&mut *tx).await.during("numbering a DAG version")?;
        let previous: Option<i64> = sqlx::query_scalar(self.q(sql::ACTIVE_VERSION)).bind(dag_id)
            .fetch_one(&mut *tx).await.during("reading the active DAG version")?;
        let version_id: i64 = sqlx::query_scalar(self.q(sql::INSERT_VERSION)).bind(dag_id).bind(version).bind(yaml).bind(now).bind(actor)
            .fetch_one(&mut *tx).await.during("recording a DAG version")?;
        let mut jobs: Vec<(String, JobId)> = Vec::new();
        for job in &dag.jobs {
            let kind = match job.kind { JobKind::Source => "source", JobKind::Transform => "transform" };
            // Validated when the DAG was parsed.
            let timeout_ms = parse_duration(&job.timeout).map(|d| d.as_millis() as i64).unwrap_or(60_000);
            let id: i64 = sqlx::query_scalar(self.q(sql::INSERT_JOB))
                .bind(version_id).bind(&job.name).bind(kind).bind(&job.operator).bind(job.outputs as i32)
                .bind(job.config.to_string()).bind(materialization_hash(job)).bind(&job.pool)
                .bind(job.effective_concurrency(dag) as i32).bind(job.max_attempts as i32).bind(timeout_ms)
                .bind(job.update_strategy.as_str()).bind(serde_json::to_string(&job.unique_key).expect("strings serialize"))
                .bind(job.rpc.as_ref().map(|r| serde_json::to_string(r).expect("settings serialize")))
                .fetch_one(&mut *tx).await.during("recording a job")?;
            jobs.push((job.name.clone(), id));
        }
        let id_of = |name: &str| jobs.iter().find(|(n, _)| n == name).map(|(_, id)| *id);
        for (job, (_, job_id)) in dag.jobs.iter().zip(&jobs) {
            for (index, input) in job.inputs.iter().enumerate() {
                let (from_job, from_output, from_dataset) = match &input.from {
                    InputSource::Job { job, output } => (id_of(job), Some(*output as i32), None),
                    InputSource::Dataset { dataset } => (None, None, Some(dataset.clone())),
                };
                sqlx::query(self.q(sql::INSERT_JOB_INPUT)).bind(*job_id).bind(index as i32)
                    .bind(from_job).bind(from_output).bind(from_dataset)
                    .execute(&mut *tx).await.during("wiring a job input")?;
            }
        }
        for (pool, spec) in &dag.worker_pools {
            for (index, slot) in spec.slots.iter().enumerate() {
                let env = serde_json::to_string(&slot.env).expect("a string map serializes");
                let secret_env = serde_json::to_string(&slot.secret_env).expect("a string map serializes");
                sqlx::query(self.q(sql::INSERT_SLOT)).bind(version_id).bind(pool).bind(index as i32)
                    .bind(env).bind(secret_env).execute(&mut *tx).await.during("recording a worker slot")?;
            }
        }
        self.register_datasets(&mut *tx, org, dag_id, version_id, previous, dag, now).await?;
        self.register_buffered(&mut *tx, org, dag_id, version_id, dag, now).await?;
        if activate {
            sqlx::query(self.q(sql::SET_PREVIOUS_ACTIVE)).bind(version_id).bind(previous)
                .execute(&mut *tx).await.during("recording the previous version")?;
            sqlx::query(self.q(sql::ACTIVATE_VERSION)).bind(version_id).bind(dag_id)
                .execute(&mut *tx).await.during("activating a DAG version")?;
        }
        sqlx::query(self.q(sql::AUDIT)).bind(now).bind(actor).bind(if activate { "dag.deploy" } else { "dag.stage" })
            .bind(format!("{} v{version}", dag.name)).execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a deploy")?;
        Ok(Deployed { org, dag_id, version_id, version, jobs })
    }

    /// One trigger event and its source task inside `tx`.
    async fn trigger_in(&self, tx: &mut Conn<Self>, job: JobId, run_id: &str, range: Option<(u64, u64)>, now: Millis) -> Result<Ingested, StoreError> {
        let row = sqlx::query(self.q(sql::JOB_INFO)).bind(job).fetch_optional(&mut *tx).await.during("reading a job")?
            .ok_or(StoreError::NoSuchJob(job))?;
        let org: i64 = row.get(1);
        let e = EmittedEvent { output: 0, partition_key: range.map(|(s, e)| format!("{s}_{e}")).unwrap_or_default(), range, cursor: None };
        let key = format!("run:{run_id}/trigger:{job}/{}", e.discriminator());
        let (start, end) = range.map_or((None, None), |(s, e)| (Some(s as i64), Some(e as i64)));
        let inserted: Option<i64> = sqlx::query_scalar(self.q(sql::INSERT_EVENT))
            .bind(org).bind(job).bind(None::<i64>).bind(-1i32).bind(&e.partition_key)
            .bind(start).bind(end).bind(None::<String>).bind(&key).bind(now)
            .fetch_optional(&mut *tx).await.during("recording a trigger")?;
        let result = match inserted {
            None => {
                let event_id: i64 = sqlx::query_scalar(self.q(sql::EVENT_BY_KEY)).bind(&key)
                    .fetch_one(&mut *tx).await.during("finding a duplicate trigger")?;
                Ingested { event_id, duplicate: true, tasks: Vec::new() }
            }
            Some(event_id) => {
                let tasks: Vec<i64> = sqlx::query_scalar(self.q(sql::INSERT_TASK)).bind(org).bind(job).bind(event_id).bind(now).bind(trace_telemetry::current_traceparent())
                    .fetch_all(&mut *tx).await.during("creating a source task")?;
                Ingested { event_id, duplicate: false, tasks }
            }
        };
        Ok(result)
    }






    /// Tasks matching `filter` (on `$1 = id`): oldest first, or with a
    /// `limit`, the newest `limit` first.
    async fn view(&self, filter: &'static str, id: i64, limit: Option<u32>) -> Result<Vec<TaskView>, StoreError> {
        let order = if limit.is_some() { " ORDER BY t.id DESC LIMIT $2" } else { " ORDER BY t.id" };
        let text = self.dynamic(format!("{} {filter}{order}", sql::TASK_VIEW));
        let mut query = sqlx::query(text).bind(id);
        if let Some(limit) = limit {
            query = query.bind(i64::from(limit));
        }
        let rows = query.fetch_all(self.pool()).await.during("reading tasks")?;
        Ok(rows.iter().map(|r| {
            let start: Option<i64> = r.get(9);
            let end: Option<i64> = r.get(10);
            TaskView {
                id: r.get(0),
                job: r.get(1),
                job_name: r.get(2),
                status: TaskStatus::parse(r.get::<String, _>(3).as_str()),
                attempts: r.get(4),
                cancel_requested: r.get::<i32, _>(5) != 0,
                available_at: r.get(6),
                last_error: r.get(7),
                event_partition_key: r.get(8),
                event_range: start.zip(end).map(|(s, e)| (s as u64, e as u64)),
                invalidation: r.get::<String, _>(12) == "invalidation",
                org: r.get(11),
            }
        }).collect())
    }
}

impl<S> Store for S
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
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::raw_sql(migrate::CREATE_TABLE).execute(self.pool()).await.during("creating schema_migrations")?;
        for (version, body) in Self::migrations() {
            let mut tx = self.begin_write().await?;
            let done: Option<i64> = sqlx::query_scalar(self.q("SELECT version FROM schema_migrations WHERE version = $1"))
                .bind(*version).fetch_optional(&mut *tx).await.during("reading schema_migrations")?;
            if done.is_none() {
                sqlx::raw_sql(*body).execute(&mut *tx).await.during("applying a migration")?;
                sqlx::query(self.q("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)"))
                    .bind(*version).bind(now_millis()).execute(&mut *tx).await.during("recording a migration")?;
            }
            S::commit(tx).await.during("committing a migration")?;
        }
        Ok(())
    }

    async fn create_org(&self, name: &str, now: Millis) -> Result<OrgId, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(self.q(sql::INSERT_ORG)).bind(name).bind(now)
            .fetch_optional(&mut *tx).await.during("creating an org")?;
        let id = id.ok_or_else(|| StoreError::OrgExists(name.to_owned()))?;
        sqlx::query(self.q(sql::AUDIT)).bind(now).bind("system").bind("org.create").bind(name)
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing an org")?;
        Ok(id)
    }

    async fn deploy(&self, org: OrgId, dag: &Dag, yaml: &str, actor: &str, now: Millis) -> Result<Deployed, StoreError> {
        self.record_version(org, dag, yaml, actor, now, true).await
    }

    async fn stage(&self, org: OrgId, dag: &Dag, yaml: &str, actor: &str, now: Millis) -> Result<Deployed, StoreError> {
        self.record_version(org, dag, yaml, actor, now, false).await
    }

    async fn version_job(&self, org: OrgId, dag: &str, version: i32, job: &str) -> Result<Option<JobId>, StoreError> {
        sqlx::query_scalar(self.q(sql::VERSION_JOB)).bind(org).bind(dag).bind(version).bind(job)
            .fetch_optional(self.pool()).await.during("finding a job")
    }

    async fn trigger(&self, job: JobId, run_id: &str, range: Option<(u64, u64)>, actor: &str, now: Millis) -> Result<Ingested, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = self.trigger_in(&mut tx, job, run_id, range, now).await?;
        if !result.duplicate {
            sqlx::query(self.q(sql::AUDIT)).bind(now).bind(actor).bind("job.trigger")
                .bind(format!("job {job} run {run_id}")).execute(&mut *tx).await.during("auditing")?;
        }
        S::commit(tx).await.during("committing a trigger")?;
        self.grew(result.tasks.len() as u64);
        Ok(result)
    }

    async fn trigger_many(&self, job: JobId, runs: &[(String, (u64, u64))], actor: &str, now: Millis) -> Result<Vec<Ingested>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(runs.len());
        for (run_id, range) in runs {
            out.push(self.trigger_in(&mut tx, job, run_id, Some(*range), now).await?);
        }
        let new = out.iter().filter(|i| !i.duplicate).count();
        if new > 0 {
            sqlx::query(self.q(sql::AUDIT)).bind(now).bind(actor).bind("job.backfill")
                .bind(format!("job {job}: {new} new run(s) of {}", runs.len())).execute(&mut *tx).await.during("auditing")?;
        }
        S::commit(tx).await.during("committing triggers")?;
        self.grew(out.iter().map(|i| i.tasks.len() as u64).sum());
        Ok(out)
    }

    async fn run_progress(&self, job: JobId, run_prefix: &str) -> Result<RunProgress, StoreError> {
        let pattern = sql::like_prefix(&format!("run:{run_prefix}"));
        let rows = sqlx::query(self.q(sql::RUN_COUNTS)).bind(job).bind(&pattern).fetch_all(self.pool()).await.during("counting a run's tasks")?;
        let counts = rows.iter().map(|r| (TaskStatus::parse(r.get::<String, _>(0).as_str()), r.get(1))).collect();
        let total: i64 = sqlx::query_scalar(self.q(sql::RUN_ROWS)).bind(job).bind(&pattern).fetch_one(self.pool()).await.during("counting a run's rows")?;
        Ok(RunProgress { counts, rows: total as u64 })
    }

    async fn post_events(&self, auth: &AttemptAuth, events: &[EmittedEvent], now: Millis) -> Result<Vec<Ingested>, StoreError> {
        let mut tx = self.begin_write().await?;
        // Same rule as completion: the current attempt may still speak,
        // late or not, until a newer attempt starts or the task ends.
        let seen = self.snapshot_in(&mut tx, &[auth.task]).await?;
        let job = crate::gate::admit(auth, seen.get(&auth.task), &HashMap::new())?.job;
        let out = self.ingest_emitted(&mut tx, auth.task, job, events, now).await?;
        S::commit(tx).await.during("committing events")?;
        self.grew(out.iter().map(|i| i.tasks.len() as u64).sum());
        Ok(out)
    }

    async fn claim(&self, limit: u32, now: Millis) -> Result<Vec<Claim>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claims = self.claim_in(&mut tx, limit, now).await?;
        S::commit(tx).await.during("committing claims")?;
        Ok(claims)
    }

    async fn claim_payloads(&self, limit: u32, now: Millis) -> Result<Vec<TaskPayload>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claims = self.claim_in(&mut tx, limit, now).await?;
        let ids: Vec<TaskId> = claims.iter().map(|c| c.task).collect();
        let payloads = self.payloads_in(&mut tx, &ids).await?;
        S::commit(tx).await.during("committing claims")?;
        Ok(payloads)
    }

    async fn complete(&self, auth: &AttemptAuth, outcome: &Outcome, final_events: &[EmittedEvent], state: &StateWrites, now: Millis) -> Result<Completed, StoreError> {
        let c = Completion { usage: None, log: None, auth: auth.clone(), outcome: outcome.clone(), events: final_events.to_vec(), state: state.clone(), partitions: Vec::new() };
        let mut tx = self.begin_write().await?;
        // A refused report wrote nothing; dropping `tx` rolls back.
        let done = self.complete_in(&mut tx, std::slice::from_ref(&c), now).await?.pop().expect("one report, one result")?;
        S::commit(tx).await.during("committing a completion")?;
        Ok(done)
    }

    async fn complete_many(&self, batch: &[Completion], now: Millis) -> Result<Vec<Result<Completed, StoreError>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let results = self.complete_in(&mut tx, batch, now).await?;
        S::commit(tx).await.during("committing completions")?;
        let created = results.iter().flatten().map(|c| c.events.iter().map(|i| i.tasks.len()).sum::<usize>() + c.invalidated.len());
        self.grew(created.sum::<usize>() as u64);
        Ok(results)
    }

    async fn reap(&self, now: Millis) -> Result<Reaped, StoreError> {
        let mut tx = self.begin_write().await?;
        let text = self.locking(sql::EXPIRED, sql::EXPIRED_LOCK);
        let rows = sqlx::query(text).bind(now).fetch_all(&mut *tx).await.during("finding expired attempts")?;
        let mut reaped = Reaped::default();
        for row in rows {
            let task: i64 = row.get(0);
            let attempt: i32 = row.get(1);
            let slot: Option<i64> = row.get(2);
            let attempts: i32 = row.get(3);
            let max_attempts: i32 = row.get(4);
            sqlx::query(self.q(sql::FINISH_ATTEMPT)).bind(task).bind(attempt).bind(now).bind("timeout")
                .execute(&mut *tx).await.during("timing out an attempt")?;
            self.release(&mut tx, slot, task).await?;
            let error = format!("attempt {attempt} timed out: {}", crate::states::NO_REPORT);
            if attempts >= max_attempts {
                sqlx::query(self.q(sql::SET_STATUS)).bind(task).bind("failed").bind(now).bind(&error)
                    .execute(&mut *tx).await.during("failing a task")?;
                reaped.failed.push(task);
            } else {
                sqlx::query(self.q(sql::SET_RETRY)).bind(task).bind(now + retry_backoff(attempts)).bind(now).bind(&error)
                    .execute(&mut *tx).await.during("scheduling a retry")?;
                reaped.retried.push(task);
            }
        }
        S::commit(tx).await.during("committing the reaper")?;
        Ok(reaped)
    }

    async fn cancel(&self, task: TaskId, actor: &str, now: Millis) -> Result<TaskStatus, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(self.q(sql::CANCEL_PENDING)).bind(task).bind(now).execute(&mut *tx).await.during("canceling a task")?;
        sqlx::query(self.q(sql::CANCEL_RUNNING)).bind(task).bind(now).execute(&mut *tx).await.during("canceling a task")?;
        sqlx::query(self.q(sql::AUDIT)).bind(now).bind(actor).bind("task.cancel").bind(task.to_string())
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a cancel")?;
        Ok(self.task(task).await?.status)
    }

    async fn retry(&self, task: TaskId, actor: &str, now: Millis) -> Result<TaskStatus, StoreError> {
        let mut tx = self.begin_write().await?;
        let retried = sqlx::query(self.q(sql::RETRY_FAILED)).bind(task).bind(now).execute(&mut *tx).await.during("retrying a task")?;
        if retried.rows_affected() > 0 {
            sqlx::query(self.q(sql::AUDIT)).bind(now).bind(actor).bind("task.retry").bind(task.to_string())
                .execute(&mut *tx).await.during("auditing")?;
        }
        S::commit(tx).await.during("committing a retry")?;
        Ok(self.task(task).await?.status)
    }

    async fn task(&self, task: TaskId) -> Result<TaskView, StoreError> {
        self.view("WHERE t.id = $1", task, None).await?.pop().ok_or(StoreError::NoSuchTask(task))
    }

    async fn tasks_of_job(&self, job: JobId) -> Result<Vec<TaskView>, StoreError> {
        self.view("WHERE t.job_id = $1", job, None).await
    }

    async fn fetch(&self, task: TaskId) -> Result<TaskPayload, StoreError> {
        let mut conn = self.pool().acquire().await.during("fetching a task")?;
        Ok(self.payloads_in(&mut conn, &[task]).await?.pop().expect("one task, one payload"))
    }

    async fn take(&self, task: TaskId, now: Millis) -> Result<Taken, StoreError> {
        let payload = self.fetch(task).await?;
        let attempt = match (&payload.attempt, payload.status) {
            (Some(a), TaskStatus::Running) => a.attempt,
            // Not running: nothing to take (the worker reports it as it is).
            _ => return Ok(Taken::Run(Box::new(payload))),
        };
        let took = sqlx::query(self.q(sql::TAKE_ATTEMPT)).bind(task).bind(attempt).bind(now).execute(self.pool()).await.during("taking an attempt")?;
        if took.rows_affected() == 1 {
            return Ok(Taken::Run(Box::new(payload)));
        }
        sqlx::query(self.q(sql::COUNT_DUPLICATE)).bind(task).bind(attempt).execute(self.pool()).await.during("counting a duplicate delivery")?;
        Ok(Taken::Duplicate { attempt })
    }

    async fn open_tasks(&self, org: OrgId) -> Result<i64, StoreError> {
        sqlx::query_scalar(self.q(sql::OPEN_TASKS)).bind(org).fetch_one(self.pool()).await.during("counting open tasks")
    }

    async fn status_counts(&self, org: OrgId) -> Result<Vec<(TaskStatus, i64)>, StoreError> {
        let rows = sqlx::query(self.q(sql::STATUS_COUNTS)).bind(org).fetch_all(self.pool()).await.during("counting tasks")?;
        Ok(rows.iter().map(|r| (TaskStatus::parse(r.get::<String, _>(0).as_str()), r.get(1))).collect())
    }

    async fn queue_depth(&self, now: Millis) -> Result<QueueDepth, StoreError> {
        let rows = sqlx::query(self.q(sql::QUEUE_DEPTH)).bind(now).fetch_all(self.pool()).await.during("measuring the queue")?;
        let mut by_job: Vec<JobDepth> = rows.iter().map(|r| JobDepth { job: r.get(0), due: r.get(1), backing_off: r.get(2), running: r.get(3) }).collect();
        let depth = QueueDepth {
            due: by_job.iter().map(|j| j.due).sum(),
            backing_off: by_job.iter().map(|j| j.backing_off).sum(),
            running: by_job.iter().map(|j| j.running).sum(),
            by_job: Vec::new(),
        };
        by_job.truncate(crate::model::MAX_DEPTH_JOBS);
        Ok(QueueDepth { by_job, ..depth })
    }

    async fn org_id(&self, name: &str) -> Result<Option<OrgId>, StoreError> {
        sqlx::query_scalar(self.q(sql::ORG_BY_NAME)).bind(name).fetch_optional(self.pool()).await.during("finding an org")
    }

    async fn active_job(&self, org: OrgId, dag: &str, job: &str) -> Result<Option<JobId>, StoreError> {
        sqlx::query_scalar(self.q(sql::ACTIVE_JOB)).bind(org).bind(dag).bind(job)
            .fetch_optional(self.pool()).await.during("finding a job")
    }

    async fn tasks_of_org(&self, org: OrgId, limit: u32) -> Result<Vec<TaskView>, StoreError> {
        self.view("WHERE t.org_id = $1", org, Some(limit)).await
    }

    async fn failed_tasks(&self, org: OrgId, limit: u32) -> Result<Vec<TaskView>, StoreError> {
        self.view("WHERE t.org_id = $1 AND t.status = 'failed'", org, Some(limit)).await
    }

    async fn attempts(&self, task: TaskId) -> Result<Vec<AttemptView>, StoreError> {
        let rows = sqlx::query(self.q(sql::ATTEMPTS)).bind(task).fetch_all(self.pool()).await.during("reading attempts")?;
        Ok(rows.iter().map(|r| AttemptView {
            attempt: r.get(0),
            started_at: r.get(1),
            deadline_at: r.get(2),
            finished_at: r.get(3),
            outcome: r.get(4),
            log: r.get(5),
            duplicate_deliveries: r.get(6),
        }).collect())
    }

    async fn event_count(&self, org: OrgId) -> Result<i64, StoreError> {
        sqlx::query_scalar(self.q(sql::EVENT_COUNT)).bind(org).fetch_one(self.pool()).await.during("counting events")
    }
}
