//! PostgreSQL, the production system database: what it does differently.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool, Pool, Row};

use crate::dialect::{Conn, Dialect, Query};
use crate::error::{DbContext, StoreError};
use crate::model::{Claim, Millis, Produced};
use crate::{migrate, sql};

/// PostgreSQL, the production system database.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    stats: Arc<StatsRefresh>,
}

/// Tasks created since the planner's statistics were last refreshed.
///
/// Why: a burst (a fan-out, a backfill) can grow the task tables from a few
/// rows to thousands within a second, long before autovacuum's next
/// ANALYZE (a minute by default). Planned with the old statistics, claims
/// and payload reads turn into sorts and sequential scans over every task —
/// measured 3–7 ms per statement instead of 0.3 ms. So after each
/// [`ANALYZE_EVERY`] new tasks the store refreshes them itself, off the
/// committing path.
#[derive(Default)]
struct StatsRefresh {
    new_tasks: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicBool,
}

/// New tasks between two statistics refreshes (PostgreSQL).
pub const ANALYZE_EVERY: u64 = 1_000;

/// Longest wait for a pooled connection. While PostgreSQL is down the pool
/// keeps trying to connect; past this a request fails as unavailable (the
/// API answers 503 `database_unavailable`) instead of hanging.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl PgStore {
    /// Connect to `url` (`postgres://…`).
    /// Connect with a pool of at most `max_connections`; a caller waits at
    /// most [`ACQUIRE_TIMEOUT`] for a connection.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).during("parsing the database URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .during("connecting to PostgreSQL")?;
        Ok(Self { pool, stats: Arc::default() })
    }
}

impl Dialect for PgStore {
    type Db = sqlx::Postgres;
    const POSTGRES: bool = true;
    type Write = sqlx::Transaction<'static, sqlx::Postgres>;

