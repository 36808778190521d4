//! What the Query Service and a query's runner process say to each other
//! over the runner's stdin and stdout: length-prefixed frames, a JSON header
//! first, then Arrow IPC streams (the system tables one way, the result rows
//! the other).
//!
//! The runner is on the far side of a process boundary because a query may
//! be hostile: every frame it sends is read within a bound and decoded as
//! untrusted input.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::engine::Columns;
use crate::error::QueryError;
use crate::limits::QueryLimits;

/// Largest reply header the service reads from a runner (errors, counts,
/// columns).
pub(crate) const MAX_REPLY_HEADER_BYTES: u64 = 16 << 20;

/// Largest request a runner reads: the SQL (at most 1 MiB) and every file
/// of the datasets it names, which for a long history is tens of thousands
/// of paths.
pub(crate) const MAX_REQUEST_BYTES: u64 = 256 << 20;

/// What the runner is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    /// Rows back, within the limits.
    Rows,
    /// Every row into a Parquet file at this path.
    Parquet(PathBuf),
    /// Each dataset's columns.
    Describe,
}

/// One query, as sent to its runner. The system tables follow as one Arrow
/// IPC frame each, in the order of `system`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub op: Op,
    pub sql: String,
    pub limits: QueryLimits,
    pub datasets: Vec<(String, Vec<PathBuf>)>,
    pub system: Vec<String>,
}

/// The runner's answer. `Rows` is followed by one Arrow IPC frame.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Rows { rows: usize, truncated: bool, elapsed: Duration },
    Written { rows: u64, bytes: u64, elapsed: Duration },
    Described(Vec<(String, Columns)>),
    Failed(Failure),
}

/// The errors a query's engine can end with, as they cross the boundary.
/// A list of its own rather than `QueryError` made serializable: a runner
/// may only claim what an engine can end with (never `TooManyQueries`,
/// `CacheFull` or a batch's state), and anything else it hits arrives as
/// `Setup`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    NotReadOnly { got: String },
    SeveralStatements,
    Empty,
    TooLong { got: usize, limit: usize },
    Timeout { limit: Duration },
    ResultTooLarge { limit: usize },
    OutOfMemory { what: String, memory: u64, address_space: u64 },
    NoSuchDataset { name: String },
    NoData { name: String },
    Sql(String),
    Setup(String),
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        use QueryError as Q;
        match e {
            Q::NotReadOnly { got } => Failure::NotReadOnly { got },
            Q::SeveralStatements => Failure::SeveralStatements,
            Q::Empty => Failure::Empty,
            Q::TooLong { got, limit } => Failure::TooLong { got, limit },
            Q::Timeout { limit } => Failure::Timeout { limit },
            Q::ResultTooLarge { limit } => Failure::ResultTooLarge { limit },
            Q::OutOfMemory { what, memory, address_space } => Failure::OutOfMemory { what, memory, address_space },
            Q::NoSuchDataset { name } => Failure::NoSuchDataset { name },
            Q::NoData { name } => Failure::NoData { name },
            Q::Sql(message) => Failure::Sql(message),
            other => Failure::Setup(other.to_string()),
        }
    }
}

impl From<Failure> for QueryError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::NotReadOnly { got } => QueryError::NotReadOnly { got },
            Failure::SeveralStatements => QueryError::SeveralStatements,
            Failure::Empty => QueryError::Empty,
            Failure::TooLong { got, limit } => QueryError::TooLong { got, limit },
            Failure::Timeout { limit } => QueryError::Timeout { limit },
            Failure::ResultTooLarge { limit } => QueryError::ResultTooLarge { limit },
            Failure::OutOfMemory { what, memory, address_space } => QueryError::OutOfMemory { what, memory, address_space },
            Failure::NoSuchDataset { name } => QueryError::NoSuchDataset { name },
            Failure::NoData { name } => QueryError::NoData { name },
            Failure::Sql(message) => QueryError::Sql(message),
            Failure::Setup(message) => QueryError::Setup(message),
        }
    }
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a frame is too large: got={got} bytes, limit={limit} bytes")]
    TooLarge { got: u64, limit: u64 },
    #[error("a frame could not be decoded: {0}")]
    Malformed(String),
}

pub(crate) fn write_frame(out: &mut impl Write, bytes: &[u8]) -> Result<(), WireError> {
    out.write_all(&(bytes.len() as u64).to_le_bytes())?;
    out.write_all(bytes)?;
    Ok(())
}

/// The next frame, refused past `limit` bytes before any of it is read.
pub(crate) fn read_frame(input: &mut impl Read, limit: u64) -> Result<Vec<u8>, WireError> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > limit {
        return Err(WireError::TooLarge { got: len, limit });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    input.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(bytes)
}

pub(crate) fn write_json(out: &mut impl Write, value: &impl Serialize) -> Result<(), WireError> {
    let bytes = serde_json::to_vec(value).map_err(|e| WireError::Malformed(e.to_string()))?;
    write_frame(out, &bytes)
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(input: &mut impl Read, limit: u64) -> Result<T, WireError> {
    let bytes = read_frame(input, limit)?;
    serde_json::from_slice(&bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

/// `batches` (all of `schema`) as one Arrow IPC stream frame.
pub(crate) fn write_batches(out: &mut impl Write, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), WireError> {
    let mut ipc = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut ipc, schema).map_err(|e| WireError::Malformed(e.to_string()))?;
    for batch in batches {
        writer.write(batch).map_err(|e| WireError::Malformed(e.to_string()))?;
    }
    writer.finish().map_err(|e| WireError::Malformed(e.to_string()))?;
    drop(writer);
    write_frame(out, &ipc)
}

/// One Arrow IPC stream frame of at most `limit` bytes. The decoder may
/// panic on a crafted stream; that is an error like any other here.
pub(crate) fn read_batches(input: &mut impl Read, limit: u64) -> Result<(SchemaRef, Vec<RecordBatch>), WireError> {
    let ipc = read_frame(input, limit)?;
    let decode = || -> Result<(SchemaRef, Vec<RecordBatch>), arrow::error::ArrowError> {
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None)?;
        let schema = reader.schema();
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        Ok((schema, batches))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)) {
        Ok(Ok(decoded)) => Ok(decoded),
        Ok(Err(e)) => Err(WireError::Malformed(e.to_string())),
        Err(_) => Err(WireError::Malformed("the Arrow decoder failed on it".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_past_its_limit_is_refused_before_it_is_read() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &[7u8; 100]).unwrap();
        assert_eq!(read_frame(&mut bytes.as_slice(), 100).unwrap(), vec![7u8; 100]);
        match read_frame(&mut bytes.as_slice(), 99) {
            Err(WireError::TooLarge { got: 100, limit: 99 }) => {}
            other => panic!("{other:?}"),
        }
        // A frame cut short is an error, not a short read.
        assert!(matches!(read_frame(&mut &bytes[..50], 100), Err(WireError::Io(_))));
    }

    #[test]
    fn garbage_in_place_of_rows_is_an_error() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, b"\xff\xff\xff\xff\x10\x00\x00\x00garbage, not arrow").unwrap();
        assert!(matches!(read_batches(&mut bytes.as_slice(), 1 << 20), Err(WireError::Malformed(_))));
    }
}
