//! Identity (users, roles, API tokens) and the dataset registry
//! (`dataset_name` ↔ `dataset_uuid`, producer, `read_roles`, versions and
//! each DAG version's pointer set), for both backends from one macro.

use sha2::{Digest, Sha256};
use sqlx::Row;
use trace_dag::{lineage_hash, Dag};

use crate::ids::{new_credential, new_uuid};
use crate::error::{DbContext, StoreError};
use crate::model::{Millis, OrgId, PartitionView};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::{Affected, Dialect};

pub type UserId = i64;

/// What a user may do in their org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read tasks and the datasets their ACLs allow.
    Viewer,
    /// Also deploy, trigger and cancel.
    Developer,
    /// Everything, including users, tokens and dataset ACLs.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "developer" => Ok(Role::Developer),
            "admin" => Ok(Role::Admin),
            other => Err(format!("role must be admin, developer or viewer, got {other:?}")),
        }
    }
}

/// Who an API token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: UserId,
    pub org: OrgId,
    pub name: String,
    pub role: Role,
}

impl Principal {
    /// How the audit log and `deployed_by` name this user.
    pub fn actor(&self) -> String {
        format!("user:{}", self.name)
    }
}

/// A registered dataset with the version its DAG's active version serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetView {
    pub name: String,
    pub uuid: String,
    pub dag: String,
    pub producer_job: String,
    pub output_index: i32,
    pub read_roles: Vec<String>,
    /// The active DAG version's dataset version (a UUID), if it publishes it.
    pub version: Option<String>,
    /// Everyone who deployed a version of the producing DAG.
    pub deployers: Vec<String>,
}

impl DatasetView {
    /// `read_roles` semantics: org admins and the producing DAG's deployers
    /// always; others only if their role is listed (empty = private).
    pub fn readable_by(&self, who: &Principal) -> bool {
        who.role == Role::Admin || self.deployers.contains(&who.actor()) || self.read_roles.iter().any(|r| r == who.role.as_str())
    }
}

/// What reading one version of a dataset finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRead {
    Partitions(Vec<PartitionView>),
    /// The version existed; its files were purged.
    Purged,
    /// No such version of that published dataset in the org.
    Missing,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// Users, tokens and the dataset registry.
