//! From a caller and their SQL to a pinned, locked-down query: resolve the
//! datasets the caller may read to their versions once, find their files
//! (fetching S3 objects into the bounded local cache: DuckDB never sees
//! storage or holds a credential), and run the query off the async threads,
//! within the org's cap on queries at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use trace_storage::{ObjectPath, Storage};
use trace_store::{now_millis, BatchEnd, BatchQueries, BatchQueryView, Db, DatasetView, OrgId, PartitionView, Principal, Registry, VersionRead};

use crate::cache::{CacheLease, FileCache};
use crate::engine::{Catalog, Columns, QueryResult, Table};
use crate::error::QueryError;
use crate::gate::{Gate, Permit};
use crate::guard::admit;
use crate::limits::{QueryLimits, ServiceLimits};
use crate::process::Runner;
use crate::system::{system_tables, Pinned};

/// Who asks: an org, and the user (`None`: an operator on the system
/// database itself, trusted like an admin).
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub user: Option<Principal>,
}

impl Caller {
    fn may_read(&self, d: &DatasetView) -> bool {
        self.user.as_ref().is_none_or(|u| d.readable_by(u))
    }

    fn actor(&self) -> String {
        self.user.as_ref().map_or_else(|| "operator".to_owned(), Principal::actor)
    }
}

/// One query as a caller sends it.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    pub sql: String,
    /// Datasets read at a version other than the current one: name → version UUID.
    pub as_of: BTreeMap<String, String>,
    /// Fewer rows than the service's limit (interactive queries only).
    pub max_rows: Option<usize>,
    /// A shorter wall-time limit than the service's.
    pub timeout: Option<Duration>,
}

/// A dataset as `trace datasets --schema` and `GET /api/v1/tables` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSchema {
    pub name: String,
    /// The current version, if the producing DAG's active version serves one.
    pub version: Option<String>,
    /// Empty until the version has data.
    pub columns: Columns,
    pub partitions: u64,
    pub rows: u64,
    pub bytes: u64,
}

/// A query's datasets, pinned; their cached files stay until it is dropped.
#[derive(Debug)]
pub struct Resolved {
    pub catalog: Catalog,
    lease: CacheLease,
}

/// The Query Service of one process.
pub struct QueryService {
    db: Arc<Db>,
    storage: Storage,
    cache: Arc<FileCache>,
    limits: ServiceLimits,
    gate: Arc<Gate>,
    /// How each query's process is started.
    runner: Runner,
    /// Where batch results are written before they are uploaded.
    scratch: PathBuf,
}

/// A batch result's bytes, in chunks.
pub type ResultStream = futures_util::stream::BoxStream<'static, Result<bytes::Bytes, trace_storage::StorageError>>;

/// The object key of a batch query's result.
pub fn result_key(org: OrgId, id: &str) -> ObjectPath {
    ObjectPath::from(format!("orgs/{org}/queries/{id}.parquet"))
}

/// How long past its time limit a batch query's upload may take before its
/// record reads as abandoned.
pub const BATCH_GRACE: Duration = Duration::from_secs(300);

impl QueryService {
    /// A service reading `storage` (fetched objects cached in `cache_dir`,
    /// at most `limits.cache_bytes` of them), running each query in a
    /// process started by [`Runner::locate`] (see
    /// [`with_runner`](Self::with_runner)).
    pub fn new(db: Arc<Db>, storage: Storage, cache_dir: PathBuf, limits: ServiceLimits) -> Result<Self, QueryError> {
        let scratch = cache_dir.join("results");
        std::fs::create_dir_all(&scratch).map_err(|e| QueryError::Setup(format!("creating {}: {e}", scratch.display())))?;
        let cache = FileCache::new(cache_dir.join("files"), limits.cache_bytes)?;
        let gate = Gate::new(limits.queries_per_org, limits.queries_per_server);
        let runner = Runner::locate();
        Ok(QueryService { db, storage, cache, limits, gate, runner, scratch })
    }

    /// Start each query's process with `runner` instead.
    pub fn with_runner(mut self, runner: Runner) -> Self {
        self.runner = runner;
        self
    }

    pub fn limits(&self) -> &ServiceLimits {
        &self.limits
    }

    /// A place for one more query of `org`: within its quota's
    /// `max_queries` if it has one, else the server's `queries_per_org`.
    async fn enter(&self, org: OrgId) -> Result<Permit, QueryError> {
        let cap = trace_store::Quotas::quota(self.db.as_ref(), org).await.map_err(store)?.and_then(|q| q.max_queries);
        self.gate.enter(org, cap.map(|c| usize::try_from(c).unwrap_or(usize::MAX)))
    }

