//! Update strategy `append`: a task's output keeps only rows whose
//! `unique_key` is new — not in the files already committed for its range
//! (or key), and not earlier in the same output. Keys are compared in
//! Arrow's row format, so any column types work, nulls included (a null is
//! a value like any other here).

use std::collections::HashSet;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{ArrowError, DataType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use trace_ipc::{decode_ipc, encode_ipc, IpcError};

/// Most bytes of keys one task's deduplication holds in memory.
pub const MAX_KEY_BYTES: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DedupeError {
    #[error("{what} has no column {column:?} of the unique_key [{unique_key}]; its columns: {columns}")]
    MissingColumn { what: String, column: String, unique_key: String, columns: String },
    #[error("unique_key column {column:?} is {got} in {what} but {expected} before")]
    KeyTypeChanged { what: String, column: String, expected: DataType, got: DataType },
    #[error("unique keys take too much memory: got={got} bytes, limit={limit} bytes")]
    TooManyKeyBytes { got: usize, limit: usize },
    #[error("{what} is not a readable Parquet file")]
    Parquet {
        what: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("output batch {index}")]
    Ipc {
        index: usize,
        #[source]
        source: IpcError,
    },
    #[error("comparing unique keys")]
    Arrow(#[source] ArrowError),
}

/// The keys seen so far, and what was dropped.
pub struct Dedupe {
    unique_key: Vec<String>,
    /// Built from the first batch's key types; later batches must match.
    converter: Option<(RowConverter, Vec<DataType>)>,
    seen: HashSet<Box<[u8]>>,
    key_bytes: usize,
    limit: usize,
    dropped: u64,
}

impl Dedupe {
    pub fn new(unique_key: Vec<String>) -> Self {
        Self::with_limit(unique_key, MAX_KEY_BYTES)
    }

    /// With a key-memory bound other than [`MAX_KEY_BYTES`].
    pub fn with_limit(unique_key: Vec<String>, limit: usize) -> Self {
        Self { unique_key, converter: None, seen: HashSet::new(), key_bytes: 0, limit, dropped: 0 }
    }

    /// Rows dropped as duplicates so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Record the keys of already committed rows.
    pub fn remember(&mut self, what: &str, batch: &RecordBatch) -> Result<(), DedupeError> {
        self.keep_new(what, batch).map(|_| ())
    }

    /// `batch` without the rows whose key was seen; their keys are seen from now on.
    pub fn keep_new(&mut self, what: &str, batch: &RecordBatch) -> Result<RecordBatch, DedupeError> {
        let columns = self
            .unique_key
            .iter()
            .map(|name| {
                batch.column_by_name(name).cloned().ok_or_else(|| DedupeError::MissingColumn {
                    what: what.to_owned(),
                    column: name.clone(),
                    unique_key: self.unique_key.join(", "),
                    columns: batch.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let types: Vec<DataType> = columns.iter().map(|c| c.data_type().clone()).collect();
        if self.converter.is_none() {
            let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
            self.converter = Some((RowConverter::new(fields).map_err(DedupeError::Arrow)?, types.clone()));
        }
        let (converter, expected) = self.converter.as_ref().expect("set above");
        if let Some(i) = (0..types.len()).find(|&i| types[i] != expected[i]) {
            return Err(DedupeError::KeyTypeChanged {
                what: what.to_owned(),
                column: self.unique_key[i].clone(),
                expected: expected[i].clone(),
                got: types[i].clone(),
            });
        }
        let rows = converter.convert_columns(&columns).map_err(DedupeError::Arrow)?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        for row in rows.iter() {
            let new = !self.seen.contains(row.as_ref());
            if new {
                self.key_bytes += row.as_ref().len();
                if self.key_bytes > self.limit {
                    return Err(DedupeError::TooManyKeyBytes { got: self.key_bytes, limit: self.limit });
                }
                self.seen.insert(row.as_ref().into());
            } else {
                self.dropped += 1;
            }
            keep.push(new);
        }
        if keep.iter().all(|k| *k) {
            return Ok(batch.clone());
        }
        arrow_select::filter::filter_record_batch(batch, &BooleanArray::from(keep)).map_err(DedupeError::Arrow)
    }

    /// Remember every key of a committed Parquet file (only the key columns are read).
    pub fn remember_parquet(&mut self, what: &str, bytes: bytes::Bytes) -> Result<(), DedupeError> {
        let parquet = |source| DedupeError::Parquet { what: what.to_owned(), source };
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet)?;
        let schema = builder.schema().clone();
        let mut roots = Vec::with_capacity(self.unique_key.len());
        for name in &self.unique_key {
            let index = schema.index_of(name).map_err(|_| DedupeError::MissingColumn {
                what: what.to_owned(),
                column: name.clone(),
                unique_key: self.unique_key.join(", "),
                columns: schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
            })?;
            roots.push(index);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder.with_projection(mask).with_batch_size(8_192).build().map_err(parquet)?;
        for batch in reader {
            self.remember(what, &batch.map_err(DedupeError::Arrow)?)?;
        }
        Ok(())
    }
}

/// An append output made ready to write: the keys of the `existing`
/// committed files (name, Parquet bytes) are remembered, then each of the
/// output's IPC streams keeps only its new rows. Returns the kept streams
/// (empty ones left out) and the number of rows dropped.
pub fn dedupe_output(unique_key: &[String], existing: &[(String, bytes::Bytes)], output: &[Vec<u8>]) -> Result<(Vec<Vec<u8>>, u64), DedupeError> {
    let mut dedupe = Dedupe::new(unique_key.to_vec());
    for (name, bytes) in existing {
        dedupe.remember_parquet(name, bytes.clone())?;
    }
    let mut kept = Vec::with_capacity(output.len());
    for (index, stream) in output.iter().enumerate() {
        let batches = decode_ipc(stream).map_err(|source| DedupeError::Ipc { index, source })?;
        let what = format!("output batch {index}");
        let mut new = Vec::with_capacity(batches.len());
        for batch in &batches {
            let batch = dedupe.keep_new(&what, batch)?;
            if batch.num_rows() > 0 {
                new.push(batch);
            }
        }
        if !new.is_empty() {
            kept.push(encode_ipc(&new).map_err(|source| DedupeError::Ipc { index, source })?);
        }
    }
    Ok((kept, dedupe.dropped()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray, UInt64Array};
    use arrow_schema::{Field, Schema};

    use super::*;

    fn batch(blocks: &[u64], logs: &[Option<i64>], values: &[&str]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("block", DataType::UInt64, false),
            Field::new("log_index", DataType::Int64, true),
            Field::new("value", DataType::Utf8, false),
        ]);
        RecordBatch::try_new(Arc::new(schema), vec![
            Arc::new(UInt64Array::from(blocks.to_vec())),
            Arc::new(Int64Array::from(logs.to_vec())),
            Arc::new(StringArray::from(values.to_vec())),
        ])
        .unwrap()
    }

    fn key() -> Vec<String> {
        vec!["block".into(), "log_index".into()]
    }

    fn values(b: &RecordBatch) -> Vec<String> {
        let v = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
        (0..b.num_rows()).map(|i| v.value(i).to_owned()).collect()
    }

    #[test]
    fn only_rows_with_new_keys_are_kept_across_committed_files_and_within_the_output() {
        let committed = crate::parquet_bytes("old", &[encode_ipc(&[batch(&[1, 1], &[Some(0), None], &["a", "b"])]).unwrap()]).unwrap().unwrap();
        let output = vec![
            // (1,0) and (1,null) are committed; (2,0) is new; (2,0) again is a repeat.
            encode_ipc(&[batch(&[1, 2, 1, 2], &[Some(0), Some(0), None, Some(0)], &["a2", "c", "b2", "c2"])]).unwrap(),
            // All already seen: this stream is left out.
            encode_ipc(&[batch(&[2], &[Some(0)], &["c3"])]).unwrap(),
            encode_ipc(&[batch(&[3], &[Some(1)], &["d"])]).unwrap(),
        ];
        let (kept, dropped) = dedupe_output(&key(), &[("old".into(), committed.bytes.into())], &output).unwrap();
        assert_eq!(dropped, 4);
        let rows: Vec<String> = kept.iter().flat_map(|s| decode_ipc(s).unwrap()).flat_map(|b| values(&b)).collect();
        assert_eq!(rows, vec!["c", "d"], "first occurrence of each new key, in order");
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn a_missing_or_retyped_key_column_is_named() {
        let output = vec![encode_ipc(&[batch(&[1], &[Some(0)], &["a"])]).unwrap()];
        let err = dedupe_output(&["block".into(), "tx_hash".into()], &[], &output).unwrap_err();
        assert_eq!(
            err.to_string(),
            "output batch 0 has no column \"tx_hash\" of the unique_key [block, tx_hash]; its columns: block, log_index, value"
        );
        let mut d = Dedupe::new(vec!["value".into()]);
        d.keep_new("first", &batch(&[1], &[Some(0)], &["a"])).unwrap();
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("value", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![1]))],
        )
        .unwrap();
        let err = d.keep_new("second", &other).unwrap_err();
        assert_eq!(err.to_string(), "unique_key column \"value\" is Int64 in second but Utf8 before");
    }

    #[test]
    fn key_memory_is_bounded() {
        let mut d = Dedupe::with_limit(vec!["value".into()], 64);
        let many: Vec<String> = (0..100).map(|i| format!("value-{i:04}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let err = d.keep_new("output", &batch(&[0; 100], &[None; 100], &refs)).unwrap_err();
        assert!(matches!(err, DedupeError::TooManyKeyBytes { limit: 64, got } if got > 64), "{err}");
        assert!(err.to_string().starts_with("unique keys take too much memory: got="), "{err}");
    }
}
