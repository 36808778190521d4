//! What attempts used, as the system database keeps it: one row per
//! attempt, written with its outcome (`complete.rs`), read per task
//! (`trace task`) and summed per org, DAG and job by the hour or the day
//! (`trace usage`, `GET /api/v1/usage`).

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::dialect::Dialect;
use crate::error::{DbContext, StoreError};
use crate::model::{AttemptUsage, Millis, OrgId, TaskId};

/// One attempt's usage on its way into the table.
pub(crate) struct UsageRow {
    pub(crate) task: TaskId,
    pub(crate) attempt: i32,
    pub(crate) org: OrgId,
    pub(crate) job: i64,
    pub(crate) outcome: &'static str,
    pub(crate) usage: AttemptUsage,
}

/// The table's columns: the row's keys, then [`AttemptUsage::FIELDS`] in order.
macro_rules! columns {
    () => {
        "task_id, attempt, org_id, job_id, finished_at, outcome, wall_ms, cpu_ms, fuel, peak_memory_bytes, \
         input_bytes, input_rows, output_bytes, output_rows, events, log_bytes, rpc_requests, rpc_bytes"
    };
}
const COLUMNS: &str = columns!();

/// Rows per multi-row insert (SQLite; 18 parameters each).
pub(crate) const INSERT_CHUNK: usize = 50;

/// A multi-row insert of `n` rows (SQLite).
pub(crate) fn insert_rows(n: usize) -> String {
    let rows: Vec<String> = (0..n).map(|i| format!("({})", crate::sql::placeholders(i * 18 + 1, 18))).collect();
    format!("INSERT INTO attempt_usage ({COLUMNS}) VALUES {} ON CONFLICT (task_id, attempt) DO NOTHING", rows.join(", "))
}

/// Every row at once over column arrays (PostgreSQL: one statement, one plan).
pub(crate) const INSERT_UNNEST: &str = concat!("INSERT INTO attempt_usage (", columns!(), ") \
     SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[], \
     $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], \
     $18::bigint[]) ON CONFLICT (task_id, attempt) DO NOTHING");
/// Most summary rows one read returns.
pub const MAX_SUMMARY_ROWS: u32 = 10_000;

/// The twelve measured columns of `u`, in the table's order (which is
/// [`AttemptUsage::FIELDS`]'s).
pub(crate) fn columns(u: &AttemptUsage) -> [Option<i64>; 12] {
    u.values().map(|v| v.map(|v| v.min(i64::MAX as u64) as i64))
}

const OF_TASK: &str = "SELECT attempt, wall_ms, cpu_ms, fuel, peak_memory_bytes, input_bytes, input_rows, output_bytes, output_rows, \
     events, log_bytes, rpc_requests, rpc_bytes FROM attempt_usage WHERE task_id = $1 ORDER BY attempt";

/// Sums per (bucket, DAG, job) of org `$1` in `[$2, $3)`, buckets `$4` ms wide.
const SUMMARY: &str = "SELECT (u.finished_at / $4) * $4 AS bucket, d.name, j.name, COUNT(*), \
     CAST(SUM(CASE WHEN u.outcome = 'succeeded' THEN 0 ELSE 1 END) AS BIGINT), \
     CAST(SUM(u.wall_ms) AS BIGINT), CAST(SUM(u.cpu_ms) AS BIGINT), CAST(SUM(COALESCE(u.fuel, 0)) AS BIGINT), \
     CAST(MAX(u.peak_memory_bytes) AS BIGINT), CAST(SUM(u.input_bytes) AS BIGINT), CAST(SUM(u.input_rows) AS BIGINT), \
     CAST(SUM(u.output_bytes) AS BIGINT), CAST(SUM(u.output_rows) AS BIGINT), CAST(SUM(u.events) AS BIGINT), \
     CAST(SUM(u.log_bytes) AS BIGINT), CAST(SUM(u.rpc_requests) AS BIGINT), CAST(SUM(u.rpc_bytes) AS BIGINT) \
     FROM attempt_usage u JOIN jobs j ON j.id = u.job_id JOIN dag_versions v ON v.id = j.dag_version_id JOIN dags d ON d.id = v.dag_id \
     WHERE u.org_id = $1 AND u.finished_at >= $2 AND u.finished_at < $3 \
     GROUP BY bucket, d.name, j.name ORDER BY bucket, d.name, j.name LIMIT $5";

