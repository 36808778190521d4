//! What a live attempt's leased worker slot holds: its `env`, and its
//! `secret_env` as sealed values for host-side code to open. Only the
//! task's live attempt may ask (the same gate as its reports).

use std::collections::{BTreeMap, HashMap};

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::dialect::{Affected, Dialect};
use crate::error::{DbContext, StoreError};
use crate::model::{AttemptAuth, OrgId};

/// A leased slot as the system database holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotLease {
    pub org: OrgId,
    /// The slot's index in its pool (`None`: the task holds no slot).
    pub slot: Option<u32>,
    pub env: BTreeMap<String, String>,
    /// Environment name → (secret name, its sealed value if it still exists).
    pub secrets: BTreeMap<String, (String, Option<String>)>,
}

const LEASE: &str = "SELECT t.org_id, s.slot_index, s.env, s.secret_env FROM task_attempts a JOIN tasks t ON t.id = a.task_id \
     LEFT JOIN worker_slots s ON s.id = a.slot_id WHERE a.task_id = $1 AND a.attempt = $2";
const SEALED: &str = "SELECT sealed FROM org_secrets WHERE org_id = $1 AND name = $2";
/// A job's org, rpc settings and, if it has a pool, slot `$2` of it.
const JOB_SLOT: &str = "SELECT d.org_id, j.rpc, s.slot_index, s.env, s.secret_env FROM jobs j JOIN dag_versions v ON v.id = j.dag_version_id \
     JOIN dags d ON d.id = v.dag_id \
     LEFT JOIN worker_slots s ON s.dag_version_id = j.dag_version_id AND s.pool = j.pool AND s.slot_index = $2 WHERE j.id = $1";
/// Where a follower of job `$1` left off: the end of the furthest range it
/// triggered for any version of that job (trigger events of `follow-` runs).
const FOLLOWED_TO: &str = "SELECT MAX(e.range_end) FROM events e JOIN jobs j ON j.id = e.producer_job_id \
     JOIN dag_versions v ON v.id = j.dag_version_id \
     JOIN jobs me ON me.id = $1 JOIN dag_versions mv ON mv.id = me.dag_version_id \
     WHERE v.dag_id = mv.dag_id AND j.name = me.name AND e.output_index = -1 AND e.idempotency_key LIKE 'run:follow-%'";

/// A slot row (its index, and its `env` and `secret_env` as JSON text; all
/// `None` without a slot) as a lease whose sealed values are still to read.
fn lease_of(org: OrgId, index: Option<i32>, env: Option<String>, secret_env: Option<String>) -> Result<SlotLease, StoreError> {
    let Some(index) = index else { return Ok(SlotLease { org, ..SlotLease::default() }) };
    let parse = |text: Option<String>| -> Result<BTreeMap<String, String>, StoreError> {
        serde_json::from_str(text.as_deref().unwrap_or("{}")).map_err(|e| StoreError::Corrupt(format!("a worker slot's env does not parse: {e}")))
    };
    let secrets = parse(secret_env)?.into_iter().map(|(var, name)| (var, (name, None))).collect();
    Ok(SlotLease { org, slot: Some(index as u32), env: parse(env)?, secrets })
}

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub trait SlotLeases: Send + Sync {
    /// The slot attempt `auth` leased, if it is the task's live attempt.
    async fn slot_lease(&self, auth: &AttemptAuth) -> Result<SlotLease, StoreError>;
    /// Job `job`'s rpc settings and slot `index` of its pool (for host-side
    /// work on the job's behalf, outside any task: following a chain's head).
    async fn job_slot(&self, job: i64, index: u32) -> Result<(Option<trace_protocol::rpc::RpcSettings>, SlotLease), StoreError>;
    /// The end of the furthest range a follower triggered for `job` (any
    /// version of it), if any.
    async fn followed_to(&self, job: i64) -> Result<Option<u64>, StoreError>;
}

impl<S> SlotLeases for S
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
    for<'q> Option<f64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i32>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Vec<u8>: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> Vec<u8>: Decode<'r, S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db>,
    for<'r> Option<f64>: Decode<'r, S::Db>,
    for<'r> Option<i32>: Decode<'r, S::Db>,
    for<'r> Option<String>: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn slot_lease(&self, auth: &AttemptAuth) -> Result<SlotLease, StoreError> {
        let mut conn = self.pool().acquire().await.during("reading a slot lease")?;
        let seen = crate::complete::Completions::snapshot_in(self, &mut *conn, &[auth.task]).await?;
        crate::gate::admit(auth, seen.get(&auth.task), &HashMap::new())?;
        let row = sqlx::query(self.q(LEASE)).bind(auth.task).bind(auth.attempt).fetch_optional(&mut *conn).await.during("reading a slot lease")?
            .ok_or(StoreError::NoSuchTask(auth.task))?;
        let mut lease = lease_of(row.get(0), row.get(1), row.get(2), row.get(3))?;
        for (name, sealed) in lease.secrets.values_mut() {
            *sealed = sqlx::query_scalar(self.q(SEALED)).bind(lease.org).bind(name.as_str()).fetch_optional(&mut *conn).await.during("reading a slot's secret")?;
        }
        Ok(lease)
    }

    async fn job_slot(&self, job: i64, index: u32) -> Result<(Option<trace_protocol::rpc::RpcSettings>, SlotLease), StoreError> {
        let mut conn = self.pool().acquire().await.during("reading a job's slot")?;
        let row = sqlx::query(self.q(JOB_SLOT)).bind(job).bind(index as i32).fetch_optional(&mut *conn).await.during("reading a job's slot")?
            .ok_or(StoreError::NoSuchJob(job))?;
        let rpc = row.get::<Option<String>, _>(1).map(|t| serde_json::from_str(&t)).transpose()
            .map_err(|e| StoreError::Corrupt(format!("a job's rpc settings do not parse: {e}")))?;
        let mut lease = lease_of(row.get(0), row.get(2), row.get(3), row.get(4))?;
        for (name, sealed) in lease.secrets.values_mut() {
            *sealed = sqlx::query_scalar(self.q(SEALED)).bind(lease.org).bind(name.as_str()).fetch_optional(&mut *conn).await.during("reading a slot's secret")?;
        }
        Ok((rpc, lease))
    }

    async fn followed_to(&self, job: i64) -> Result<Option<u64>, StoreError> {
        let end: Option<i64> = sqlx::query_scalar(self.q(FOLLOWED_TO)).bind(job).fetch_one(self.pool()).await.during("finding where a follower left off")?;
        Ok(end.map(|e| e as u64))
    }
}

impl SlotLease {
    /// The grant host-side capabilities use: env as is, each secret opened
    /// by `open(org, name, sealed)`. A secret removed since the deploy, or
    /// one that does not open, is an error naming it (never its value).
    pub fn open(self, open: impl Fn(OrgId, &str, &str) -> Result<String, String>) -> Result<trace_protocol::rpc::SlotGrant, String> {
        let mut grant = trace_protocol::rpc::SlotGrant { slot: self.slot, env: self.env, secrets: BTreeMap::new() };
        for (var, (name, sealed)) in self.secrets {
            let sealed = sealed.ok_or_else(|| format!("secret {name:?} (secret_env {var}) no longer exists; set it again with `trace secret set {name}`"))?;
            grant.secrets.insert(var, open(self.org, &name, &sealed)?);
        }
        Ok(grant)
    }
}
