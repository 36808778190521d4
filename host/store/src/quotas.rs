//! Per-org quotas: what one org may run at once, start per hour and keep
//! stored, and how many queries it may run at once. A deployment's operator
//! sets them (`trace quota set`); an org sees its own (`GET /api/v1/quota`).
//!
//! The dispatcher enforces the task limits when it claims (`claim.rs`): an
//! org at a limit has its pending tasks left out of the round, so they wait
//! (nothing is failed) and no other org's work queues behind them. On
//! PostgreSQL the quota rows are locked for the claim's transaction, so two
//! dispatchers cannot both take an org's last place.

use std::collections::HashMap;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::dialect::{Conn, Dialect};
use crate::error::{DbContext, StoreError};
use crate::model::{Millis, OrgId};
use crate::sql::AUDIT;

pub const HOUR_MS: i64 = 3_600_000;

/// The start of the clock hour (UTC) `now` is in.
pub fn hour_of(now: Millis) -> Millis {
    now.div_euclid(HOUR_MS) * HOUR_MS
}

/// An org's limits; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Tasks running at once.
    pub max_running: Option<u64>,
    /// Task attempts started per clock hour (UTC).
    pub max_tasks_per_hour: Option<u64>,
    /// Bytes of committed dataset files (every version not purged).
    pub max_stored_bytes: Option<u64>,
    /// Queries (interactive and batch) running at once.
    pub max_queries: Option<u64>,
    /// Fuel each task attempt may burn: the org's tasks run metered and an
    /// attempt past it stops with a limit error.
    pub fuel_per_task: Option<u64>,
}

impl Quota {
    pub fn is_empty(&self) -> bool {
        *self == Quota::default()
    }
}

/// Where an org stands against its quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    pub running: i64,
    pub started_this_hour: i64,
    pub stored_bytes: i64,
}

const UPSERT: &str = "INSERT INTO org_quotas (org_id, max_running, max_tasks_per_hour, max_stored_bytes, max_queries, fuel_per_task, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id) DO UPDATE SET max_running = excluded.max_running, \
     max_tasks_per_hour = excluded.max_tasks_per_hour, max_stored_bytes = excluded.max_stored_bytes, \
     max_queries = excluded.max_queries, fuel_per_task = excluded.fuel_per_task, updated_at = excluded.updated_at";
const DELETE: &str = "DELETE FROM org_quotas WHERE org_id = $1";
const OF_ORG: &str = "SELECT max_running, max_tasks_per_hour, max_stored_bytes, max_queries, fuel_per_task FROM org_quotas WHERE org_id = $1";
/// Every org with a task limit (what a claim has to respect).
const TASK_LIMITS: &str = "SELECT org_id, max_running, max_tasks_per_hour, max_stored_bytes FROM org_quotas \
     WHERE max_running IS NOT NULL OR max_tasks_per_hour IS NOT NULL OR max_stored_bytes IS NOT NULL ORDER BY org_id";
const TASK_LIMITS_LOCK: &str = " FOR UPDATE";
const ADD_STARTS: &str = "INSERT INTO org_hourly_starts (org_id, hour, started) VALUES ($1, $2, $3) \
     ON CONFLICT (org_id, hour) DO UPDATE SET started = org_hourly_starts.started + excluded.started";
const FORGET_HOURS: &str = "DELETE FROM org_hourly_starts WHERE hour < $1";

fn running_of(list: &str) -> String {
    format!("SELECT org_id, COUNT(*) FROM tasks WHERE status = 'running' AND org_id {list} GROUP BY org_id")
}
fn starts_of(list: &str) -> String {
    format!("SELECT org_id, started FROM org_hourly_starts WHERE hour = $1 AND org_id {list}")
}
fn stored_of(list: &str) -> String {
    format!(
        "SELECT d.org_id, CAST(COALESCE(SUM(p.byte_count), 0) AS BIGINT) FROM dataset_partitions p \
         JOIN dataset_versions v ON v.id = p.dataset_version_id JOIN datasets d ON d.id = v.dataset_id \
         WHERE d.org_id {list} GROUP BY d.org_id"
    )
}

fn limit(v: Option<i64>) -> Option<u64> {
    v.map(|v| v.max(0) as u64)
}

fn column(v: Option<u64>) -> Option<i64> {
    v.map(|v| v.min(i64::MAX as u64) as i64)
}

/// What one claim round may still start for each org with a task limit.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    /// Places left this round (the smaller of the running and hourly room).
    pub(crate) left: HashMap<OrgId, i64>,
    /// Orgs with no room at all: their tasks are not candidates.
    pub(crate) blocked: Vec<OrgId>,
    /// Orgs whose starts are counted per hour.
    pub(crate) hourly: Vec<OrgId>,
}

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub trait Quotas: Send + Sync {
    /// Set `org`'s quota (all `None`: remove it). Audited.
    async fn set_quota(&self, org: OrgId, quota: &Quota, actor: &str, now: Millis) -> Result<(), StoreError>;
    /// `org`'s quota, if it has one.
    async fn quota(&self, org: OrgId) -> Result<Option<Quota>, StoreError>;
    /// Where `org` stands at `now`.
    async fn quota_usage(&self, org: OrgId, now: Millis) -> Result<QuotaUsage, StoreError>;
}

/// One org's quota row as the claim reads it.
struct TaskLimits {
    org: OrgId,
    max_running: Option<i64>,
    per_hour: Option<i64>,
    max_stored: Option<i64>,
}

