//! Where things live in object storage. Physical paths are built from ids
//! only — org id, dataset UUID, dataset-version UUID, task and attempt
//! numbers — never from a dataset's name, so renaming or republishing a
//! dataset moves nothing and a name can never reach a path.
//!
//! ```text
//! org/{org}/dataset/{dataset_uuid}/version/{version_uuid}/{start}_{end}.parquet   range partition
//! org/{org}/dataset/{dataset_uuid}/version/{version_uuid}/key_{sha256(key)}.parquet keyed partition
//! org/{org}/dataset/{dataset_uuid}/version/{version_uuid}/{start}_{end}.t{task}.parquet  a task's append to a range
//! org/{org}/staging/task/{task}/attempt/{attempt}/output/{index}/{partition}.parquet not yet committed
//! operators/sha256/{hex}.wasm                                                  content-addressed component
//! ```

use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::StorageError;

/// Which part of a dataset version a file holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Partition {
    /// Rows of the range `[start, end)`.
    Range { start: u64, end: u64 },
    /// Rows of one partition key (any string; hashed into the file name).
    Key(String),
    /// What task `task` of an `append` job added to a range or key: each
    /// task adds a file of its own, and a retry rewrites the same one.
    Appended { to: Box<Partition>, task: i64 },
}

impl Partition {
    /// The file name: `{start}_{end}.parquet` or `key_{sha256}.parquet`,
    /// with `.t{task}` before the extension for an appended file.
    pub fn file_name(&self) -> String {
        format!("{}.parquet", self.stem())
    }

    fn stem(&self) -> String {
        match self {
            Partition::Range { start, end } => format!("{start}_{end}"),
            Partition::Key(key) => format!("key_{}", hex::encode(Sha256::digest(key.as_bytes()))),
            Partition::Appended { to, task } => format!("{}.t{task}", to.stem()),
        }
    }
}

/// A UUID in its canonical text form (the only id text allowed in a path).
fn check_uuid(what: &'static str, id: &str) -> Result<(), StorageError> {
    let canonical = id.len() == 36
        && id.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() && !c.is_ascii_uppercase() });
    if canonical { Ok(()) } else { Err(StorageError::BadId { what, id: id.to_owned() }) }
}

/// The committed file of `partition` in a dataset version.
pub fn partition_path(org: i64, dataset_uuid: &str, version_uuid: &str, partition: &Partition) -> Result<Path, StorageError> {
    check_uuid("dataset uuid", dataset_uuid)?;
    check_uuid("dataset version", version_uuid)?;
    Ok(Path::from(format!("org/{org}/dataset/{dataset_uuid}/version/{version_uuid}/{}", partition.file_name())))
}

/// Everything of one dataset version (for listing and purging).
pub fn version_prefix(org: i64, dataset_uuid: &str, version_uuid: &str) -> Result<Path, StorageError> {
    check_uuid("dataset uuid", dataset_uuid)?;
    check_uuid("dataset version", version_uuid)?;
    Ok(Path::from(format!("org/{org}/dataset/{dataset_uuid}/version/{version_uuid}")))
}

/// Where one attempt writes an output before its completion is accepted.
pub fn staging_path(org: i64, task: i64, attempt: i32, output: u32, partition: &Partition) -> Path {
    Path::from(format!("org/{org}/staging/task/{task}/attempt/{attempt}/output/{output}/{}", partition.file_name()))
}

/// Where org `org`'s attempts stage their files.
pub fn staging_prefix(org: i64) -> Path {
    Path::from(format!("org/{org}/staging"))
}

/// The (task, attempt) that staged the file at `path`, if it is a staging
/// path of org `org` as [`staging_path`] builds them.
pub fn staged_by(org: i64, path: &Path) -> Option<(i64, i32)> {
    let rest = path.as_ref().strip_prefix(&format!("org/{org}/staging/task/"))?;
    let mut parts = rest.split('/');
    let task = parts.next()?.parse().ok()?;
    (parts.next()? == "attempt").then_some(())?;
    let attempt = parts.next()?.parse().ok()?;
    Some((task, attempt))
}

/// A component stored by its SHA-256 (lowercase hex).
pub fn operator_path(sha256_hex: &str) -> Result<Path, StorageError> {
    if sha256_hex.len() != 64 || !sha256_hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(StorageError::BadId { what: "sha256 digest", id: sha256_hex.to_owned() });
    }
    Ok(Path::from(format!("operators/sha256/{sha256_hex}.wasm")))
}
