//! What a console or an API client lists to see how an org's work has
//! changed: every version of every DAG (which is active, which are staged)
//! and every version of a dataset with what it holds.

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::dialect::Dialect;
use crate::error::{DbContext, StoreError};
use crate::model::{Millis, OrgId};

/// Most DAG versions one listing returns (newest DAGs' versions first cut).
pub const MAX_DAG_VERSIONS: u32 = 5_000;

/// Where a DAG version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    /// What triggers and events run.
    Active,
    /// Newer than the active version: waiting for a cutover.
    Staged,
    /// Older than the active version: what a rollback could return to.
    Previous,
}

impl VersionState {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Active => "active",
            VersionState::Staged => "staged",
            VersionState::Previous => "previous",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagVersionView {
    pub dag: String,
    pub version: i32,
    pub state: VersionState,
    pub created_at: Millis,
    pub deployed_by: String,
    pub jobs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetVersionView {
    pub uuid: String,
    pub created_at: Millis,
    /// The DAG version that writes it.
    pub dag_version: i32,
    /// The active DAG version reads and writes this one.
    pub active: bool,
    pub purged_at: Option<Millis>,
    pub partitions: i64,
    pub rows: i64,
    pub bytes: i64,
}

const DAG_VERSIONS: &str = "SELECT g.name, v.version, v.created_at, v.deployed_by, \
     (SELECT COUNT(*) FROM jobs j WHERE j.dag_version_id = v.id), a.version \
     FROM dags g JOIN dag_versions v ON v.dag_id = g.id LEFT JOIN dag_versions a ON a.id = g.active_version_id \
     WHERE g.org_id = $1 ORDER BY g.name, v.version DESC LIMIT $2";

const DATASET_VERSIONS: &str = "SELECT dv.uuid, dv.created_at, gv.version, dv.purged_at, \
     (SELECT COUNT(*) FROM dags g JOIN dag_dataset_pointers p ON p.dag_version_id = g.active_version_id WHERE p.dataset_version_id = dv.id), \
     (SELECT COUNT(*) FROM dataset_partitions p WHERE p.dataset_version_id = dv.id), \
     (SELECT CAST(COALESCE(SUM(p.row_count), 0) AS BIGINT) FROM dataset_partitions p WHERE p.dataset_version_id = dv.id), \
     (SELECT CAST(COALESCE(SUM(p.byte_count), 0) AS BIGINT) FROM dataset_partitions p WHERE p.dataset_version_id = dv.id) \
     FROM datasets d JOIN dataset_versions dv ON dv.dataset_id = d.id JOIN dag_versions gv ON gv.id = dv.dag_version_id \
     WHERE d.org_id = $1 AND d.name = $2 ORDER BY dv.id DESC";

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub trait History: Send + Sync {
    /// Every version of every DAG of `org`, by DAG name, newest first; at
    /// most [`MAX_DAG_VERSIONS`].
    async fn dag_versions(&self, org: OrgId) -> Result<Vec<DagVersionView>, StoreError>;
    /// Every version of `org`'s dataset `dataset`, newest first (none if
    /// there is no such dataset).
    async fn dataset_versions(&self, org: OrgId, dataset: &str) -> Result<Vec<DatasetVersionView>, StoreError>;
}

impl<S> History for S
where
    S: Dialect,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db> + Type<S::Db>,
    for<'r> String: Decode<'r, S::Db> + Type<S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db> + Type<S::Db>,
    for<'r> Option<i32>: Decode<'r, S::Db> + Type<S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn dag_versions(&self, org: OrgId) -> Result<Vec<DagVersionView>, StoreError> {
        let rows = sqlx::query(self.q(DAG_VERSIONS)).bind(org).bind(i64::from(MAX_DAG_VERSIONS))
            .fetch_all(self.pool()).await.during("listing DAG versions")?;
        Ok(rows
            .iter()
            .map(|r| {
                let version: i32 = r.get(1);
                let state = match r.get::<Option<i32>, _>(5) {
                    Some(active) if active == version => VersionState::Active,
                    Some(active) if active > version => VersionState::Previous,
                    _ => VersionState::Staged,
                };
                DagVersionView { dag: r.get(0), version, state, created_at: r.get(2), deployed_by: r.get(3), jobs: r.get(4) }
            })
            .collect())
    }

    async fn dataset_versions(&self, org: OrgId, dataset: &str) -> Result<Vec<DatasetVersionView>, StoreError> {
        let rows = sqlx::query(self.q(DATASET_VERSIONS)).bind(org).bind(dataset)
            .fetch_all(self.pool()).await.during("listing dataset versions")?;
        Ok(rows
            .iter()
            .map(|r| DatasetVersionView {
                uuid: r.get(0),
                created_at: r.get(1),
                dag_version: r.get(2),
                purged_at: r.get(3),
                active: r.get::<i64, _>(4) > 0,
                partitions: r.get(5),
                rows: r.get(6),
                bytes: r.get(7),
            })
            .collect())
    }
}