#[allow(async_fn_in_trait, reason = "used through generics, not trait objects")]
pub trait Registry: Send + Sync {
    /// Add a user to `org`; names are unique per org.
    async fn create_user(&self, org: OrgId, name: &str, role: Role, actor: &str, now: Millis) -> Result<UserId, StoreError>;
    /// A new API token for `user`; only its SHA-256 is stored, so the
    /// returned text is the one chance to see it.
    async fn create_token(&self, user: UserId, label: &str, actor: &str, now: Millis) -> Result<String, StoreError>;
    /// Revoke every token of `user`; returns how many were live.
    async fn revoke_tokens(&self, user: UserId, actor: &str, now: Millis) -> Result<u64, StoreError>;
    /// The owner of a live token.
    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError>;
    /// The user called `name` in `org`.
    async fn user(&self, org: OrgId, name: &str) -> Result<Option<UserId>, StoreError>;
    /// Every dataset registered in `org`, by name.
    async fn datasets(&self, org: OrgId) -> Result<Vec<DatasetView>, StoreError>;
    /// The committed partitions of the version of published dataset
    /// `dataset` that its DAG's active version points at (one pinned read).
    async fn partitions(&self, org: OrgId, dataset: &str) -> Result<Vec<PartitionView>, StoreError>;
    /// The committed partitions of version `version` (a UUID) of published
    /// dataset `dataset`: what a query pinned to that version reads.
    async fn version_partitions(&self, org: OrgId, dataset: &str, version: &str) -> Result<VersionRead, StoreError>;
    /// Every registered partition of org `org` as (object key, staging key),
    /// for checking that each committed file is where it should be.
    async fn partition_files(&self, org: OrgId) -> Result<Vec<(String, String)>, StoreError>;
    /// The newest `limit` audit entries, newest first.
    async fn audit_tail(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Set a dataset's `read_roles` (admin-managed, never from DAG YAML).
    async fn set_read_roles(&self, org: OrgId, dataset: &str, roles: &[String], actor: &str, now: Millis) -> Result<(), StoreError>;
}

pub(crate) fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const INSERT_USER: &str = "INSERT INTO users (org_id, name, role, created_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (org_id, name) DO NOTHING RETURNING id";
const INSERT_TOKEN: &str = "INSERT INTO api_tokens (user_id, token_sha256, label, created_at) VALUES ($1, $2, $3, $4)";
const REVOKE_TOKENS: &str = "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
const USER_EXISTS: &str = "SELECT org_id FROM users WHERE id = $1";
const AUTHENTICATE: &str = "SELECT u.id, u.org_id, u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id \
     WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL";
const USER_BY_NAME: &str = "SELECT id FROM users WHERE org_id = $1 AND name = $2";
const DATASET_BY_NAME: &str = "SELECT d.id, d.dag_id, g.name FROM datasets d JOIN dags g ON g.id = d.dag_id \
     WHERE d.org_id = $1 AND d.name = $2";
const INSERT_DATASET: &str = "INSERT INTO datasets (org_id, name, uuid, dag_id, producer_job, output_index, created_at, published) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
const BUFFERED_NAMED: &str = "SELECT g.name FROM buffered_datasets b JOIN dags g ON g.id = b.dag_id WHERE b.org_id = $1 AND b.name = $2";
const PUBLISH_INTERNAL: &str = "UPDATE datasets SET name = $2, published = 1 WHERE id = $1";
const REPUBLISH_DATASET: &str = "UPDATE datasets SET producer_job = $2, output_index = $3 WHERE id = $1";
const POINTED_VERSION: &str = "SELECT v.id, v.materialization_hash FROM dag_dataset_pointers p \
     JOIN dataset_versions v ON v.id = p.dataset_version_id WHERE p.dag_version_id = $1 AND p.dataset_id = $2";
const INSERT_DATASET_VERSION: &str = "INSERT INTO dataset_versions (dataset_id, uuid, dag_version_id, materialization_hash, created_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING id";
const INSERT_POINTER: &str = "INSERT INTO dag_dataset_pointers (dag_version_id, dataset_id, dataset_version_id) VALUES ($1, $2, $3)";
const DATASETS: &str = "SELECT d.name, d.uuid, g.name, d.producer_job, d.output_index, d.read_roles, v.uuid, d.dag_id \
     FROM datasets d JOIN dags g ON g.id = d.dag_id \
     LEFT JOIN dag_dataset_pointers p ON p.dag_version_id = g.active_version_id AND p.dataset_id = d.id \
     LEFT JOIN dataset_versions v ON v.id = p.dataset_version_id WHERE d.org_id = $1 AND d.published = 1 ORDER BY d.name";
const DEPLOYERS: &str = "SELECT DISTINCT deployed_by FROM dag_versions WHERE dag_id = $1 ORDER BY deployed_by";
const SET_READ_ROLES: &str = "UPDATE datasets SET read_roles = $3 WHERE org_id = $1 AND name = $2";
const AUDIT: &str = crate::sql::AUDIT;
const PARTITIONS: &str = "SELECT pt.partition_key, pt.range_start, pt.range_end, pt.object_key, pt.row_count, pt.byte_count, pt.staging_key \
     FROM datasets d JOIN dags g ON g.id = d.dag_id \
     JOIN dag_dataset_pointers p ON p.dag_version_id = g.active_version_id AND p.dataset_id = d.id \
     JOIN dataset_partitions pt ON pt.dataset_version_id = p.dataset_version_id \
     WHERE d.org_id = $1 AND d.name = $2 AND d.published = 1 ORDER BY pt.range_start, pt.partition_key";
const VERSION_OF: &str = "SELECT v.id, v.purged_at FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id \
     WHERE d.org_id = $1 AND d.name = $2 AND d.published = 1 AND v.uuid = $3";
const VERSION_PARTITIONS: &str = "SELECT pt.partition_key, pt.range_start, pt.range_end, pt.object_key, pt.row_count, pt.byte_count, pt.staging_key \
     FROM dataset_partitions pt WHERE pt.dataset_version_id = $1 ORDER BY pt.range_start, pt.partition_key";
const PARTITION_FILES: &str = "SELECT pt.object_key, pt.staging_key FROM dataset_partitions pt \
     JOIN dataset_versions v ON v.id = pt.dataset_version_id JOIN datasets d ON d.id = v.dataset_id \
     WHERE d.org_id = $1 ORDER BY pt.id";
const AUDIT_TAIL: &str = "SELECT at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT $1";

/// Inside a deploy's transaction: the dataset registry's side of it.
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
#[allow(clippy::too_many_arguments, reason = "one deploy's context, in one transaction")]
pub(crate) trait RegisterDatasets: Dialect {
    async fn register_datasets(&self, tx: &mut <Self::Db as Database>::Connection, org: OrgId, dag_id: i64, version_id: i64, previous: Option<i64>, dag: &Dag, now: Millis) -> Result<(), StoreError>;
    async fn dataset_of_output(&self, tx: &mut <Self::Db as Database>::Connection, org: OrgId, dag_id: i64, dag: &str, job: &str, output: u32, published: Option<&str>, now: Millis) -> Result<i64, StoreError>;
    async fn dataset_by_name(&self, tx: &mut <Self::Db as Database>::Connection, org: OrgId, name: &str) -> Result<Option<(i64, i64, String)>, StoreError>;
    async fn point(&self, tx: &mut <Self::Db as Database>::Connection, dataset: i64, version_id: i64, previous: Option<i64>, dag: &Dag, job: &str, output: u32, now: Millis) -> Result<(), StoreError>;
}

impl<S> RegisterDatasets for S
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
    /// Inside a deploy's transaction: register what `dag` publishes and
    /// give DAG version `version_id` its pointer set. A dataset keeps
    /// the dataset version `previous` pointed at when its producer's
    /// lineage is unchanged; otherwise it gets a new one.
    #[allow(clippy::too_many_arguments, reason = "one deploy's context, in one transaction")]
    async fn register_datasets(&self, tx: &mut <Self::Db as Database>::Connection, org: OrgId, dag_id: i64, version_id: i64, previous: Option<i64>, dag: &Dag, now: Millis) -> Result<(), StoreError> {
        for job in &dag.jobs {
            for output in 0..job.outputs {
                let published = dag.publish.iter().find(|p| p.job == job.name && p.output_index == output && !p.is_buffered()).map(|p| p.dataset.as_str());
                let dataset = self.dataset_of_output(&mut *tx, org, dag_id, &dag.name, &job.name, output, published, now).await?;
                self.point(&mut *tx, dataset, version_id, previous, dag, &job.name, output, now).await?;
            }
        }
        Ok(())
    }

