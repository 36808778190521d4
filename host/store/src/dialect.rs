//! What differs between the two backends, and nothing else: the pool, how
//! SQL text is adapted, sets of ids as parameters, multi-row inserts, how a
//! write transaction starts and ends, and housekeeping. Store code written
//! once over a [`Dialect`] runs on both; `postgres.rs` and `sqlite.rs` say
//! what each backend does differently.
//!
//! Each domain file's `impl<S> … for S where S: Dialect, …` repeats the same
//! list of sqlx bounds (the value types it binds and reads, the executors).
//! Rust does not carry a trait's `where` clauses to its users, and no macro
//! may stand in a `where` clause, so the list is written out per impl: long,
//! but plain code that grep and a code browser follow.

use std::borrow::Cow;
use std::future::Future;
use std::ops::DerefMut;

use sqlx::{AssertSqlSafe, Database, Pool};

use crate::error::StoreError;
use crate::model::{Claim, Millis, Produced};

/// A connection of `D`'s database.
pub(crate) type Conn<D> = <<D as Dialect>::Db as Database>::Connection;
/// A statement of `D`'s database with its parameters.
pub(crate) type Query<'q, D> = sqlx::query::Query<'q, <D as Dialect>::Db, <<D as Dialect>::Db as Database>::Arguments>;

pub(crate) trait Dialect: Send + Sync {
    type Db: Database;
    /// A write transaction (on SQLite, it also holds this process's writer lock).
    type Write: DerefMut<Target = Conn<Self>> + Send;
    /// Whether this is PostgreSQL (for the DDL of buffered datasets' tables,
    /// whose column types differ).
    const POSTGRES: bool;

    /// The schema's migrations, in order.
    fn migrations() -> &'static [(i64, &'static str)];
    fn pool(&self) -> &Pool<Self::Db>;
    /// `sql` as this backend takes it (`$N` placeholders are PostgreSQL's).
    fn q(&self, sql: &'static str) -> AssertSqlSafe<Cow<'static, str>>;
    /// SQL assembled from this crate's constants only.
    fn dynamic(&self, sql: String) -> AssertSqlSafe<String>;
    /// `sql` with a row-locking clause where the backend has row locks.
    fn locking(&self, sql: &'static str, lock: &'static str) -> AssertSqlSafe<String>;
    fn begin_write(&self) -> impl Future<Output = Result<Self::Write, StoreError>> + Send;
    fn commit(tx: Self::Write) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Count `n` new tasks (PostgreSQL refreshes planner statistics now and then).
    fn grew(&self, n: u64);
    /// Lock `jobs` for the rest of the transaction (sorted: no deadlock).
    fn lock_jobs(&self, tx: &mut Conn<Self>, jobs: &[i64]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A set of `n` ids as parameters from `$first`.
    fn id_list(&self, first: usize, n: usize) -> String;
    /// [`id_list`](Dialect::id_list) for text keys.
    fn key_list(&self, first: usize, n: usize) -> String;
    fn bind_ids<'q>(&self, query: Query<'q, Self>, ids: &[i64]) -> Query<'q, Self>;
    fn bind_keys<'q>(&self, query: Query<'q, Self>, keys: &[&String]) -> Query<'q, Self>;
    /// Record what attempts used (see `usage.rs`).
    fn insert_usage(&self, tx: &mut Conn<Self>, rows: &[crate::usage::UsageRow], now: Millis) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Start `claims`' attempts.
    fn insert_attempts(&self, tx: &mut Conn<Self>, claims: &[Claim], now: Millis) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Record `events` (with their idempotency `keys`); returns (id, key) of the new ones.
    fn insert_events(&self, tx: &mut Conn<Self>, events: &[Produced<'_>], keys: &[String], now: Millis) -> impl Future<Output = Result<Vec<(i64, String)>, StoreError>> + Send;
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