    fn migrations() -> &'static [(i64, &'static str)] {
        migrate::POSTGRES
    }

    fn pool(&self) -> &Pool<sqlx::Postgres> {
        &self.pool
    }

    async fn commit(tx: Self::Write) -> Result<(), sqlx::Error> {
        tx.commit().await
    }

    /// Count `n` new tasks; past [`ANALYZE_EVERY`], refresh the planner's
    /// statistics of the task tables in the background (one at a time).
    fn grew(&self, n: u64) {
        use std::sync::atomic::Ordering;
        if n == 0 || self.stats.new_tasks.fetch_add(n, Ordering::Relaxed) + n < ANALYZE_EVERY {
            return;
        }
        if self.stats.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stats.new_tasks.store(0, Ordering::Relaxed);
        let (pool, stats) = (self.pool.clone(), self.stats.clone());
        tokio::spawn(async move {
            if let Err(e) = sqlx::raw_sql("ANALYZE tasks, task_attempts, events").execute(&pool).await {
                tracing::warn!(error = %e, "refreshing planner statistics failed");
            }
            stats.running.store(false, Ordering::Release);
        });
    }

    fn q(&self, sql: &'static str) -> AssertSqlSafe<Cow<'static, str>> {
        AssertSqlSafe(Cow::Borrowed(sql))
    }

    /// SQL assembled from this crate's constants only.
    fn dynamic(&self, sql: String) -> AssertSqlSafe<String> {
        AssertSqlSafe(sql)
    }

    fn locking(&self, sql: &'static str, lock: &'static str) -> AssertSqlSafe<String> {
        AssertSqlSafe(format!("{sql}{lock}"))
    }

    async fn begin_write(&self) -> Result<Self::Write, StoreError> {
        self.pool.begin().await.during("starting a transaction")
    }

    /// Lock `jobs` (sorted, so two dispatchers cannot deadlock) while their
    /// running tasks are counted and new ones started.
    async fn lock_jobs(&self, tx: &mut Conn<Self>, jobs: &[i64]) -> Result<(), StoreError> {
        let query = self.bind_ids(sqlx::query(AssertSqlSafe(crate::sql::lock_jobs(&self.id_list(1, jobs.len())))), jobs);
        query.execute(tx).await.during("locking jobs").map(drop)
    }

    /// A set of ids as parameter `$first`: one array, so a statement's text
    /// (and its prepared, planned form) does not depend on the set's size.
    /// Measured: parsing and planning a statement per distinct `IN`-list
    /// length took milliseconds per claim. Unnested as a subquery, not
    /// `= ANY($first)`: the generic plan for `id = ANY($1)` guessed a tiny
    /// array and scanned whole tables comparing every row with every id.
    fn id_list(&self, first: usize, _n: usize) -> String {
        format!("IN (SELECT unnest(${first}::bigint[]))")
    }

    /// [`id_list`](Self::id_list) for text keys.
    fn key_list(&self, first: usize, _n: usize) -> String {
        format!("IN (SELECT unnest(${first}::text[]))")
    }

    fn bind_ids<'q>(&self, query: Query<'q, Self>, ids: &[i64]) -> Query<'q, Self> {
        query.bind(ids.to_vec())
    }

    fn bind_keys<'q>(&self, query: Query<'q, Self>, keys: &[&String]) -> Query<'q, Self> {
        query.bind(keys.iter().map(|k| (*k).clone()).collect::<Vec<String>>())
    }

    /// What attempts used: one statement over column arrays.
    async fn insert_usage(&self, tx: &mut Conn<Self>, rows: &[crate::usage::UsageRow], now: Millis) -> Result<(), StoreError> {
        let measured: Vec<[Option<i64>; 12]> = rows.iter().map(|r| crate::usage::columns(&r.usage)).collect();
        let mut query = sqlx::query(crate::usage::INSERT_UNNEST)
            .bind(rows.iter().map(|r| r.task).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| r.attempt).collect::<Vec<i32>>())
            .bind(rows.iter().map(|r| r.org).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| r.job).collect::<Vec<i64>>())
            .bind(vec![now; rows.len()])
            .bind(rows.iter().map(|r| r.outcome.to_owned()).collect::<Vec<String>>());
        for i in 0..12 {
            query = query.bind(measured.iter().map(|m| m[i]).collect::<Vec<Option<i64>>>());
        }
        query.execute(tx).await.during("recording usage").map(drop)
    }

    /// Start `claims`' attempts: one statement over column arrays.
    async fn insert_attempts(&self, tx: &mut Conn<Self>, claims: &[Claim], now: Millis) -> Result<(), StoreError> {
        let column = |f: fn(&Claim) -> i64| claims.iter().map(f).collect::<Vec<i64>>();
        sqlx::query(crate::sql::INSERT_ATTEMPTS_UNNEST)
            .bind(column(|c| c.task))
            .bind(claims.iter().map(|c| c.attempt).collect::<Vec<i32>>())
            .bind(vec![now; claims.len()])
            .bind(column(|c| c.deadline))
            .bind(claims.iter().map(|c| c.credential.clone()).collect::<Vec<String>>())
            .bind(claims.iter().map(|c| c.slot).collect::<Vec<Option<i64>>>())
            .execute(tx)
            .await
            .during("starting attempts")
            .map(drop)
    }

    /// Record `events` (with their idempotency `keys`); returns (id, key)
    /// of the new ones.
    async fn insert_events(&self, tx: &mut Conn<Self>, events: &[Produced<'_>], keys: &[String], now: Millis) -> Result<Vec<(i64, String)>, StoreError> {
        let range = |i: usize| events.iter().map(|p| p.event.range.map(|r| if i == 0 { r.0 as i64 } else { r.1 as i64 })).collect::<Vec<Option<i64>>>();
        let rows = sqlx::query(sql::INSERT_EVENTS_UNNEST)
            .bind(events.iter().map(|p| p.org).collect::<Vec<i64>>())
            .bind(events.iter().map(|p| p.job).collect::<Vec<i64>>())
            .bind(events.iter().map(|p| p.task).collect::<Vec<i64>>())
            .bind(events.iter().map(|p| p.event.output as i32).collect::<Vec<i32>>())
            .bind(events.iter().map(|p| p.event.partition_key.clone()).collect::<Vec<String>>())
            .bind(range(0))
            .bind(range(1))
            .bind(events.iter().map(|p| p.event.cursor.clone()).collect::<Vec<Option<String>>>())
            .bind(keys.to_vec())
            .bind(vec![now; events.len()])
            .fetch_all(tx)
            .await
            .during("recording events")?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