    /// Run `request` for `caller`, returning at most the interactive row limit.
    pub async fn query(&self, caller: &Caller, request: QueryRequest) -> Result<QueryResult, QueryError> {
        let started = std::time::Instant::now();
        let result = self.query_counted(caller, request).await;
        count("interactive", started, result.as_ref().err());
        result
    }

    async fn query_counted(&self, caller: &Caller, request: QueryRequest) -> Result<QueryResult, QueryError> {
        let _permit = self.enter(caller.org).await?;
        let limits = self.effective(&self.limits.interactive, &request)?;
        let sql = admit(&request.sql)?.to_owned();
        let resolved = self.resolve(caller, &request).await?;
        let runner = self.runner.clone();
        tokio::task::spawn_blocking(move || runner.run(&resolved.catalog, &sql, &limits)).await.map_err(|_| QueryError::Setup("the query thread panicked".into()))?
    }

    /// Start a batch query: no row limit, the result written as Parquet under
    /// the org's prefix. Datasets are pinned now; the id is returned at once.
    pub async fn submit(self: &Arc<Self>, caller: &Caller, request: QueryRequest) -> Result<String, QueryError> {
        let permit = self.enter(caller.org).await?;
        let limits = self.effective(&self.limits.batch, &QueryRequest { max_rows: None, ..request.clone() })?;
        let sql = admit(&request.sql)?.to_owned();
        let Resolved { catalog, lease } = self.resolve_within(caller, &request, limits.max_fetch_bytes).await?;
        let now = now_millis();
        let deadline = now + (limits.timeout + BATCH_GRACE).as_millis() as i64;
        let id = self.db.start_batch_query(caller.org, &caller.actor(), &sql, now, deadline).await.map_err(store)?;
        let service = self.clone();
        let (org, task_id) = (caller.org, id.clone());
        tokio::spawn(async move {
            let end = service.run_batch(org, &task_id, catalog, sql, limits, permit, lease).await;
            if let Err(e) = service.db.end_batch_query(&task_id, &end, now_millis()).await {
                tracing::error!(query = %task_id, error = %e, "recording a batch query's end");
            }
        });
        Ok(id)
    }

    #[allow(clippy::too_many_arguments, reason = "one batch query's context")]
    async fn run_batch(&self, org: OrgId, id: &str, catalog: Catalog, sql: String, limits: QueryLimits, _permit: Permit, _lease: CacheLease) -> BatchEnd {
        let file = self.scratch.join(format!("{id}.parquet"));
        let out = file.clone();
        let started = std::time::Instant::now();
        let runner = self.runner.clone();
        let written = tokio::task::spawn_blocking(move || runner.run_to_parquet(&catalog, &sql, &limits, &out))
            .await
            .unwrap_or_else(|_| Err(QueryError::Setup("the query thread panicked".into())));
        count("batch", started, written.as_ref().err());
        let end = match written {
            Ok(w) => match self.upload(org, id, &file).await {
                Ok(object_key) => BatchEnd::Succeeded { rows: w.rows, bytes: w.bytes, object_key },
                Err(e) => BatchEnd::Failed { error: e.to_string() },
            },
            Err(e) => BatchEnd::Failed { error: e.to_string() },
        };
        let _ = std::fs::remove_file(&file);
        end
    }

    async fn upload(&self, org: OrgId, id: &str, file: &std::path::Path) -> Result<String, QueryError> {
        let key = result_key(org, id);
        self.storage.put_file(&key, file).await.map_err(|e| {
            tracing::error!(query = %id, error = %e, "uploading a batch query's result");
            QueryError::Setup("the result could not be stored".into())
        })?;
        Ok(key.to_string())
    }

    /// The batch query `id` of the caller's org.
    pub async fn batch(&self, caller: &Caller, id: &str) -> Result<BatchQueryView, QueryError> {
        let no_such = || QueryError::NoSuchBatch { id: id.chars().take(64).collect() };
        if !looks_like_uuid(id) {
            return Err(no_such());
        }
        self.db.batch_query(caller.org, id, now_millis()).await.map_err(store)?.ok_or_else(no_such)
    }

    /// The Parquet result of a finished batch query, whole.
    pub async fn batch_result(&self, caller: &Caller, id: &str) -> Result<bytes::Bytes, QueryError> {
        let (_, stream) = self.batch_result_stream(caller, id).await?;
        let parts: Vec<bytes::Bytes> = futures_util::TryStreamExt::try_collect(stream).await.map_err(|e| {
            tracing::error!(query = %id, error = %e, "reading a batch query's result");
            QueryError::Setup("the result could not be read".into())
        })?;
        Ok(parts.concat().into())
    }

