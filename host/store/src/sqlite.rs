//! SQLite in WAL mode, the embedded default: what it does differently.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Pool, Row, SqlitePool};

use crate::dialect::{Conn, Dialect, Query};
use crate::error::{DbContext, StoreError};
use crate::model::{Claim, Millis, Produced};
use crate::{migrate, sql};

/// SQLite in WAL mode, the embedded default.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// One writer at a time in this process. SQLite allows one writer
    /// anyway, and a writer that finds the lock taken sleeps in its busy
    /// handler (1 ms, 2 ms, 5 ms …): queueing here instead costs nothing.
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A SQLite write transaction holding this process's writer lock.
pub(crate) struct SqliteWrite {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl SqliteWrite {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for SqliteWrite {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for SqliteWrite {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path`.
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Multi-row statements inside a transaction keep a statement journal;
            // on disk that is a temporary file created and deleted per statement.
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .during("opening the SQLite database")?;
        Ok(Self { pool, writer: Arc::new(tokio::sync::Mutex::new(())) })
    }
}

impl Dialect for SqliteStore {
    type Db = sqlx::Sqlite;
    const POSTGRES: bool = false;
    type Write = SqliteWrite;

    fn migrations() -> &'static [(i64, &'static str)] {
        migrate::SQLITE
    }

    fn pool(&self) -> &Pool<sqlx::Sqlite> {
        &self.pool
    }

    async fn commit(tx: Self::Write) -> Result<(), sqlx::Error> {
        tx.commit().await
    }

    /// SQLite plans these queries well without statistics.
    fn grew(&self, _n: u64) {}

    fn q(&self, sql: &'static str) -> AssertSqlSafe<Cow<'static, str>> {
        AssertSqlSafe(sql::for_sqlite(sql))
    }

    /// SQL assembled from this crate's constants only.
    fn dynamic(&self, sql: String) -> AssertSqlSafe<String> {
        AssertSqlSafe(sql::for_sqlite(&sql).into_owned())
    }

    /// SQLite has no row locks: the write transaction itself is the lock.
    fn locking(&self, sql: &'static str, _lock: &'static str) -> AssertSqlSafe<String> {
        AssertSqlSafe(sql::for_sqlite(sql).into_owned())
    }

    /// `BEGIN IMMEDIATE`: take the write lock up front, so two writers (in
    /// other processes) queue on the busy timeout instead of failing on a
    /// stale read snapshot.
    async fn begin_write(&self) -> Result<Self::Write, StoreError> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.during("starting a transaction")?;
        Ok(SqliteWrite { tx, _writer: writer })
    }

    async fn lock_jobs(&self, _tx: &mut Conn<Self>, _jobs: &[i64]) -> Result<(), StoreError> {
        Ok(())
    }

    /// A set of ids as `$first, $first+1, …` (bound by position: see
    /// [`sql::for_sqlite`]).
    fn id_list(&self, first: usize, n: usize) -> String {
        format!("IN ({})", sql::placeholders(first, n))
    }

    fn key_list(&self, first: usize, n: usize) -> String {
        self.id_list(first, n)
    }

    fn bind_ids<'q>(&self, mut query: Query<'q, Self>, ids: &[i64]) -> Query<'q, Self> {
        for id in ids {
            query = query.bind(*id);
        }
        query
    }

    fn bind_keys<'q>(&self, mut query: Query<'q, Self>, keys: &[&String]) -> Query<'q, Self> {
        for key in keys {
            query = query.bind((*key).clone());
        }
        query
    }

    /// Start `claims`' attempts: one multi-row insert.
    /// What attempts used: multi-row inserts (measured faster here than a
    /// statement per row, which cost a sixth of the control loop).
    async fn insert_usage(&self, tx: &mut Conn<Self>, rows: &[crate::usage::UsageRow], now: Millis) -> Result<(), StoreError> {
        for chunk in rows.chunks(crate::usage::INSERT_CHUNK) {
            let mut query = sqlx::query(self.dynamic(crate::usage::insert_rows(chunk.len())));
            for r in chunk {
                query = query.bind(r.task).bind(r.attempt).bind(r.org).bind(r.job).bind(now).bind(r.outcome);
                for v in crate::usage::columns(&r.usage) {
                    query = query.bind(v);
                }
            }
            query.execute(&mut *tx).await.during("recording usage")?;
        }
        Ok(())
    }

    async fn insert_attempts(&self, tx: &mut Conn<Self>, claims: &[Claim], now: Millis) -> Result<(), StoreError> {
        let mut query = sqlx::query(self.dynamic(crate::sql::insert_attempts(claims.len())));
        for c in claims {
            query = query.bind(c.task).bind(c.attempt).bind(now).bind(c.deadline).bind(c.credential.clone()).bind(c.slot);
        }
        query.execute(tx).await.during("starting attempts").map(drop)
    }

    /// Record `events` (with their idempotency `keys`); returns (id, key)
    /// of the new ones.
    async fn insert_events(&self, tx: &mut Conn<Self>, events: &[Produced<'_>], keys: &[String], now: Millis) -> Result<Vec<(i64, String)>, StoreError> {
        let mut query = sqlx::query(self.dynamic(sql::insert_events(events.len())));
        for (p, key) in events.iter().zip(keys) {
            let e = p.event;
            let (start, end) = e.range.map_or((None, None), |(s, e)| (Some(s as i64), Some(e as i64)));
            query = query.bind(p.org).bind(p.job).bind(Some(p.task)).bind(e.output as i32).bind(e.partition_key.clone())
                .bind(start).bind(end).bind(e.cursor.clone()).bind(key.clone()).bind(now);
        }
        let rows = query.fetch_all(tx).await.during("recording events")?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