    /// The dataset of output `output` of `job`: the published one
    /// called `published`, or the internal one. Publishing an internal
    /// output renames it (metadata only: same UUID, same versions).
    #[allow(clippy::too_many_arguments, reason = "one deploy's context, in one transaction")]
    async fn dataset_of_output(&self, tx: &mut <Self::Db as Database>::Connection, org: OrgId, dag_id: i64, dag: &str, job: &str, output: u32, published: Option<&str>, now: Millis) -> Result<i64, StoreError> {
        let internal = format!("~{dag}.{job}.{output}");
        let Some(name) = published else {
            if let Some((id, _, _)) = self.dataset_by_name(&mut *tx, org, &internal).await? {
                return Ok(id);
            }
            return sqlx::query_scalar(self.q(INSERT_DATASET)).bind(org).bind(&internal).bind(new_uuid()).bind(dag_id)
                .bind(job).bind(output as i32).bind(now).bind(0i32)
                .fetch_one(&mut *tx).await.during("registering a dataset");
        };
        let buffered: Option<String> = sqlx::query_scalar(self.q(BUFFERED_NAMED)).bind(org).bind(name).fetch_optional(&mut *tx).await.during("finding a dataset")?;
        if let Some(producer) = buffered {
            return Err(StoreError::DatasetProducedElsewhere { dataset: name.to_owned(), dag: format!("{producer} (as a buffered dataset)") });
        }
        match self.dataset_by_name(&mut *tx, org, name).await? {
            Some((_, producer, producer_name)) if producer != dag_id => {
                Err(StoreError::DatasetProducedElsewhere { dataset: name.to_owned(), dag: producer_name })
            }
            Some((id, _, _)) => {
                sqlx::query(self.q(REPUBLISH_DATASET)).bind(id).bind(job).bind(output as i32)
                    .execute(&mut *tx).await.during("republishing a dataset")?;
                Ok(id)
            }
            None => match self.dataset_by_name(&mut *tx, org, &internal).await? {
                Some((id, _, _)) => {
                    sqlx::query(self.q(PUBLISH_INTERNAL)).bind(id).bind(name).execute(&mut *tx).await.during("publishing a dataset")?;
                    Ok(id)
                }
                None => sqlx::query_scalar(self.q(INSERT_DATASET)).bind(org).bind(name).bind(new_uuid()).bind(dag_id)
                    .bind(job).bind(output as i32).bind(now).bind(1i32)
                    .fetch_one(&mut *tx).await.during("registering a dataset"),
            },
        }
    }