    /// The Parquet result of a finished batch query as a stream of chunks,
    /// with its size: what the API hands on without holding it whole.
    pub async fn batch_result_stream(&self, caller: &Caller, id: &str) -> Result<(u64, ResultStream), QueryError> {
        let view = self.batch(caller, id).await?;
        let Some(key) = view.object_key else {
            return Err(QueryError::NotFinished { id: view.id, status: view.status.as_str() });
        };
        self.storage.get_stream(&ObjectPath::from(key), self.limits.batch.max_result_bytes as u64).await.map_err(|e| {
            tracing::error!(query = %id, error = %e, "reading a batch query's result");
            QueryError::Setup("the result could not be read".into())
        })
    }

    /// The datasets `caller` may query, with their current version, columns
    /// and size.
    pub async fn tables(&self, caller: &Caller) -> Result<Vec<DatasetSchema>, QueryError> {
        // It opens a DuckDB too: it counts against the org's cap.
        let _permit = self.enter(caller.org).await?;
        let readable = self.readable(caller).await?;
        let mut out = Vec::with_capacity(readable.len());
        let mut catalog = Catalog::default();
        let mut lease = CacheLease::default();
        let mut fetched = 0;
        for d in &readable {
            let parts = match &d.version {
                Some(v) => match self.db.version_partitions(caller.org, &d.name, v).await.map_err(store)? {
                    VersionRead::Partitions(p) => p,
                    VersionRead::Purged | VersionRead::Missing => Vec::new(),
                },
                None => Vec::new(),
            };
            // One file is enough for the columns: a version's partitions
            // are written by one output.
            if let Some(first) = parts.first() {
                let path = self.local_copy(first, &mut fetched, self.limits.interactive.max_fetch_bytes, &mut lease).await?;
                catalog.datasets.push(Table { name: d.name.clone(), files: vec![path] });
            }
            out.push(DatasetSchema {
                name: d.name.clone(),
                version: d.version.clone(),
                columns: Vec::new(),
                partitions: parts.len() as u64,
                rows: parts.iter().map(|p| p.rows).sum(),
                bytes: parts.iter().map(|p| p.bytes).sum(),
            });
        }
        let limits = self.limits.interactive.clone();
        let runner = self.runner.clone();
        let described = tokio::task::spawn_blocking(move || runner.describe(&catalog, &limits)).await.map_err(|_| QueryError::Setup("the query thread panicked".into()))??;
        for (name, columns) in described {
            if let Some(d) = out.iter_mut().find(|d| d.name == name) {
                d.columns = columns;
            }
        }
        drop(lease);
        Ok(out)
    }

    /// The datasets of the caller's org it may read.
    async fn readable(&self, caller: &Caller) -> Result<Vec<DatasetView>, QueryError> {
        Ok(self.db.datasets(caller.org).await.map_err(store)?.into_iter().filter(|d| caller.may_read(d)).collect())
    }

    /// `base` lowered where the request asks for less; asking for more than
    /// the service allows is an error naming the limit.
    fn effective(&self, base: &QueryLimits, request: &QueryRequest) -> Result<QueryLimits, QueryError> {
        let mut limits = base.clone();
        if let Some(rows) = request.max_rows {
            if rows > base.max_rows {
                return Err(QueryError::AboveLimit { what: "max_rows", asked: rows.to_string(), limit: base.max_rows.to_string() });
            }
            limits.max_rows = rows;
        }
        if let Some(timeout) = request.timeout {
            if timeout.is_zero() {
                return Err(QueryError::BelowMinimum { what: "timeout", asked: "0ms".into(), min: "1ms" });
            }
            if timeout > base.timeout {
                return Err(QueryError::AboveLimit { what: "timeout", asked: format!("{}ms", timeout.as_millis()), limit: format!("{}ms", base.timeout.as_millis()) });
            }
            limits.timeout = timeout;
        }
        Ok(limits)
    }

    /// The datasets `caller` may read that the request's SQL names, each
    /// pinned to one version's files, and the system tables if it reads
    /// them: what [`query`](Self::query) runs on. A dataset the caller may
    /// not read is simply not there, exactly like one that does not exist.
    pub async fn resolve(&self, caller: &Caller, request: &QueryRequest) -> Result<Resolved, QueryError> {
        self.resolve_within(caller, request, self.limits.interactive.max_fetch_bytes).await
    }

