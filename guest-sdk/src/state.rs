//! Durable operator state, scoped by the platform to this (org, job).

use crate::bindings::trace::operator::state as wit;
use crate::{fatal, OperatorError};

pub fn get(key: &str) -> Option<Vec<u8>> {
    wit::get(key)
}

pub fn put(key: &str, value: &[u8]) -> Result<(), OperatorError> {
    wit::put(key, value).map_err(|m| fatal(format!("writing state {key:?}: {m}")))
}

pub fn delete(key: &str) {
    wit::delete(key)
}

/// A `u64` stored as 8 little-endian bytes.
pub fn get_u64(key: &str) -> Result<Option<u64>, OperatorError> {
    match get(key) {
        None => Ok(None),
        Some(bytes) => {
            let arr: [u8; 8] = bytes
                .try_into()
                .map_err(|_| fatal(format!("state {key:?} is not a u64")))?;
            Ok(Some(u64::from_le_bytes(arr)))
        }
    }
}

pub fn put_u64(key: &str, value: u64) -> Result<(), OperatorError> {
    put(key, &value.to_le_bytes())
}