/// The claim's side of quotas.
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait ClaimBudgets: Dialect {
    /// The budgets of every org with a task limit at `now`, its quota rows
    /// locked for the transaction; `None` when no org has one.
    async fn budgets(&self, tx: &mut Conn<Self>, now: Millis) -> Result<Option<Budgets>, StoreError>;
    /// Count `started` task attempts in `now`'s hour.
    async fn count_starts(&self, tx: &mut Conn<Self>, started: &HashMap<OrgId, i64>, now: Millis) -> Result<(), StoreError>;
}

impl<S> ClaimBudgets for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db> + Type<S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn budgets(&self, tx: &mut Conn<Self>, now: Millis) -> Result<Option<Budgets>, StoreError> {
        let rows = sqlx::query(self.locking(TASK_LIMITS, TASK_LIMITS_LOCK)).fetch_all(&mut *tx).await.during("reading quotas")?;
        if rows.is_empty() {
            return Ok(None);
        }
        let limits: Vec<TaskLimits> = rows.iter().map(|r| TaskLimits { org: r.get(0), max_running: r.get(1), per_hour: r.get(2), max_stored: r.get(3) }).collect();
        let orgs: Vec<OrgId> = limits.iter().map(|l| l.org).collect();
        let pairs = |rows: Vec<<S::Db as Database>::Row>| -> HashMap<OrgId, i64> { rows.iter().map(|r| (r.get(0), r.get(1))).collect() };
        let q = self.bind_ids(sqlx::query(self.dynamic(running_of(&self.id_list(1, orgs.len())))), &orgs);
        let running = pairs(q.fetch_all(&mut *tx).await.during("counting running tasks per org")?);
        let q = self.bind_ids(sqlx::query(self.dynamic(starts_of(&self.id_list(2, orgs.len())))).bind(hour_of(now)), &orgs);
        let started = pairs(q.fetch_all(&mut *tx).await.during("counting this hour's starts")?);
        let stored = if limits.iter().any(|l| l.max_stored.is_some()) {
            let q = self.bind_ids(sqlx::query(self.dynamic(stored_of(&self.id_list(1, orgs.len())))), &orgs);
            pairs(q.fetch_all(&mut *tx).await.during("summing stored bytes")?)
        } else {
            HashMap::new()
        };
        let mut budgets = Budgets::default();
        for TaskLimits { org, max_running, per_hour, max_stored } in limits {
            let get = |m: &HashMap<OrgId, i64>| m.get(&org).copied().unwrap_or(0);
            let room = [max_running.map(|m| m - get(&running)), per_hour.map(|m| m - get(&started))].into_iter().flatten().min().unwrap_or(i64::MAX);
            let full = max_stored.is_some_and(|m| get(&stored) >= m);
            if per_hour.is_some() {
                budgets.hourly.push(org);
            }
            if room <= 0 || full {
                budgets.blocked.push(org);
            } else {
                budgets.left.insert(org, room);
            }
        }
        Ok(Some(budgets))
    }

    async fn count_starts(&self, tx: &mut Conn<Self>, started: &HashMap<OrgId, i64>, now: Millis) -> Result<(), StoreError> {
        let hour = hour_of(now);
        for (org, n) in started {
            sqlx::query(self.q(ADD_STARTS)).bind(*org).bind(hour).bind(*n).execute(&mut *tx).await.during("counting starts")?;
        }
        // Hours before the last are never read again.
        if !started.is_empty() {
            sqlx::query(self.q(FORGET_HOURS)).bind(hour - HOUR_MS).execute(&mut *tx).await.during("forgetting old hours")?;
        }
        Ok(())
    }
}

impl<S> Quotas for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db> + Type<S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn set_quota(&self, org: OrgId, quota: &Quota, actor: &str, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if quota.is_empty() {
            sqlx::query(self.q(DELETE)).bind(org).execute(&mut *tx).await.during("removing a quota")?;
        } else {
            sqlx::query(self.q(UPSERT)).bind(org).bind(column(quota.max_running)).bind(column(quota.max_tasks_per_hour))
                .bind(column(quota.max_stored_bytes)).bind(column(quota.max_queries)).bind(column(quota.fuel_per_task)).bind(now)
                .execute(&mut *tx).await.during("setting a quota")?;
        }
        let detail = format!("org {org}: {quota:?}");
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("org.quota").bind(detail).execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a quota")?;
        Ok(())
    }

    async fn quota(&self, org: OrgId) -> Result<Option<Quota>, StoreError> {
        let row = sqlx::query(self.q(OF_ORG)).bind(org).fetch_optional(self.pool()).await.during("reading a quota")?;
        Ok(row.map(|r| Quota { max_running: limit(r.get(0)), max_tasks_per_hour: limit(r.get(1)), max_stored_bytes: limit(r.get(2)), max_queries: limit(r.get(3)), fuel_per_task: limit(r.get(4)) }))
    }

    async fn quota_usage(&self, org: OrgId, now: Millis) -> Result<QuotaUsage, StoreError> {
        let one = |sql: String| sqlx::query(self.dynamic(sql));
        let running = one(running_of("IN ($1)")).bind(org).fetch_optional(self.pool()).await.during("counting running tasks")?;
        let started = one(starts_of("IN ($2)")).bind(hour_of(now)).bind(org).fetch_optional(self.pool()).await.during("counting this hour's starts")?;
        let stored = one(stored_of("IN ($1)")).bind(org).fetch_optional(self.pool()).await.during("summing stored bytes")?;
        let second = |r: Option<<S::Db as Database>::Row>| r.map_or(0, |r| r.get::<i64, _>(1));
        Ok(QuotaUsage { running: second(running), started_this_hour: second(started), stored_bytes: second(stored) })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hours_start_on_the_hour() {
        assert_eq!(super::hour_of(7_199_999), 3_600_000);
        assert_eq!(super::hour_of(7_200_000), 7_200_000);
    }
}