    async fn resolve_within(&self, caller: &Caller, request: &QueryRequest, max_fetch: u64) -> Result<Resolved, QueryError> {
        let (sql, as_of) = (&request.sql, &request.as_of);
        let readable = self.readable(caller).await?;
        for name in as_of.keys() {
            if !readable.iter().any(|d| &d.name == name) {
                return Err(QueryError::NoSuchDataset { name: name.clone() });
            }
        }
        let lower = sql.to_ascii_lowercase();
        let system = lower.contains(&format!("{}.", crate::engine::SYSTEM_SCHEMA));
        let mut pins: Vec<(&DatasetView, String, Vec<PartitionView>)> = Vec::new();
        let (mut catalog, mut lease, mut fetched) = (Catalog::default(), CacheLease::default(), 0u64);
        for d in &readable {
            // Only datasets the SQL may name are read (a pinned one is
            // checked whether or not it is named), unless it reads the
            // system tables, which list them all.
            let named = lower.contains(&d.name.to_ascii_lowercase());
            if !(named || system || as_of.contains_key(&d.name)) {
                continue;
            }
            let (version, pinned) = match as_of.get(&d.name) {
                Some(v) => (v.clone(), true),
                None => match &d.version {
                    Some(v) => (v.clone(), false),
                    None => continue,
                },
            };
            let parts = match self.db.version_partitions(caller.org, &d.name, &version).await.map_err(store)? {
                VersionRead::Partitions(p) => p,
                VersionRead::Purged if pinned => return Err(QueryError::Purged { name: d.name.clone(), version }),
                VersionRead::Missing if pinned => return Err(QueryError::NoSuchVersion { name: d.name.clone(), version }),
                // The current version moved between the two reads: read what
                // the dataset's DAG points at now on the next query.
                VersionRead::Purged | VersionRead::Missing => continue,
            };
            if named {
                let mut paths = Vec::with_capacity(parts.len());
                for p in &parts {
                    paths.push(self.local_copy(p, &mut fetched, max_fetch, &mut lease).await?);
                }
                catalog.datasets.push(Table { name: d.name.clone(), files: paths });
            }
            pins.push((d, version, parts));
        }
        if system {
            let pinned: Vec<Pinned<'_>> = pins.iter().map(|(d, v, p)| Pinned { dataset: d, version: v, partitions: p }).collect();
            catalog.system = system_tables(&pinned)?;
        }
        Ok(Resolved { catalog, lease })
    }

    /// The file of a partition: in place for local storage, else fetched
    /// into the cache (objects are immutable under their keys) and held
    /// there by `lease` while the query runs. A committed file its producer
    /// never moved from its staging key is read there.
    async fn local_copy(&self, part: &PartitionView, fetched: &mut u64, max_fetch: u64, lease: &mut CacheLease) -> Result<PathBuf, QueryError> {
        let object = ObjectPath::from(part.object_key.as_str());
        let staged = part.staging_key.as_deref().map(ObjectPath::from);
        if let Some(path) = self.storage.local_file(&object) {
            let fallback = staged.as_ref().and_then(|s| self.storage.local_file(s)).filter(|s| !path.exists() && s.exists());
            return Ok(fallback.unwrap_or(path));
        }
        if let Some(path) = self.cache.hold(&part.object_key, lease) {
            return Ok(path);
        }
        *fetched += part.bytes;
        if *fetched > max_fetch {
            return Err(QueryError::TooMuchToFetch { got: *fetched, limit: max_fetch });
        }
        let failed = |e: trace_storage::StorageError| {
            tracing::error!(error = %e, "fetching a dataset file");
            QueryError::Setup("a dataset file could not be fetched".into())
        };
        let data = match (self.storage.get(&object, max_fetch).await, &staged) {
            (Err(trace_storage::StorageError::NotFound { .. }), Some(staged)) => self.storage.get(staged, max_fetch).await,
            (read, _) => read,
        }
        .map_err(failed)?;
        self.cache.insert(&part.object_key, &data, lease)
    }
}

fn store(e: trace_store::StoreError) -> QueryError {
    tracing::error!(error = %e, "the system database failed a query's lookup");
    QueryError::Setup("the system database could not be read".into())
}

fn looks_like_uuid(id: &str) -> bool {
    id.len() == 36 && id.chars().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// `trace_queries_total{kind, outcome}` and `trace_query_seconds{kind}`.
fn count(kind: &'static str, started: std::time::Instant, error: Option<&QueryError>) {
    let outcome = error.map_or("ok", QueryError::kind);
    metrics::counter!("trace_queries_total", "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!("trace_query_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
}
