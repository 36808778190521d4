//! Alert destinations (per org, with a write-only signing secret) and the
//! shared `alert_deliveries` table the Delivery Service leases from: leases
//! that expire (a killed sender's work is picked up), attempts fenced by the
//! lease holder, and what users see and retry.

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::dialect::{Affected, Dialect};
use crate::error::{DbContext, StoreError};
use crate::model::{Millis, OrgId};

/// A destination as users see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationView {
    pub name: String,
    pub url: String,
    pub max_in_flight: u32,
    pub per_minute: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What registering a destination sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationSpec<'a> {
    pub name: &'a str,
    pub url: &'a str,
    /// The signing secret, sealed (`trace_delivery::destination::seal_secret`):
    /// the database never holds it in clear; never returned.
    pub secret: &'a str,
    pub max_in_flight: u32,
    pub per_minute: u32,
}

/// A leased delivery: everything a sender needs, secret included (the
/// Delivery Service is platform code; nothing here reaches an operator).
#[derive(Clone, PartialEq, Eq)]
pub struct LeasedDelivery {
    pub id: i64,
    pub org: OrgId,
    pub webhook_id: String,
    pub alert_key: String,
    pub destination: String,
    pub severity: String,
    pub event_time: i64,
    pub payload: Option<String>,
    pub writer_job: String,
    /// Attempts made in the current round (a manual retry starts a new one).
    pub attempts: u32,
    pub created_at: Millis,
    /// `None`: the destination was removed after the delivery was routed.
    pub target: Option<LeasedTarget>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct LeasedTarget {
    pub url: String,
    /// Sealed; the Delivery Service opens it with the deployment's key.
    pub secret: String,
    pub max_in_flight: u32,
    pub per_minute: u32,
}

impl std::fmt::Debug for LeasedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeasedDelivery").field("id", &self.id).field("webhook_id", &self.webhook_id).field("destination", &self.destination).finish_non_exhaustive()
    }
}

/// One attempt's result, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub at: Millis,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    /// `delivered`, `http_error`, `timeout`, `connection`, `no_destination`.
    pub outcome: String,
    pub excerpt: Option<String>,
    pub sender: String,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(Millis),
    Failed(String),
}

/// A delivery as users see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryView {
    pub id: i64,
    pub webhook_id: String,
    pub alert_key: String,
    pub destination: String,
    pub severity: String,
    pub event_time: i64,
    pub status: String,
    pub reason: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: Option<Millis>,
    pub writer_job: String,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttemptView {
    pub attempt: u32,
    pub at: Millis,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    pub outcome: String,
    pub excerpt: Option<String>,
    pub sender: String,
}

/// The states a delivery can be in.
pub const DELIVERY_STATES: [&str; 4] = ["pending", "delivered", "failed", "suppressed"];

const UPSERT_DESTINATION: &str = "INSERT INTO alert_destinations (org_id, name, url, signing_secret, max_in_flight, per_minute, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (org_id, name) DO UPDATE SET url = excluded.url, \
     signing_secret = excluded.signing_secret, max_in_flight = excluded.max_in_flight, per_minute = excluded.per_minute, updated_at = excluded.updated_at";
const DESTINATIONS: &str = "SELECT name, url, max_in_flight, per_minute, created_at, updated_at FROM alert_destinations WHERE org_id = $1 ORDER BY name";
const DELETE_DESTINATION: &str = "DELETE FROM alert_destinations WHERE org_id = $1 AND name = $2";
const AUDIT: &str = crate::sql::AUDIT;
/// Due, unleased (or lease expired) pending deliveries, oldest first.
const DUE: &str = "SELECT id FROM alert_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
     AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at, id LIMIT $2";
const DUE_LOCK: &str = " FOR UPDATE SKIP LOCKED";
/// Lease the due deliveries in a list (`$3 …`) to `$1` until `$2`.
fn lease(list: &str) -> String {
    format!("UPDATE alert_deliveries SET lease_owner = $1, lease_until = $2 WHERE status = 'pending' AND id {list}")
}
const LEASED: &str = "SELECT d.id, d.org_id, d.webhook_id, d.alert_key, d.destination, d.severity, d.event_time, d.payload, d.writer_job, \
     d.attempts, d.created_at, t.url, t.signing_secret, t.max_in_flight, t.per_minute FROM alert_deliveries d \
     LEFT JOIN alert_destinations t ON t.org_id = d.org_id AND t.name = d.destination \
     WHERE d.lease_owner = $1 AND d.lease_until = $2 AND d.status = 'pending' ORDER BY d.next_attempt_at, d.id";
