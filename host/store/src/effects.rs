//! What an ending attempt leaves behind besides its report: the operator
//! state it wrote, and the worker slot it held.


use sqlx::Row;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::{Affected, Conn, Dialect};
use crate::error::{DbContext, StoreError};
use crate::model::*;
use crate::sql;

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait Effects: Dialect {
    async fn write_state(&self, tx: &mut Conn<Self>, task: TaskId, writes: &StateWrites) -> Result<(), StoreError>;
    async fn release(&self, tx: &mut Conn<Self>, slot: Option<i64>, task: TaskId) -> Result<(), StoreError>;
}

impl<S> Effects for S
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
    async fn write_state(&self, tx: &mut Conn<Self>, task: TaskId, writes: &StateWrites) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let row = sqlx::query(self.q(sql::STATE_SCOPE)).bind(task).fetch_one(&mut *tx).await.during("scoping operator state")?;
        let (org, dag, job): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
        for (key, value) in writes {
            match value {
                Some(value) => sqlx::query(self.q(sql::STATE_PUT)).bind(org).bind(dag).bind(&job).bind(key).bind(value)
                    .execute(&mut *tx).await.during("writing operator state")?,
                None => sqlx::query(self.q(sql::STATE_DELETE)).bind(org).bind(dag).bind(&job).bind(key)
                    .execute(&mut *tx).await.during("deleting operator state")?,
            };
        }
        Ok(())
    }

    async fn release(&self, tx: &mut Conn<Self>, slot: Option<i64>, task: TaskId) -> Result<(), StoreError> {
        if let Some(slot) = slot {
            sqlx::query(self.q(sql::RELEASE_SLOT)).bind(slot).bind(task).execute(&mut *tx).await.during("releasing a slot")?;
        }
        Ok(())
    }
}
