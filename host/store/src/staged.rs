//! What the storage janitor asks before it touches a staged file: whether
//! the attempt that wrote it may still commit, and whether a commit already
//! registered it (then it is promoted, not deleted).
//!
//! Read in that order, no snapshot is needed: an attempt that may not
//! commit at the first read can never commit afterwards (completions are
//! fenced on the attempt, see `gate`), and a commit that happened before the
//! first read is visible to the second.
//!
//! "May still commit" is exactly what the completion gate admits: an
//! attempt not finished, or the task's current attempt timed out while its
//! task is still open (a late report is accepted until a newer attempt
//! starts). The chaos soak found the second case: the janitor deleted the
//! staged file of a timed-out attempt whose late report then committed it,
//! and the partition's file was gone.

use std::collections::HashSet;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::dialect::Dialect;
use crate::error::{DbContext, StoreError};
use crate::model::OrgId;

/// Most tasks asked about in one statement.
pub const STAGED_QUERY_CHUNK: usize = 500;

const ORGS: &str = "SELECT id FROM orgs ORDER BY id";

fn live_attempts(list: &str) -> String {
    format!(
        "SELECT a.task_id, a.attempt FROM task_attempts a JOIN tasks t ON t.id = a.task_id \
         WHERE a.task_id {list} AND (a.finished_at IS NULL \
         OR (a.outcome = 'timeout' AND a.attempt = t.attempts AND t.status NOT IN ('completed', 'canceled')))"
    )
}

fn committed_files(list: &str) -> String {
    format!("SELECT staging_key, object_key FROM dataset_partitions WHERE task_id {list}")
}

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub trait StagedFiles: Send + Sync {
    /// Every org's id.
    async fn org_ids(&self) -> Result<Vec<OrgId>, StoreError>;
    /// Of `tasks`, the (task, attempt) pairs whose attempt may still
    /// commit: not finished, or timed out as its open task's current
    /// attempt (a late report is still admitted).
    async fn live_attempts(&self, tasks: &[i64]) -> Result<HashSet<(i64, i32)>, StoreError>;
    /// Of `tasks`, every registered partition as (staging key, object key).
    async fn committed_files(&self, tasks: &[i64]) -> Result<Vec<(String, String)>, StoreError>;
}

impl<S> StagedFiles for S
where
    S: Dialect,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db> + Type<S::Db>,
    for<'r> String: Decode<'r, S::Db> + Type<S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn org_ids(&self) -> Result<Vec<OrgId>, StoreError> {
        let rows = sqlx::query(self.q(ORGS)).fetch_all(self.pool()).await.during("listing orgs")?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn live_attempts(&self, tasks: &[i64]) -> Result<HashSet<(i64, i32)>, StoreError> {
        let mut live = HashSet::new();
        for chunk in tasks.chunks(STAGED_QUERY_CHUNK) {
            let q = self.bind_ids(sqlx::query(self.dynamic(live_attempts(&self.id_list(1, chunk.len())))), chunk);
            let rows = q.fetch_all(self.pool()).await.during("reading live attempts")?;
            live.extend(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<i32, _>(1))));
        }
        Ok(live)
    }

    async fn committed_files(&self, tasks: &[i64]) -> Result<Vec<(String, String)>, StoreError> {
        let mut files = Vec::new();
        for chunk in tasks.chunks(STAGED_QUERY_CHUNK) {
            let q = self.bind_ids(sqlx::query(self.dynamic(committed_files(&self.id_list(1, chunk.len())))), chunk);
            let rows = q.fetch_all(self.pool()).await.during("reading committed partitions")?;
            files.extend(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<String, _>(1))));
        }
        Ok(files)
    }
}