/// Numbers an attempt whose lease was lost (the settle below did not apply).
const COUNT_ATTEMPT: &str = "UPDATE alert_deliveries SET total_attempts = total_attempts + 1 WHERE id = $1 RETURNING total_attempts";
const INSERT_ATTEMPT: &str = "INSERT INTO delivery_attempts (delivery_id, attempt, at, duration_ms, status_code, outcome, excerpt, sender) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const SETTLE: &str = "UPDATE alert_deliveries SET status = $3, reason = $4, next_attempt_at = $5, attempts = attempts + 1, \
     total_attempts = total_attempts + 1, lease_owner = NULL, lease_until = NULL, updated_at = $6, delivered_at = $7 \
     WHERE id = $1 AND lease_owner = $2 AND status = 'pending' RETURNING total_attempts";
const VIEW: &str = "SELECT id, webhook_id, alert_key, destination, severity, event_time, status, reason, attempts, next_attempt_at, \
     writer_job, created_at, delivered_at FROM alert_deliveries";
const ATTEMPTS: &str = "SELECT attempt, at, duration_ms, status_code, outcome, excerpt, sender FROM delivery_attempts \
     WHERE delivery_id = $1 ORDER BY attempt";
const RETRY: &str = "UPDATE alert_deliveries SET status = 'pending', reason = NULL, attempts = 0, next_attempt_at = $3, \
     lease_owner = NULL, lease_until = NULL, updated_at = $3 WHERE org_id = $1 AND id = $2 AND status = 'failed'";
const COUNTS: &str = "SELECT status, COUNT(*) FROM alert_deliveries WHERE org_id = $1 GROUP BY status ORDER BY status";
const STATUS_OF: &str = "SELECT status FROM alert_deliveries WHERE org_id = $1 AND id = $2";

