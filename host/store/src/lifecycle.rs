//! A DAG's versions over time: roll back to the previous version (one
//! transaction swapping the active version, and with it the dataset-version
//! pointer set, and canceling the rolled-back version's queued work), and
//! purge a dataset version no active DAG version points at.

use sqlx::Row;

use crate::error::{DbContext, StoreError};
use crate::model::{Millis, OrgId};
use crate::sql::AUDIT;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::{Affected, Dialect};

/// What a rollback or cutover did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    pub from_version: i32,
    pub to_version: i32,
    /// Pending tasks of the rolled-back version, canceled.
    pub canceled: u64,
    /// Running ones, asked to stop (cooperative cancel).
    pub stopping: u64,
    /// Cutover: events the old version's edited jobs completed while the new
    /// version was staged, queued for the new version's jobs.
    pub replayed: u64,
    /// Cutover: the old version's queued and running tasks, queued again as
    /// tasks of the new version's job of the same name (so a source run
    /// triggered before the cutover is not lost with its canceled task).
    pub moved: u64,
}

/// What a purge removed from the registry; the caller deletes the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub dataset_uuid: String,
    pub version_uuid: String,
    /// Object keys of the partitions that were registered.
    pub object_keys: Vec<String>,
}

#[allow(async_fn_in_trait, reason = "used through generics, not trait objects")]
pub trait Lifecycle: Send + Sync {
    /// Make the version that was active before the active one active again.
    async fn rollback(&self, org: OrgId, dag: &str, actor: &str, now: Millis) -> Result<RolledBack, StoreError>;
    /// Make staged version `version` active: one transaction swapping the
    /// active version and so the dataset-version pointer set (a reader sees
    /// all old or all new, never a mix). The replaced version's queued and
    /// running tasks are queued again as tasks of the new version's job of
    /// the same name, then canceled (running ones asked to stop); what its
    /// edited jobs completed meanwhile is queued for the new version too.
    /// All of it drains after the cutover, like
    /// [`rematerialize`](Lifecycle::rematerialize).
    async fn cutover(&self, org: OrgId, dag: &str, version: i32, actor: &str, now: Millis) -> Result<RolledBack, StoreError>;
    /// Queue the rematerialization of staged version `version`: every job
    /// whose materialization-affecting config differs from the active
    /// version's job of the same name re-runs each event that job completed,
    /// as a task of the staged version, writing its new dataset versions;
    /// their events re-run everything downstream in the staged version.
    /// Returns the number of tasks queued (again: none, it is idempotent).
    async fn rematerialize(&self, org: OrgId, dag: &str, version: i32, actor: &str, now: Millis) -> Result<u64, StoreError>;
    /// Forget version `version_uuid` of dataset `dataset`: its partitions'
    /// rows go (returned, for deleting the files); the version stays as
    /// history, marked purged. Refused while the active DAG version uses it.
    async fn purge_version(&self, org: OrgId, dataset: &str, version_uuid: &str, actor: &str, now: Millis) -> Result<Purged, StoreError>;
}

const DAG_VERSIONS: &str = "SELECT g.id, g.active_version_id, v.id, v.version, v.previous_active_id FROM dags g JOIN dag_versions v ON v.dag_id = g.id \
     WHERE g.org_id = $1 AND g.name = $2 ORDER BY v.version";
const PURGED_POINTERS: &str = "SELECT COUNT(*) FROM dag_dataset_pointers p JOIN dataset_versions v ON v.id = p.dataset_version_id \
     WHERE p.dag_version_id = $1 AND v.purged_at IS NOT NULL";
const ACTIVATE: &str = "UPDATE dags SET active_version_id = $1 WHERE id = $2";
const SET_PREVIOUS_ACTIVE: &str = crate::sql::SET_PREVIOUS_ACTIVE;
const CANCEL_QUEUED: &str = "UPDATE tasks SET status = 'canceled', updated_at = $2 \
     WHERE status = 'pending' AND job_id IN (SELECT id FROM jobs WHERE dag_version_id = $1)";
const STOP_RUNNING: &str = "UPDATE tasks SET cancel_requested = 1, updated_at = $2 \
     WHERE status = 'running' AND job_id IN (SELECT id FROM jobs WHERE dag_version_id = $1)";
