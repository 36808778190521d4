//! Explicit invalidations (update strategy `replace`). When a task rewrites
//! a partition that an earlier task had committed, every downstream task
//! that read an overlapping range of that dataset version is queued again:
//! readers wired to the producing job in any DAG version that points at the
//! version, and shared readers (`from: {dataset: …}`) while it is the
//! published version. The re-run repeats the task's own event (same range,
//! key and cursor) as an `invalidation` event, so it reads the new data and
//! rewrites its own partitions — which invalidates the next level down: the
//! cascade is transitive, one level per completion, and ends because a DAG
//! has no cycles.
//!
//! A reader that already has a pending task for the same range is left
//! alone (that task will read the new data); so is a reader the rewriting
//! task's own events have just queued.

use std::collections::HashSet;

use sqlx::Row;

use crate::error::{DbContext, StoreError};
use crate::model::{Millis, TaskId};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::{Affected, Dialect};

/// A partition a task rewrote (its key was already committed by another task).
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    pub task: TaskId,
    pub version_id: i64,
    pub partition_key: String,
    pub range: Option<(u64, u64)>,
}

/// Completed or running tasks of the jobs that read version `$1`, whose
/// event overlaps `[$2, $3)` or has key `$4`, with no pending task for the
/// same range in their job.
const AFFECTED: &str = "SELECT t.id, t.job_id, t.org_id, e.producer_job_id, e.output_index, e.partition_key, \
     e.range_start, e.range_end, e.cursor FROM tasks t JOIN events e ON e.id = t.event_id \
     WHERE t.job_id IN ( \
        SELECT ji.job_id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id \
        JOIN dag_dataset_pointers p ON p.dataset_version_id = v.id \
        JOIN jobs fj ON fj.dag_version_id = p.dag_version_id AND fj.name = d.producer_job \
        JOIN job_inputs ji ON ji.from_job_id = fj.id AND ji.from_output = d.output_index WHERE v.id = $1 \
        UNION \
        SELECT ji.job_id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id AND d.published = 1 \
        JOIN dags g ON g.id = d.dag_id \
        JOIN dag_dataset_pointers p ON p.dag_version_id = g.active_version_id AND p.dataset_version_id = v.id \
        JOIN job_inputs ji ON ji.from_dataset = d.name JOIN jobs rj ON rj.id = ji.job_id \
        JOIN dag_versions rv ON rv.id = rj.dag_version_id JOIN dags rg ON rg.id = rv.dag_id AND rg.org_id = d.org_id \
        WHERE v.id = $1) \
     AND t.status IN ('completed', 'running') \
     AND ((e.range_start IS NOT NULL AND e.range_start < $3 AND e.range_end > $2) OR e.partition_key = $4) \
     AND NOT EXISTS (SELECT 1 FROM tasks q JOIN events qe ON qe.id = q.event_id \
        WHERE q.job_id = t.job_id AND q.status = 'pending' AND qe.partition_key = e.partition_key \
        AND qe.range_start IS NOT DISTINCT FROM e.range_start AND qe.range_end IS NOT DISTINCT FROM e.range_end) \
     ORDER BY t.id DESC";

const INSERT_INVALIDATION: &str = "INSERT INTO events (org_id, producer_job_id, producer_task_id, output_index, \
     partition_key, range_start, range_end, cursor, idempotency_key, created_at, kind) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'invalidation') ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";

const INSERT_RERUN: &str = "INSERT INTO tasks (org_id, job_id, event_id, status, available_at, created_at, updated_at) \
     VALUES ($1, $2, $3, 'pending', $4, $4, $4) ON CONFLICT (job_id, event_id) DO NOTHING RETURNING id";

/// Queueing the re-runs a rewrite calls for, inside a completion's transaction.
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait Invalidate: Dialect {
    async fn invalidate_in(&self, tx: &mut <Self::Db as Database>::Connection, rewrite: &Rewrite, now: Millis) -> Result<Vec<TaskId>, StoreError>;
}

impl<S> Invalidate for S
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
    /// Queue the downstream re-runs `rewrite` calls for, inside `tx`;
    /// returns the new tasks.
    async fn invalidate_in(&self, tx: &mut <Self::Db as Database>::Connection, rewrite: &Rewrite, now: Millis) -> Result<Vec<TaskId>, StoreError> {
        let (start, end) = crate::sql::overlap_bounds(rewrite.range);
        let rows = sqlx::query(self.q(AFFECTED)).bind(rewrite.version_id).bind(start).bind(end).bind(&rewrite.partition_key)
            .fetch_all(&mut *tx).await.during("finding invalidated tasks")?;
        let mut seen: HashSet<(i64, String, Option<i64>, Option<i64>)> = HashSet::new();
        let mut queued = Vec::new();
        for r in rows {
            let (task, job, org): (TaskId, i64, i64) = (r.get(0), r.get(1), r.get(2));
            let (key, range_start, range_end): (String, Option<i64>, Option<i64>) = (r.get(5), r.get(6), r.get(7));
            // A range re-run before has several tasks: re-run it once.
            if !seen.insert((job, key.clone(), range_start, range_end)) {
                continue;
            }
            let idempotency = format!("invalidation/task:{}/of:{task}", rewrite.task);
            let event: Option<i64> = sqlx::query_scalar(self.q(INSERT_INVALIDATION))
                .bind(org).bind(r.get::<i64, _>(3)).bind(rewrite.task).bind(r.get::<i32, _>(4)).bind(&key)
                .bind(range_start).bind(range_end).bind(r.get::<Option<String>, _>(8)).bind(&idempotency).bind(now)
                .fetch_optional(&mut *tx).await.during("recording an invalidation")?;
            let Some(event) = event else { continue };
            let rerun: Option<TaskId> = sqlx::query_scalar(self.q(INSERT_RERUN)).bind(org).bind(job).bind(event).bind(now)
                .fetch_optional(&mut *tx).await.during("queueing an invalidated task")?;
            queued.extend(rerun);
        }
        Ok(queued)
    }
}