    /// (id, producing DAG id, producing DAG name) of the dataset `name`.
    async fn dataset_by_name(&self, tx: &mut <Self::Db as Database>::Connection, org: OrgId, name: &str) -> Result<Option<(i64, i64, String)>, StoreError> {
        let row = sqlx::query(self.q(DATASET_BY_NAME)).bind(org).bind(name).fetch_optional(&mut *tx).await.during("finding a dataset")?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    /// Give DAG version `version_id` its pointer for `dataset`: the
    /// version `previous` pointed at if the producer's lineage is
    /// unchanged, else a new dataset version.
    #[allow(clippy::too_many_arguments, reason = "one deploy's context, in one transaction")]
    async fn point(&self, tx: &mut <Self::Db as Database>::Connection, dataset: i64, version_id: i64, previous: Option<i64>, dag: &Dag, job: &str, output: u32, now: Millis) -> Result<(), StoreError> {
            let lineage = format!("{}#{}", lineage_hash(dag, job), output);
            let kept = match previous {
                None => None,
                Some(prev) => sqlx::query(self.q(POINTED_VERSION)).bind(prev).bind(dataset)
                    .fetch_optional(&mut *tx).await.during("reading a pointer")?
                    .filter(|row| row.get::<String, _>(1) == lineage)
                    .map(|row| row.get::<i64, _>(0)),
            };
            let version = match kept {
                Some(v) => v,
                None => sqlx::query_scalar(self.q(INSERT_DATASET_VERSION)).bind(dataset).bind(new_uuid()).bind(version_id)
                    .bind(&lineage).bind(now).fetch_one(&mut *tx).await.during("creating a dataset version")?,
            };
            sqlx::query(self.q(INSERT_POINTER)).bind(version_id).bind(dataset).bind(version)
                .execute(&mut *tx).await.during("recording a pointer")?;
            Ok(())
    }
}

impl<S> Registry for S
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
    async fn create_user(&self, org: OrgId, name: &str, role: Role, actor: &str, now: Millis) -> Result<UserId, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(self.q(INSERT_USER)).bind(org).bind(name).bind(role.as_str()).bind(now)
            .fetch_optional(&mut *tx).await.during("creating a user")?;
        let id = id.ok_or_else(|| StoreError::UserExists(name.to_owned()))?;
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("user.create").bind(format!("{name} ({})", role.as_str()))
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a user")?;
        Ok(id)
    }

    async fn create_token(&self, user: UserId, label: &str, actor: &str, now: Millis) -> Result<String, StoreError> {
        let token = format!("trc_{}", new_credential());
        let mut tx = self.begin_write().await?;
        sqlx::query_scalar::<_, i64>(self.q(USER_EXISTS)).bind(user).fetch_optional(&mut *tx).await.during("finding a user")?
            .ok_or(StoreError::NoSuchUser(user))?;
        sqlx::query(self.q(INSERT_TOKEN)).bind(user).bind(token_digest(&token)).bind(label).bind(now)
            .execute(&mut *tx).await.during("creating a token")?;
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("token.create").bind(format!("user {user} {label:?}"))
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a token")?;
        Ok(token)
    }

    async fn revoke_tokens(&self, user: UserId, actor: &str, now: Millis) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(self.q(REVOKE_TOKENS)).bind(user).bind(now).execute(&mut *tx).await.during("revoking tokens")?.rows_affected();
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("token.revoke").bind(format!("user {user}: {n}"))
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a revocation")?;
        Ok(n)
    }

    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let row = sqlx::query(self.q(AUTHENTICATE)).bind(token_digest(token))
            .fetch_optional(self.pool()).await.during("authenticating")?;
        Ok(row.map(|r| Principal {
            user: r.get(0),
            org: r.get(1),
            name: r.get(2),
            // The column is CHECK-constrained to the three roles.
            role: Role::parse(r.get::<String, _>(3).as_str()).unwrap_or(Role::Viewer),
        }))
    }

    async fn user(&self, org: OrgId, name: &str) -> Result<Option<UserId>, StoreError> {
        sqlx::query_scalar(self.q(USER_BY_NAME)).bind(org).bind(name).fetch_optional(self.pool()).await.during("finding a user")
    }

    async fn datasets(&self, org: OrgId) -> Result<Vec<DatasetView>, StoreError> {
        let rows = sqlx::query(self.q(DATASETS)).bind(org).fetch_all(self.pool()).await.during("listing datasets")?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let deployers: Vec<String> = sqlx::query_scalar(self.q(DEPLOYERS)).bind(r.get::<i64, _>(7))
                .fetch_all(self.pool()).await.during("listing deployers")?;
            out.push(DatasetView {
                name: r.get(0),
                uuid: r.get(1),
                dag: r.get(2),
                producer_job: r.get(3),
                output_index: r.get(4),
                read_roles: serde_json::from_str(r.get::<String, _>(5).as_str()).unwrap_or_default(),
                version: r.get(6),
                deployers,
            });
        }
        Ok(out)
    }

    async fn partitions(&self, org: OrgId, dataset: &str) -> Result<Vec<PartitionView>, StoreError> {
        let rows = sqlx::query(self.q(PARTITIONS)).bind(org).bind(dataset).fetch_all(self.pool()).await.during("listing partitions")?;
        Ok(rows.iter().map(crate::claim::partition_view).collect())
    }

    async fn version_partitions(&self, org: OrgId, dataset: &str, version: &str) -> Result<VersionRead, StoreError> {
        let found = sqlx::query(self.q(VERSION_OF)).bind(org).bind(dataset).bind(version).fetch_optional(self.pool()).await.during("finding a dataset version")?;
        let Some(found) = found else { return Ok(VersionRead::Missing) };
        if found.get::<Option<i64>, _>(1).is_some() {
            return Ok(VersionRead::Purged);
        }
        let id: i64 = found.get(0);
        let rows = sqlx::query(self.q(VERSION_PARTITIONS)).bind(id).fetch_all(self.pool()).await.during("listing a version's partitions")?;
        Ok(VersionRead::Partitions(rows.iter().map(crate::claim::partition_view).collect()))
    }

    async fn partition_files(&self, org: OrgId) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(self.q(PARTITION_FILES)).bind(org).fetch_all(self.pool()).await.during("listing partition files")?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn audit_tail(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(self.q(AUDIT_TAIL)).bind(i64::from(limit)).fetch_all(self.pool()).await.during("reading the audit log")?;
        Ok(rows.iter().map(|r| AuditEntry { at: r.get(0), actor: r.get(1), action: r.get(2), detail: r.get(3) }).collect())
    }

    async fn set_read_roles(&self, org: OrgId, dataset: &str, roles: &[String], actor: &str, now: Millis) -> Result<(), StoreError> {
        for role in roles {
            Role::parse(role).map_err(StoreError::BadRole)?;
        }
        let text = serde_json::to_string(roles).expect("strings serialize");
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(self.q(SET_READ_ROLES)).bind(org).bind(dataset).bind(&text)
            .execute(&mut *tx).await.during("setting read roles")?.rows_affected();
        if n == 0 {
            return Err(StoreError::NoSuchDataset(dataset.to_owned()));
        }
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("dataset.read_roles").bind(format!("{dataset}: {text}"))
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing read roles")?;
        Ok(())
    }
}