/// Pending and running tasks of version `$2`, as tasks of version `$1`'s
/// job of the same name.
const MOVE_QUEUED: &str = "INSERT INTO tasks (org_id, job_id, event_id, status, available_at, created_at, updated_at) \
     SELECT t.org_id, nj.id, t.event_id, 'pending', $3, $3, $3 FROM tasks t \
     JOIN jobs oj ON oj.id = t.job_id AND oj.dag_version_id = $2 \
     JOIN jobs nj ON nj.dag_version_id = $1 AND nj.name = oj.name \
     WHERE t.status IN ('pending', 'running') ORDER BY t.id ON CONFLICT (job_id, event_id) DO NOTHING";
const VERSION_IDS: &str = "SELECT g.active_version_id, v.id, g.org_id FROM dags g JOIN dag_versions v ON v.dag_id = g.id \
     WHERE g.org_id = $1 AND g.name = $2 AND v.version = $3";
const REPLAY_EDITED: &str = "INSERT INTO tasks (org_id, job_id, event_id, status, available_at, created_at, updated_at) \
     SELECT t.org_id, nj.id, t.event_id, 'pending', $3, $3, $3 FROM jobs nj \
     JOIN jobs oj ON oj.dag_version_id = $2 AND oj.name = nj.name AND oj.materialization_hash <> nj.materialization_hash \
     JOIN tasks t ON t.job_id = oj.id AND t.status = 'completed' \
     WHERE nj.dag_version_id = $1 ORDER BY t.id ON CONFLICT (job_id, event_id) DO NOTHING";
const VERSION_OF: &str = "SELECT v.id, d.uuid, v.purged_at, \
     (SELECT COUNT(*) FROM dags g JOIN dag_dataset_pointers p ON p.dag_version_id = g.active_version_id \
      WHERE p.dataset_version_id = v.id) \
     FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id WHERE d.org_id = $1 AND d.name = $2 AND v.uuid = $3";
const PARTITION_KEYS: &str = "SELECT object_key FROM dataset_partitions WHERE dataset_version_id = $1 ORDER BY object_key";
const DELETE_PARTITIONS: &str = "DELETE FROM dataset_partitions WHERE dataset_version_id = $1";
const MARK_PURGED: &str = "UPDATE dataset_versions SET purged_at = $2 WHERE id = $1";

/// The step rollback and cutover share.
#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait Switch {
    async fn switch(&self, org: OrgId, dag: &str, to: Option<i32>, actor: &str, now: Millis) -> Result<RolledBack, StoreError>;
}

impl<S> Switch for S
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
    /// Make `to` (or, for `None`, the version before the active one)
    /// the active version of `dag`, in one transaction.
    async fn switch(&self, org: OrgId, dag: &str, to: Option<i32>, actor: &str, now: Millis) -> Result<RolledBack, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(self.q(DAG_VERSIONS)).bind(org).bind(dag).fetch_all(&mut *tx).await.during("reading DAG versions")?;
        let Some(first) = rows.first() else { return Err(StoreError::NoSuchDag(dag.to_owned())) };
        let (dag_id, active): (i64, Option<i64>) = (first.get(0), first.get(1));
        let versions: Vec<(i64, i32)> = rows.iter().map(|r| (r.get(2), r.get(3))).collect();
        let previous: Vec<Option<i64>> = rows.iter().map(|r| r.get(4)).collect();
        let position = versions.iter().position(|(id, _)| Some(*id) == active);
        let before = |i: usize| previous[i].and_then(|p| versions.iter().find(|(id, _)| *id == p).copied());
        let (from, target, action) = match (to, position) {
            (None, Some(i)) => match before(i) {
                Some(t) => (versions[i], t, "dag.rollback"),
                None => return Err(StoreError::NothingToRollBackTo(dag.to_owned())),
            },
            (None, None) => return Err(StoreError::NothingToRollBackTo(dag.to_owned())),
            (Some(v), Some(i)) => match versions.iter().find(|(_, n)| *n == v) {
                Some(t) if t.0 != versions[i].0 => (versions[i], *t, "dag.cutover"),
                Some(_) => return Err(StoreError::AlreadyActive { dag: dag.to_owned(), version: v }),
                None => return Err(StoreError::NoSuchDagVersion { dag: dag.to_owned(), version: v }),
            },
            (Some(v), None) => return Err(StoreError::NoSuchDagVersion { dag: dag.to_owned(), version: v }),
        };
        let purged: i64 = sqlx::query_scalar(self.q(PURGED_POINTERS)).bind(target.0).fetch_one(&mut *tx).await.during("checking pointers")?;
        if purged > 0 {
            return Err(StoreError::RollbackOntoPurged { dag: dag.to_owned(), version: target.1 });
        }
        let (mut drained, mut moved) = (0, 0);
        if action == "dag.cutover" {
            sqlx::query(self.q(SET_PREVIOUS_ACTIVE)).bind(target.0).bind(from.0).execute(&mut *tx).await.during("recording the previous version")?;
            // Work the old version finished while this one was staged
            // is replayed for the edited jobs too, drained from now on.
            drained = sqlx::query(self.q(REPLAY_EDITED)).bind(target.0).bind(from.0).bind(now)
                .execute(&mut *tx).await.during("queueing work done while staged")?.rows_affected();
            // Before the old version's queue is canceled below.
            moved = sqlx::query(self.q(MOVE_QUEUED)).bind(target.0).bind(from.0).bind(now)
                .execute(&mut *tx).await.during("moving queued work to the new version")?.rows_affected();
        }
        sqlx::query(self.q(ACTIVATE)).bind(target.0).bind(dag_id).execute(&mut *tx).await.during("activating a DAG version")?;
        let canceled = sqlx::query(self.q(CANCEL_QUEUED)).bind(from.0).bind(now).execute(&mut *tx).await.during("canceling queued work")?.rows_affected();
        let stopping = sqlx::query(self.q(STOP_RUNNING)).bind(from.0).bind(now).execute(&mut *tx).await.during("stopping running work")?.rows_affected();
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind(action)
            .bind(format!("{dag} v{} -> v{}: {canceled} canceled, {stopping} stopping, {drained} replayed, {moved} moved", from.1, target.1))
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a version switch")?;
        Ok(RolledBack { from_version: from.1, to_version: target.1, canceled, stopping, replayed: drained, moved })
    }
}

