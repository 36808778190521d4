//! Operator components, content-addressed: stored under their SHA-256,
//! with BLAKE3 computed too (recorded by the caller), and verified on every
//! load, so a component cannot change under its digest.

use bytes::Bytes;
use object_store::{PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use crate::paths::operator_path;
use crate::{backend, Storage, StorageError};

/// Largest component stored or loaded (the sandbox's admission limit).
pub const MAX_OPERATOR_BYTES: u64 = 64 << 20;

/// A component's digests, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorDigests {
    pub sha256: String,
    pub blake3: String,
}

impl OperatorDigests {
    pub fn of(bytes: &[u8]) -> Self {
        Self { sha256: hex::encode(Sha256::digest(bytes)), blake3: blake3::hash(bytes).to_hex().to_string() }
    }
}

impl Storage {
    /// Store a component under its SHA-256. Storing the same bytes again is a
    /// no-op; the first write of a digest wins and is never overwritten.
    pub async fn put_operator(&self, bytes: &[u8]) -> Result<OperatorDigests, StorageError> {
        let size = bytes.len() as u64;
        let digests = OperatorDigests::of(bytes);
        let path = operator_path(&digests.sha256)?;
        if size > MAX_OPERATOR_BYTES {
            return Err(StorageError::TooLarge { path: path.to_string(), size, limit: MAX_OPERATOR_BYTES });
        }
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store().put_opts(&path, PutPayload::from(Bytes::copy_from_slice(bytes)), options).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(digests),
            Err(e) => Err(backend("put", &path)(e)),
        }
    }

    /// Load the component with SHA-256 `sha256`, checking that its bytes
    /// still hash to it (and to `blake3`, when recorded).
    pub async fn get_operator(&self, sha256: &str, blake3: Option<&str>) -> Result<Bytes, StorageError> {
        let path = operator_path(sha256)?;
        let bytes = self.get(&path, MAX_OPERATOR_BYTES).await?;
        let got = OperatorDigests::of(&bytes);
        let mismatch = |algorithm, expected: &str, got: String| StorageError::DigestMismatch { path: path.to_string(), algorithm, expected: expected.to_owned(), got };
        if got.sha256 != sha256 {
            return Err(mismatch("sha256", sha256, got.sha256));
        }
        if let Some(expected) = blake3
            && got.blake3 != expected {
                return Err(mismatch("blake3", expected, got.blake3));
            }
        Ok(bytes)
    }
}
