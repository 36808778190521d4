//! Org secrets as the system database holds them: sealed values (the
//! `trace-secrets` crate seals and opens them; the database never sees a
//! key or a value), names that DAG slots refer to, and an audit entry per
//! change that names the secret and nothing more.

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::dialect::{Affected, Conn, Dialect};
use crate::error::{DbContext, StoreError};
use crate::model::{Millis, OrgId};

/// A secret as users see it: its name and when it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretView {
    pub name: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const UPSERT: &str = "INSERT INTO org_secrets (org_id, name, sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (org_id, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at";
const LIST: &str = "SELECT name, created_at, updated_at FROM org_secrets WHERE org_id = $1 ORDER BY name";
const SEALED: &str = "SELECT sealed FROM org_secrets WHERE org_id = $1 AND name = $2";
const DELETE: &str = "DELETE FROM org_secrets WHERE org_id = $1 AND name = $2";
const EXISTS: &str = "SELECT 1 FROM org_secrets WHERE org_id = $1 AND name = $2";
const AUDIT: &str = crate::sql::AUDIT;

#[allow(async_fn_in_trait, reason = "used through generics, not trait objects")]
pub trait Secrets: Send + Sync {
    /// Create or replace secret `name` of `org` with its sealed value.
    async fn set_secret(&self, org: OrgId, name: &str, sealed: &str, actor: &str, now: Millis) -> Result<(), StoreError>;
    async fn secrets(&self, org: OrgId) -> Result<Vec<SecretView>, StoreError>;
    /// The sealed value of `name` (host-side code opens it with the key).
    async fn sealed_secret(&self, org: OrgId, name: &str) -> Result<Option<String>, StoreError>;
    async fn delete_secret(&self, org: OrgId, name: &str, actor: &str, now: Millis) -> Result<(), StoreError>;
}

/// Inside a deploy: every secret the DAG's slots name must exist.
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait CheckSecrets: Dialect {
    async fn check_secrets(&self, tx: &mut Conn<Self>, org: OrgId, dag: &trace_dag::Dag) -> Result<(), StoreError>;
}

impl<S> CheckSecrets for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn check_secrets(&self, tx: &mut Conn<Self>, org: OrgId, dag: &trace_dag::Dag) -> Result<(), StoreError> {
        let named: std::collections::BTreeSet<&str> =
            dag.worker_pools.values().flat_map(|p| &p.slots).flat_map(|s| s.secret_env.values()).map(String::as_str).collect();
        let mut missing = Vec::new();
        for name in named {
            if sqlx::query(self.q(EXISTS)).bind(org).bind(name).fetch_optional(&mut *tx).await.during("finding a secret")?.is_none() {
                missing.push(name.to_owned());
            }
        }
        if missing.is_empty() { Ok(()) } else { Err(StoreError::MissingSecrets(missing)) }
    }
}

impl<S> Secrets for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    <S::Db as Database>::QueryResult: Affected,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn set_secret(&self, org: OrgId, name: &str, sealed: &str, actor: &str, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(self.q(UPSERT)).bind(org).bind(name).bind(sealed).bind(now).execute(&mut *tx).await.during("saving a secret")?;
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("secret.set").bind(name).execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a secret")
    }

    async fn secrets(&self, org: OrgId) -> Result<Vec<SecretView>, StoreError> {
        let rows = sqlx::query(self.q(LIST)).bind(org).fetch_all(self.pool()).await.during("listing secrets")?;
        Ok(rows.iter().map(|r| SecretView { name: r.get(0), created_at: r.get(1), updated_at: r.get(2) }).collect())
    }

    async fn sealed_secret(&self, org: OrgId, name: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(self.q(SEALED)).bind(org).bind(name).fetch_optional(self.pool()).await.during("reading a secret")
    }

    async fn delete_secret(&self, org: OrgId, name: &str, actor: &str, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(self.q(DELETE)).bind(org).bind(name).execute(&mut *tx).await.during("removing a secret")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchSecret(name.to_owned()));
        }
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("secret.delete").bind(name).execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a secret")
    }
}