impl<S> Lifecycle for S
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
    async fn rollback(&self, org: OrgId, dag: &str, actor: &str, now: Millis) -> Result<RolledBack, StoreError> {
        self.switch(org, dag, None, actor, now).await
    }

    async fn cutover(&self, org: OrgId, dag: &str, version: i32, actor: &str, now: Millis) -> Result<RolledBack, StoreError> {
        self.switch(org, dag, Some(version), actor, now).await
    }

    async fn rematerialize(&self, org: OrgId, dag: &str, version: i32, actor: &str, now: Millis) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(self.q(VERSION_IDS)).bind(org).bind(dag).bind(version).fetch_optional(&mut *tx).await.during("finding a DAG version")?
            .ok_or_else(|| StoreError::NoSuchDagVersion { dag: dag.to_owned(), version })?;
        let (active, staged): (Option<i64>, i64) = (row.get(0), row.get(1));
        let Some(active) = active.filter(|a| *a != staged) else {
            return Err(StoreError::AlreadyActive { dag: dag.to_owned(), version });
        };
        let queued = sqlx::query(self.q(REPLAY_EDITED)).bind(staged).bind(active).bind(now)
            .execute(&mut *tx).await.during("queueing rematerialization")?.rows_affected();
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("dag.rematerialize")
            .bind(format!("{dag} v{version}: {queued} task(s)")).execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a rematerialization")?;
        Ok(queued)
    }

    async fn purge_version(&self, org: OrgId, dataset: &str, version_uuid: &str, actor: &str, now: Millis) -> Result<Purged, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(self.q(VERSION_OF)).bind(org).bind(dataset).bind(version_uuid)
            .fetch_optional(&mut *tx).await.during("finding a dataset version")?
            .ok_or_else(|| StoreError::NoSuchDatasetVersion { dataset: dataset.to_owned(), version: version_uuid.to_owned() })?;
        let (version_id, dataset_uuid, in_use): (i64, String, i64) = (row.get(0), row.get(1), row.get(3));
        if in_use > 0 {
            return Err(StoreError::VersionInUse { dataset: dataset.to_owned(), version: version_uuid.to_owned() });
        }
        let object_keys: Vec<String> = sqlx::query_scalar(self.q(PARTITION_KEYS)).bind(version_id)
            .fetch_all(&mut *tx).await.during("listing partitions")?;
        sqlx::query(self.q(DELETE_PARTITIONS)).bind(version_id).execute(&mut *tx).await.during("deleting partitions")?;
        sqlx::query(self.q(MARK_PURGED)).bind(version_id).bind(now).execute(&mut *tx).await.during("marking a version purged")?;
        sqlx::query(self.q(AUDIT)).bind(now).bind(actor).bind("dataset.purge")
            .bind(format!("{dataset} version {version_uuid}: {} partition(s)", object_keys.len()))
            .execute(&mut *tx).await.during("auditing")?;
        S::commit(tx).await.during("committing a purge")?;
        Ok(Purged { dataset_uuid, version_uuid: version_uuid.to_owned(), object_keys })
    }
}
