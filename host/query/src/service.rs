//! From a caller and their SQL to a pinned, locked-down query: resolve the
//! datasets the caller may read to their versions once, find their files
//! (fetching S3 objects into a bounded local cache: DuckDB never sees
//! storage or holds a credential), and run the query off the async threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trace_storage::{ObjectPath, Storage};
use trace_store::{Db, DatasetView, OrgId, PartitionView, Principal, Registry, VersionRead};

use crate::engine::{run, QueryResult, Table};
use crate::error::QueryError;
use crate::limits::QueryLimits;

/// Who asks: an org, and the user (`None`: an operator on the system
/// database itself, trusted like an admin).
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub user: Option<Principal>,
}

/// One query as a caller sends it.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    pub sql: String,
    /// Datasets read at a version other than the current one: name → version UUID.
    pub as_of: BTreeMap<String, String>,
    pub limits: QueryLimits,
}

/// Where a query's files are: the storage, and a directory for objects
/// fetched from it (S3) with the most bytes one query may fetch.
#[derive(Debug, Clone)]
pub struct Files {
    pub storage: Storage,
    pub cache_dir: PathBuf,
    pub max_fetch_bytes: u64,
}

/// Run `request` for `caller`.
pub async fn query(db: &Db, files: &Files, caller: &Caller, request: QueryRequest) -> Result<QueryResult, QueryError> {
    let tables = resolve(db, files, caller, &request).await?;
    let QueryRequest { sql, limits, .. } = request;
    tokio::task::spawn_blocking(move || run(&tables, &sql, &limits))
        .await
        .map_err(|_| QueryError::Setup("the query thread panicked".into()))?
}

/// The datasets `caller` may read, each pinned to one version's files. Only
/// datasets the SQL names are resolved; one it may not read is simply not
/// there, exactly like one that does not exist.
pub async fn resolve(db: &Db, files: &Files, caller: &Caller, request: &QueryRequest) -> Result<Vec<Table>, QueryError> {
    let store = |e: trace_store::StoreError| QueryError::Setup(e.to_string());
    let readable: Vec<DatasetView> = db
        .datasets(caller.org)
        .await
        .map_err(store)?
        .into_iter()
        .filter(|d| caller.user.as_ref().is_none_or(|u| d.readable_by(u)))
        .collect();
    for name in request.as_of.keys() {
        if !readable.iter().any(|d| &d.name == name) {
            return Err(QueryError::NoSuchDataset { name: name.clone() });
        }
    }
    let sql = request.sql.to_ascii_lowercase();
    let mut tables = Vec::new();
    let mut fetched = 0u64;
    // A pinned version is checked whether or not the SQL names its dataset.
    let wanted = |d: &&DatasetView| sql.contains(&d.name.to_ascii_lowercase()) || request.as_of.contains_key(&d.name);
    for d in readable.iter().filter(wanted) {
        let (version, pinned) = match request.as_of.get(&d.name) {
            Some(v) => (v.clone(), true),
            None => match &d.version {
                Some(v) => (v.clone(), false),
                None => continue,
            },
        };
        let parts = match db.version_partitions(caller.org, &d.name, &version).await.map_err(store)? {
            VersionRead::Partitions(p) => p,
            VersionRead::Purged if pinned => return Err(QueryError::Purged { name: d.name.clone(), version }),
            VersionRead::Missing if pinned => return Err(QueryError::NoSuchVersion { name: d.name.clone(), version }),
            // The current version moved between the two reads: read what
            // the dataset's DAG points at now on the next query.
            VersionRead::Purged | VersionRead::Missing => continue,
        };
        let mut paths = Vec::with_capacity(parts.len());
        for p in &parts {
            paths.push(local_copy(files, p, &mut fetched).await?);
        }
        tables.push(Table { name: d.name.clone(), files: paths });
    }
    Ok(tables)
}

/// The file of a partition: in place for local storage, else fetched once
/// into the cache (objects are immutable under their keys). A committed file
/// its producer never moved from its staging key is read there.
async fn local_copy(files: &Files, part: &PartitionView, fetched: &mut u64) -> Result<PathBuf, QueryError> {
    let object = ObjectPath::from(part.object_key.as_str());
    let staged = part.staging_key.as_deref().map(ObjectPath::from);
    if let Some(path) = files.storage.local_file(&object) {
        let fallback = staged.as_ref().and_then(|s| files.storage.local_file(s)).filter(|s| !path.exists() && s.exists());
        return Ok(fallback.unwrap_or(path));
    }
    let cached = files.cache_dir.join(part.object_key.replace('/', "__"));
    if cached.exists() {
        return Ok(cached);
    }
    *fetched += part.bytes;
    if *fetched > files.max_fetch_bytes {
        return Err(QueryError::TooMuchToFetch { got: *fetched, limit: files.max_fetch_bytes });
    }
    let failed = |e: trace_storage::StorageError| QueryError::Setup(format!("fetching a dataset file: {e}"));
    let data = match (files.storage.get(&object, files.max_fetch_bytes).await, &staged) {
        (Err(trace_storage::StorageError::NotFound { .. }), Some(staged)) => files.storage.get(staged, files.max_fetch_bytes).await,
        (read, _) => read,
    }
    .map_err(failed)?;
    write_atomically(&cached, &data).map_err(|e| QueryError::Setup(format!("caching a dataset file: {e}")))?;
    Ok(cached)
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let temp = path.with_extension(format!("part-{}", std::process::id()));
    std::fs::write(&temp, data)?;
    std::fs::rename(temp, path)
}