/// Destinations and deliveries.
#[allow(async_fn_in_trait, reason = "used through generics, not trait objects")]
pub trait Deliveries: Send + Sync {
    /// Create or replace destination `spec.name` of `org` (audited without its secret).
    async fn set_destination(&self, org: OrgId, spec: &DestinationSpec<'_>, actor: &str, now: Millis) -> Result<(), StoreError>;
    async fn destinations(&self, org: OrgId) -> Result<Vec<DestinationView>, StoreError>;
    async fn delete_destination(&self, org: OrgId, name: &str, actor: &str, now: Millis) -> Result<(), StoreError>;
    /// Lease up to `limit` due deliveries to `owner` until `now + lease_ms`.
    async fn lease_deliveries(&self, owner: &str, now: Millis, lease_ms: i64, limit: u32) -> Result<Vec<LeasedDelivery>, StoreError>;
    /// Record an attempt and what follows it. Returns `false` (and records
    /// the attempt only) when `owner` no longer holds the lease.
    async fn record_attempt(&self, id: i64, owner: &str, attempt: &AttemptRecord, after: &AfterAttempt) -> Result<bool, StoreError> {
        let done = self.record_attempts(owner, std::slice::from_ref(&(id, attempt.clone(), after.clone()))).await?;
        Ok(done[0])
    }
    /// [`record_attempt`](Deliveries::record_attempt) for many, in one
    /// transaction (a sender records what its sends finished together).
    async fn record_attempts(&self, owner: &str, done: &[(i64, AttemptRecord, AfterAttempt)]) -> Result<Vec<bool>, StoreError>;
    /// The newest `limit` deliveries of `org`, in state `status` if given.
    async fn deliveries(&self, org: OrgId, status: Option<&str>, limit: u32) -> Result<Vec<DeliveryView>, StoreError>;
    async fn delivery(&self, org: OrgId, id: i64) -> Result<Option<(DeliveryView, Vec<DeliveryAttemptView>)>, StoreError>;
    /// How many deliveries of `org` are in each state.
    async fn delivery_counts(&self, org: OrgId) -> Result<Vec<(String, i64)>, StoreError>;
    /// Put a `failed` delivery back to `pending`, due now, with a fresh
    /// retry schedule. Any other state is refused with the state named.
    async fn retry_delivery(&self, org: OrgId, id: i64, actor: &str, now: Millis) -> Result<(), StoreError>;
}

fn view<R: Row>(r: &R) -> DeliveryView
where
    usize: ColumnIndex<R>,
    String: for<'a> Decode<'a, R::Database> + Type<R::Database>,
    i64: for<'a> Decode<'a, R::Database> + Type<R::Database>,
    i32: for<'a> Decode<'a, R::Database> + Type<R::Database>,
    Option<i64>: for<'a> Decode<'a, R::Database> + Type<R::Database>,
    Option<String>: for<'a> Decode<'a, R::Database> + Type<R::Database>,
{
    DeliveryView {
        id: r.get(0),
        webhook_id: r.get(1),
        alert_key: r.get(2),
        destination: r.get(3),
        severity: r.get(4),
        event_time: r.get(5),
        status: r.get(6),
        reason: r.get(7),
        attempts: r.get::<i32, _>(8) as u32,
        next_attempt_at: r.get(9),
        writer_job: r.get(10),
        created_at: r.get(11),
        delivered_at: r.get(12),
    }
}

impl<S> Deliveries for S
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
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db>,
    for<'r> Option<i32>: Decode<'r, S::Db>,
    for<'r> Option<String>: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn set_destination(&self, org: OrgId, spec: &DestinationSpec<'_>, actor: &str, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(self.q(UPSERT_DESTINATION)).bind(org).bind(spec.name).bind(spec.url).bind(spec.secret)
            .bind(spec.max_in_flight as i32).bind(spec.per_minute as i32).bind(now)
            .execute(&mut *tx).await.during("saving a destination")?;
        // The URL may carry a token of its own: only the name is audited.
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("destination.set").bind(spec.name)
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a destination")
    }

    async fn destinations(&self, org: OrgId) -> Result<Vec<DestinationView>, StoreError> {
        let rows = sqlx::query(self.q(DESTINATIONS)).bind(org).fetch_all(self.pool()).await.during("listing destinations")?;
        Ok(rows.iter().map(|r| DestinationView {
            name: r.get(0),
            url: r.get(1),
            max_in_flight: r.get::<i32, _>(2) as u32,
            per_minute: r.get::<i32, _>(3) as u32,
            created_at: r.get(4),
            updated_at: r.get(5),
        }).collect())
    }

    async fn delete_destination(&self, org: OrgId, name: &str, actor: &str, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(self.q(DELETE_DESTINATION)).bind(org).bind(name).execute(&mut *tx).await.during("removing a destination")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchDestination(name.to_owned()));
        }
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("destination.delete").bind(name).execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a destination")
    }

    async fn lease_deliveries(&self, owner: &str, now: Millis, lease_ms: i64, limit: u32) -> Result<Vec<LeasedDelivery>, StoreError> {
        let until = now + lease_ms.max(1);
        let mut tx = self.begin_write().await?;
        let due: Vec<i64> = sqlx::query_scalar(self.locking(DUE, DUE_LOCK)).bind(now).bind(limit as i64)
            .fetch_all(&mut *tx).await.during("finding due deliveries")?;
        if !due.is_empty() {
            let query = sqlx::query(self.dynamic(lease(&self.id_list(3, due.len())))).bind(owner).bind(until);
            self.bind_ids(query, &due).execute(&mut *tx).await.during("leasing deliveries")?;
        }
        let rows = sqlx::query(self.q(LEASED)).bind(owner).bind(until).fetch_all(&mut *tx).await.during("reading leased deliveries")?;
        S::commit(tx).await.during("committing leases")?;
        Ok(rows.iter().map(|r| {
            let url: Option<String> = r.get(11);
            LeasedDelivery {
                id: r.get(0),
                org: r.get(1),
                webhook_id: r.get(2),
                alert_key: r.get(3),
                destination: r.get(4),
                severity: r.get(5),
                event_time: r.get(6),
                payload: r.get(7),
                writer_job: r.get(8),
                attempts: r.get::<i32, _>(9) as u32,
                created_at: r.get(10),
                target: url.map(|url| LeasedTarget {
                    url,
                    secret: r.get::<Option<String>, _>(12).unwrap_or_default(),
                    max_in_flight: r.get::<Option<i32>, _>(13).unwrap_or(1).max(1) as u32,
                    per_minute: r.get::<Option<i32>, _>(14).unwrap_or(60).max(1) as u32,
                }),
            }
        }).collect())
    }

    async fn record_attempts(&self, owner: &str, done: &[(i64, AttemptRecord, AfterAttempt)]) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut kept = Vec::with_capacity(done.len());
        for (id, a, after) in done {
            let (status, reason, next, delivered) = match after {
                AfterAttempt::Delivered => ("delivered", None, None, Some(a.at)),
                AfterAttempt::RetryAt(at) => ("pending", None, Some(*at), None),
                AfterAttempt::Failed(why) => ("failed", Some(why.clone()), None, None),
            };
            let settled: Option<i32> = sqlx::query_scalar(self.q(SETTLE)).bind(*id).bind(owner).bind(status).bind(reason).bind(next).bind(a.at).bind(delivered)
                .fetch_optional(&mut *tx).await.during("settling a delivery")?;
            // A lost lease: the attempt happened and is recorded all the same.
            let number = match settled {
                Some(n) => n,
                None => sqlx::query_scalar(self.q(COUNT_ATTEMPT)).bind(*id).fetch_one(&mut *tx).await.during("numbering an attempt")?,
            };
            sqlx::query(self.q(INSERT_ATTEMPT)).bind(*id).bind(number).bind(a.at).bind(a.duration_ms).bind(a.status_code.map(i32::from))
                .bind(&a.outcome).bind(a.excerpt.as_deref()).bind(&a.sender).execute(&mut *tx).await.during("recording a delivery attempt")?;
            kept.push(settled.is_some());
        }
        S::commit(tx).await.during("committing delivery attempts")?;
        Ok(kept)
    }

    async fn deliveries(&self, org: OrgId, status: Option<&str>, limit: u32) -> Result<Vec<DeliveryView>, StoreError> {
        let sql = format!("{VIEW} WHERE org_id = $1 AND ($2 IS NULL OR status = $2) ORDER BY id DESC LIMIT $3");
        let sql = if S::POSTGRES { sql.replace("$2 IS NULL", "$2::text IS NULL") } else { sql };
        let rows = sqlx::query(self.dynamic(sql)).bind(org).bind(status).bind(limit as i64).fetch_all(self.pool()).await.during("listing deliveries")?;
        Ok(rows.iter().map(view).collect())
    }

    async fn delivery(&self, org: OrgId, id: i64) -> Result<Option<(DeliveryView, Vec<DeliveryAttemptView>)>, StoreError> {
        let sql = format!("{VIEW} WHERE org_id = $1 AND id = $2");
        let Some(row) = sqlx::query(self.dynamic(sql)).bind(org).bind(id).fetch_optional(self.pool()).await.during("reading a delivery")? else {
            return Ok(None);
        };
        let attempts = sqlx::query(self.q(ATTEMPTS)).bind(id).fetch_all(self.pool()).await.during("reading delivery attempts")?;
        let attempts = attempts.iter().map(|r| DeliveryAttemptView {
            attempt: r.get::<i32, _>(0) as u32,
            at: r.get(1),
            duration_ms: r.get(2),
            status_code: r.get::<Option<i32>, _>(3).map(|c| c as u16),
            outcome: r.get(4),
            excerpt: r.get(5),
            sender: r.get(6),
        }).collect();
        Ok(Some((view(&row), attempts)))
    }

    async fn delivery_counts(&self, org: OrgId) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(self.q(COUNTS)).bind(org).fetch_all(self.pool()).await.during("counting deliveries")?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn retry_delivery(&self, org: OrgId, id: i64, actor: &str, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(self.q(RETRY)).bind(org).bind(id).bind(now).execute(&mut *tx).await.during("retrying a delivery")?;
        if done.rows_affected() == 0 {
            let status: Option<String> = sqlx::query_scalar(self.q(STATUS_OF)).bind(org).bind(id).fetch_optional(&mut *tx).await.during("reading a delivery")?;
            return Err(match status {
                None => StoreError::NoSuchDelivery(id),
                Some(status) => StoreError::NotRetryable { id, status },
            });
        }
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("delivery.retry").bind(id.to_string()).execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a retry")
    }
}