/// One (bucket, DAG, job)'s attempts and what they used together; memory
/// is the largest peak, everything else a sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageSummary {
    /// Start of the hour or day (ms since the epoch, UTC).
    pub bucket: Millis,
    pub dag: String,
    pub job: String,
    pub attempts: i64,
    /// Attempts that did not succeed (failed, canceled, timed out).
    pub unsuccessful: i64,
    pub usage: AttemptUsage,
}

fn usage_of<R: Row>(r: &R, from: usize) -> AttemptUsage
where
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let values = std::array::from_fn(|i| r.get::<Option<i64>, _>(from + i).map(|v| v.max(0) as u64));
    // A summed row reads no fuel as 0: that is no figure, not a burn of none.
    AttemptUsage { fuel: values[2].filter(|f| *f > 0), ..AttemptUsage::from_values(values) }
}

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub trait UsageRecords: Send + Sync {
    /// Each recorded attempt of `task`: (attempt, what it used).
    async fn task_usage(&self, task: TaskId) -> Result<Vec<(i32, AttemptUsage)>, StoreError>;
    /// `org`'s usage in `[since, until)` per `bucket_ms` (an hour or a day),
    /// DAG and job; at most [`MAX_SUMMARY_ROWS`] rows.
    async fn usage_summary(&self, org: OrgId, since: Millis, until: Millis, bucket_ms: i64) -> Result<Vec<UsageSummary>, StoreError>;
}

impl<S> UsageRecords for S
where
    S: Dialect,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db> + Type<S::Db>,
    for<'r> String: Decode<'r, S::Db> + Type<S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db> + Type<S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn task_usage(&self, task: TaskId) -> Result<Vec<(i32, AttemptUsage)>, StoreError> {
        let rows = sqlx::query(self.q(OF_TASK)).bind(task).fetch_all(self.pool()).await.during("reading a task's usage")?;
        Ok(rows.iter().map(|r| (r.get(0), usage_of(r, 1))).collect())
    }

    async fn usage_summary(&self, org: OrgId, since: Millis, until: Millis, bucket_ms: i64) -> Result<Vec<UsageSummary>, StoreError> {
        let rows = sqlx::query(self.q(SUMMARY)).bind(org).bind(since).bind(until).bind(bucket_ms.max(1)).bind(i64::from(MAX_SUMMARY_ROWS))
            .fetch_all(self.pool()).await.during("summing usage")?;
        Ok(rows
            .iter()
            .map(|r| UsageSummary { bucket: r.get(0), dag: r.get(1), job: r.get(2), attempts: r.get(3), unsuccessful: r.get(4), usage: usage_of(r, 5) })
            .collect())
    }
}


#[cfg(test)]
mod tests {
    #[test]
    fn the_columns_follow_the_usage_fields() {
        let names: Vec<&str> = super::COLUMNS.split(", ").map(str::trim).collect();
        assert_eq!(names[6..], super::AttemptUsage::FIELDS);
        assert!(super::INSERT_UNNEST.starts_with(&format!("INSERT INTO attempt_usage ({}) ", super::COLUMNS)));
    }

    #[test]
    fn a_multi_row_insert_has_eighteen_parameters_a_row() {
        let sql = super::insert_rows(2);
        assert!(sql.contains("($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18), ($19,"), "{sql}");
        assert!(sql.ends_with("$36) ON CONFLICT (task_id, attempt) DO NOTHING"), "{sql}");
    }
}
