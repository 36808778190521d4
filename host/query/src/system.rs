//! System tables: rows of the system database a query may join with the
//! datasets, built as Arrow from the registry.
//!
//! - `trace.datasets`: each dataset the caller may read, with the version
//!   the query reads and its partition, row and byte counts.
//! - `trace.partitions`: the partitions of those versions (ranges, rows,
//!   bytes; never their object keys).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use trace_store::{DatasetView, PartitionView};

use crate::engine::SystemTable;
use crate::error::QueryError;

/// One dataset as the query reads it.
pub struct Pinned<'a> {
    pub dataset: &'a DatasetView,
    pub version: &'a str,
    pub partitions: &'a [PartitionView],
}

/// The names of the system tables.
pub const NAMES: [&str; 2] = ["datasets", "partitions"];

/// The system tables over `pinned`.
pub fn system_tables(pinned: &[Pinned<'_>]) -> Result<Vec<SystemTable>, QueryError> {
    Ok(vec![
        SystemTable { name: NAMES[0], rows: datasets(pinned)? },
        SystemTable { name: NAMES[1], rows: partitions(pinned)? },
    ])
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, QueryError> {
    let fields: Vec<Field> = columns.iter().map(|(name, a)| Field::new(*name, a.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect())
        .map_err(|e| QueryError::Setup(format!("building a system table: {e}")))
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn ints(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values.map(|n| i64::try_from(n).unwrap_or(i64::MAX))))
}

fn datasets(pinned: &[Pinned<'_>]) -> Result<RecordBatch, QueryError> {
    batch(vec![
        ("name", strings(pinned.iter().map(|p| p.dataset.name.as_str()))),
        ("version", strings(pinned.iter().map(|p| p.version))),
        ("dag", strings(pinned.iter().map(|p| p.dataset.dag.as_str()))),
        ("job", strings(pinned.iter().map(|p| p.dataset.producer_job.as_str()))),
        ("partitions", ints(pinned.iter().map(|p| p.partitions.len() as u64))),
        ("rows", ints(pinned.iter().map(|p| p.partitions.iter().map(|x| x.rows).sum()))),
        ("bytes", ints(pinned.iter().map(|p| p.partitions.iter().map(|x| x.bytes).sum()))),
    ])
}

fn partitions(pinned: &[Pinned<'_>]) -> Result<RecordBatch, QueryError> {
    let all: Vec<(&Pinned<'_>, &PartitionView)> = pinned.iter().flat_map(|p| p.partitions.iter().map(move |x| (p, x))).collect();
    let range = |i: usize| -> Arc<dyn arrow::array::Array> {
        Arc::new(Int64Array::from_iter(all.iter().map(|(_, x)| x.range.map(|r| i64::try_from(if i == 0 { r.0 } else { r.1 }).unwrap_or(i64::MAX)))))
    };
    batch(vec![
        ("dataset", strings(all.iter().map(|(p, _)| p.dataset.name.as_str()))),
        ("version", strings(all.iter().map(|(p, _)| p.version))),
        ("partition_key", strings(all.iter().map(|(_, x)| x.partition_key.as_str()))),
        ("range_start", range(0)),
        ("range_end", range(1)),
        ("rows", ints(all.iter().map(|(_, x)| x.rows))),
        ("bytes", ints(all.iter().map(|(_, x)| x.bytes))),
    ])
}
