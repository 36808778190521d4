//! What differs between the two backends, and nothing else: the pool, how
//! SQL text is adapted, and how a write transaction starts and ends. Store
//! code written once over a [`Dialect`] runs on both.

use std::borrow::Cow;
use std::future::Future;
use std::ops::DerefMut;

use sqlx::{AssertSqlSafe, Database, Pool};

use crate::error::StoreError;
use crate::{PgStore, SqliteStore};

pub(crate) trait Dialect: Send + Sync {
    type Db: Database;
    /// A write transaction (on SQLite, it also holds this process's writer lock).
    type Write: DerefMut<Target = <Self::Db as Database>::Connection> + Send;

    fn pool(&self) -> &Pool<Self::Db>;
    /// `sql` as this backend takes it (`$N` placeholders are PostgreSQL's).
    fn q(&self, sql: &'static str) -> AssertSqlSafe<Cow<'static, str>>;
    fn begin_write(&self) -> impl Future<Output = Result<Self::Write, StoreError>> + Send;
    fn commit(tx: Self::Write) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

impl Dialect for PgStore {
    type Db = sqlx::Postgres;
    type Write = sqlx::Transaction<'static, sqlx::Postgres>;

    fn pool(&self) -> &Pool<sqlx::Postgres> {
        &self.pool
    }
    fn q(&self, sql: &'static str) -> AssertSqlSafe<Cow<'static, str>> {
        PgStore::q(self, sql)
    }
    fn begin_write(&self) -> impl Future<Output = Result<Self::Write, StoreError>> + Send {
        self.begin()
    }
    fn commit(tx: Self::Write) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        tx.commit()
    }
}

impl Dialect for SqliteStore {
    type Db = sqlx::Sqlite;
    type Write = crate::backend::SqliteWrite;

    fn pool(&self) -> &Pool<sqlx::Sqlite> {
        &self.pool
    }
    fn q(&self, sql: &'static str) -> AssertSqlSafe<Cow<'static, str>> {
        SqliteStore::q(self, sql)
    }
    fn begin_write(&self) -> impl Future<Output = Result<Self::Write, StoreError>> + Send {
        self.begin()
    }
    fn commit(tx: Self::Write) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        tx.commit()
    }
}

/// Rows a statement changed, on either backend.
pub(crate) trait Affected {
    fn rows_affected(&self) -> u64;
}

impl Affected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

impl Affected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}
