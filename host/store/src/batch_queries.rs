//! Batch queries' records: who asked what, and how it ended. The Query
//! Service runs the SQL and writes the result object; this is its ledger, so
//! any server of the deployment answers "how is my query doing" and a
//! server that stopped mid-query leaves a record that reads as failed.

use sqlx::Row;

use crate::error::{DbContext, StoreError};
use crate::model::{Millis, OrgId};
use crate::sql::AUDIT;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::Dialect;

/// Longest SQL text recorded with a batch query.
pub const MAX_BATCH_SQL_BYTES: usize = 1 << 20;
/// Longest error recorded for a failed batch query.
pub const MAX_BATCH_ERROR_BYTES: usize = 4 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    Running,
    Succeeded,
    Failed,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Running => "running",
            BatchStatus::Succeeded => "succeeded",
            BatchStatus::Failed => "failed",
        }
    }
}

/// One batch query as its org sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchQueryView {
    pub id: String,
    pub actor: String,
    pub sql: String,
    pub status: BatchStatus,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    /// Where the result is, once it succeeded.
    pub object_key: Option<String>,
    pub error: Option<String>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

/// How a batch query ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEnd {
    Succeeded { rows: u64, bytes: u64, object_key: String },
    Failed { error: String },
}

#[allow(async_fn_in_trait, reason = "used through generics, not trait objects")]
pub trait BatchQueries: Send + Sync {
    /// Record a batch query as running until `deadline`; returns its id.
    async fn start_batch_query(&self, org: OrgId, actor: &str, sql: &str, now: Millis, deadline: Millis) -> Result<String, StoreError>;
    /// Record how it ended (once: a second end is ignored).
    async fn end_batch_query(&self, id: &str, end: &BatchEnd, now: Millis) -> Result<(), StoreError>;
    /// The batch query `id` of `org`; another org's is `None`. One still
    /// running past its deadline reads as failed: the server running it stopped.
    async fn batch_query(&self, org: OrgId, id: &str, now: Millis) -> Result<Option<BatchQueryView>, StoreError>;
}

const START: &str = "INSERT INTO batch_queries (uuid, org_id, actor, sql_text, status, created_at, deadline_at) VALUES ($1, $2, $3, $4, 'running', $5, $6)";
const END: &str = "UPDATE batch_queries SET status = $2, row_count = $3, byte_count = $4, object_key = $5, error = $6, finished_at = $7 \
     WHERE uuid = $1 AND status = 'running'";
const FIND: &str = "SELECT uuid, actor, sql_text, status, row_count, byte_count, object_key, error, created_at, finished_at, deadline_at \
     FROM batch_queries WHERE org_id = $1 AND uuid = $2";

/// A message cut to at most `max` bytes on a character boundary.
fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl<S> BatchQueries for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db>,
    for<'r> Option<String>: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{

    async fn start_batch_query(&self, org: OrgId, actor: &str, sql: &str, now: Millis, deadline: Millis) -> Result<String, StoreError> {
        let id = crate::ids::new_uuid();
        let mut tx = self.begin_write().await?;
        sqlx::query(self.q(START)).bind(&id).bind(org).bind(actor).bind(clip(sql, MAX_BATCH_SQL_BYTES)).bind(now).bind(deadline)
            .execute(&mut *tx).await.during("recording a batch query")?;
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("query.batch").bind(format!("org {org}: {id}"))
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a batch query")?;
        Ok(id)
    }

    async fn end_batch_query(&self, id: &str, end: &BatchEnd, now: Millis) -> Result<(), StoreError> {
        let q = sqlx::query(self.q(END)).bind(id);
        let q = match end {
            BatchEnd::Succeeded { rows, bytes, object_key } => q
                .bind("succeeded")
                .bind(Some(i64::try_from(*rows).unwrap_or(i64::MAX)))
                .bind(Some(i64::try_from(*bytes).unwrap_or(i64::MAX)))
                .bind(Some(object_key.as_str()))
                .bind(None::<&str>),
            BatchEnd::Failed { error } => q.bind("failed").bind(None::<i64>).bind(None::<i64>).bind(None::<&str>).bind(Some(clip(error, MAX_BATCH_ERROR_BYTES))),
        };
        let mut tx = self.begin_write().await?;
        q.bind(now).execute(&mut *tx).await.during("recording a batch query's end")?;
        S::commit(tx).await.during("committing a batch query's end")?;
        Ok(())
    }

    async fn batch_query(&self, org: OrgId, id: &str, now: Millis) -> Result<Option<BatchQueryView>, StoreError> {
        let row = sqlx::query(self.q(FIND)).bind(org).bind(id).fetch_optional(self.pool()).await.during("finding a batch query")?;
        Ok(row.map(|r| {
            let deadline: Millis = r.get(10);
            let (mut status, mut error) = (
                match r.get::<String, _>(3).as_str() {
                    "succeeded" => BatchStatus::Succeeded,
                    "failed" => BatchStatus::Failed,
                    _ => BatchStatus::Running,
                },
                r.get::<Option<String>, _>(7),
            );
            if status == BatchStatus::Running && now > deadline {
                status = BatchStatus::Failed;
                error = Some("the server running this query stopped before it finished; submit it again".to_owned());
            }
            BatchQueryView {
                id: r.get(0),
                actor: r.get(1),
                sql: r.get(2),
                status,
                rows: r.get::<Option<i64>, _>(4).map(|n| n as u64),
                bytes: r.get::<Option<i64>, _>(5).map(|n| n as u64),
                object_key: r.get(6),
                error,
                created_at: r.get(8),
                finished_at: r.get(9),
            }
        }))
    }
}
