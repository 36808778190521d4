//! Object storage: where datasets' Parquet partitions and operator
//! components live. One [`Storage`] over object_store — the local
//! filesystem (the embedded default) or S3 (production) — with the path
//! scheme of [`paths`] (ids only, never names) and content-addressed,
//! verified operator components ([`operators`]).
//!
//! DuckDB and operators never get credentials: the host reads objects here
//! and hands them local files or Arrow batches.

pub mod operators;
pub mod paths;

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

pub use operators::{OperatorDigests, MAX_OPERATOR_BYTES};
pub use object_store::path::Path as ObjectPath;
pub use paths::Partition;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage location {url:?} is not understood: {why}")]
    BadUrl { url: String, why: String },
    #[error("{what} {id:?} is not valid in a storage path")]
    BadId { what: &'static str, id: String },
    #[error("object {path} does not exist")]
    NotFound { path: String },
    #[error("object {path} is too large to read: got={size} bytes, limit={limit} bytes")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("object {path} fails verification: {algorithm} is {got}, expected {expected}")]
    DigestMismatch { path: String, algorithm: &'static str, expected: String, got: String },
    #[error("reading the local file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("storage {op} of {path} failed")]
    Backend {
        op: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
}

fn backend<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(object_store::Error) -> StorageError + 'a {
    move |source| match source {
        object_store::Error::NotFound { .. } => StorageError::NotFound { path: path.to_string() },
        source => StorageError::Backend { op, path: path.to_string(), source },
    }
}

/// How to reach S3 (or a compatible server).
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `None` for AWS itself; `http://127.0.0.1:PORT` for a compatible server.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// One bucket or directory.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    location: String,
    /// The directory of a local storage, whose objects are plain files.
    root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("location", &self.location).finish()
    }
}

impl Storage {
    /// Files under `root` (created if missing).
    pub fn local(root: &std::path::Path) -> Result<Self, StorageError> {
        let bad = |why: String| StorageError::BadUrl { url: root.display().to_string(), why };
        std::fs::create_dir_all(root).map_err(|e| bad(format!("creating it: {e}")))?;
        let store = LocalFileSystem::new_with_prefix(root).map_err(|e| bad(e.to_string()))?;
        // Absolute, so files handed to other readers resolve from anywhere.
        let root = std::fs::canonicalize(root).map_err(|e| bad(format!("resolving it: {e}")))?;
        Ok(Self { store: Arc::new(store), location: format!("file://{}", root.display()), root: Some(root) })
    }

    /// The S3 bucket `bucket`.
    pub fn s3(bucket: &str, config: &S3Config) -> Result<Self, StorageError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key);
        if let Some(endpoint) = &config.endpoint {
            // Compatible servers are addressed by path, often over plain HTTP
            // on loopback.
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://")).with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|e| StorageError::BadUrl { url: format!("s3://{bucket}"), why: e.to_string() })?;
        Ok(Self { store: Arc::new(store), location: format!("s3://{bucket}"), root: None })
    }

    /// `file:///ABSOLUTE/PATH` or `s3://BUCKET` (with `s3` settings).
    pub fn open(url: &str, s3: Option<&S3Config>) -> Result<Self, StorageError> {
        let bad = |why: &str| StorageError::BadUrl { url: url.to_owned(), why: why.to_owned() };
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file:// location must be an absolute path"));
            }
            return Self::local(std::path::Path::new(path));
        }
        if let Some(bucket) = url.strip_prefix("s3://") {
            if bucket.is_empty() || bucket.contains('/') {
                return Err(bad("an s3:// location is a bucket name only"));
            }
            return Self::s3(bucket, s3.ok_or_else(|| bad("S3 needs credentials and a region"))?);
        }
        Err(bad("expected file:///PATH or s3://BUCKET"))
    }

    /// The file holding `path`, for a local storage (`None` for S3, whose
    /// objects must be fetched). Paths are checked object paths: no `..`.
    pub fn local_file(&self, path: &Path) -> Option<std::path::PathBuf> {
        let root = self.root.as_ref()?;
        Some(path.parts().fold(root.clone(), |dir, part| dir.join(part.as_ref())))
    }

    /// Where this storage is, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), StorageError> {
        self.store.put(path, PutPayload::from(bytes)).await.map(drop).map_err(backend("put", path))
    }

    /// Read a whole object of at most `limit` bytes.
    pub async fn get(&self, path: &Path, limit: u64) -> Result<Bytes, StorageError> {
        let size = self.store.head(path).await.map_err(backend("head", path))?.size;
        if size > limit {
            return Err(StorageError::TooLarge { path: path.to_string(), size, limit });
        }
        let got = self.store.get(path).await.map_err(backend("get", path))?;
        got.bytes().await.map_err(backend("read", path))
    }

    /// Read an object of at most `limit` bytes as a stream of chunks, with
    /// its size: for large objects handed on without holding them whole.
    pub async fn get_stream(&self, path: &Path, limit: u64) -> Result<(u64, futures::stream::BoxStream<'static, Result<Bytes, StorageError>>), StorageError> {
        let got = self.store.get(path).await.map_err(backend("get", path))?;
        let size = got.meta.size;
        if size > limit {
            return Err(StorageError::TooLarge { path: path.to_string(), size, limit });
        }
        let name = path.to_string();
        let stream = got.into_stream().map_err(move |source| StorageError::Backend { op: "read", path: name.clone(), source });
        Ok((size, Box::pin(stream)))
    }

    /// Store the local file `file` as `path`, in parts (multipart on S3):
    /// never all of it in memory.
    pub async fn put_file(&self, path: &Path, file: &std::path::Path) -> Result<u64, StorageError> {
        use tokio::io::AsyncReadExt;
        let io = |e: std::io::Error| StorageError::Io { path: file.display().to_string(), source: e };
        let mut reader = tokio::fs::File::open(file).await.map_err(io)?;
        let upload = self.store.put_multipart(path).await.map_err(backend("put", path))?;
        let mut writer = object_store::WriteMultipart::new(upload);
        let mut buf = vec![0u8; 8 << 20];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            writer.wait_for_capacity(4).await.map_err(backend("put", path))?;
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(backend("put", path))?;
        Ok(total)
    }

    pub async fn exists(&self, path: &Path) -> Result<bool, StorageError> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend("head", path)(e)),
        }
    }

    /// Make a staged object final: copy it to `to` (replacing what is
    /// there, so a retry lands on the same key), then drop the staged copy.
    pub async fn promote(&self, from: &Path, to: &Path) -> Result<(), StorageError> {
        self.store.copy(from, to).await.map_err(backend("copy", from))?;
        self.store.delete(from).await.map_err(backend("delete", from))
    }

    /// Delete one object (absent is fine).
    pub async fn delete(&self, path: &Path) -> Result<(), StorageError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend("delete", path)(e)),
        }
    }

    /// Objects under `prefix` with their sizes, in path order.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<(Path, u64)>, StorageError> {
        let mut out: Vec<(Path, u64)> = self
            .store
            .list(Some(prefix))
            .map_ok(|m| (m.location, m.size))
            .try_collect()
            .await
            .map_err(backend("list", prefix))?;
        out.sort();
        Ok(out)
    }

    /// Delete every object under `prefix`; returns how many.
    pub async fn delete_prefix(&self, prefix: &Path) -> Result<usize, StorageError> {
        let objects = self.list(prefix).await?;
        for (path, _) in &objects {
            self.store.delete(path).await.map_err(backend("delete", path))?;
        }
        Ok(objects.len())
    }

    pub(crate) fn store(&self) -> &dyn ObjectStore {
        self.store.as_ref()
    }
}
