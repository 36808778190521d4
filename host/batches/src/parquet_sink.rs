//! Guest output to Parquet: every IPC stream the guest wrote is decoded,
//! checked against the first batch's schema and appended to one Parquet
//! file, built in memory (outputs are bounded by the sandbox's output limit)
//! so it can go to a local file or to object storage alike.

use std::path::Path;

use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;

use trace_ipc::{decode_ipc, IpcError};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("output batch {index}")]
    Ipc {
        index: usize,
        #[source]
        source: IpcError,
    },
    #[error("output batch {index} changes the schema: expected {expected}, got {got}")]
    SchemaChanged { index: usize, expected: String, got: String },
    #[error("writing {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing Parquet to {path}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
}

/// Accumulates an output's batches into one Parquet file. `name` only
/// labels errors.
pub struct ParquetSink {
    name: String,
    writer: Option<ArrowWriter<Vec<u8>>>,
    schema: Option<SchemaRef>,
    batches: usize,
    rows: u64,
}

/// A finished Parquet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetFile {
    pub bytes: Vec<u8>,
    pub rows: u64,
}

impl ParquetSink {
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), writer: None, schema: None, batches: 0, rows: 0 }
    }

    /// Append one IPC stream written by the guest.
    pub fn append_ipc(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let index = self.batches;
        self.batches += 1;
        let batches = decode_ipc(bytes).map_err(|source| SinkError::Ipc { index, source })?;
        for batch in batches {
            let schema = batch.schema();
            if let Some(expected) = &self.schema
                && expected.fields() != schema.fields() {
                    return Err(SinkError::SchemaChanged { index, expected: expected.to_string(), got: schema.to_string() });
                }
            let path = self.name.clone();
            if self.writer.is_none() {
                let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), None).map_err(|source| SinkError::Parquet { path: path.clone(), source })?;
                self.writer = Some(writer);
                self.schema = Some(schema);
            }
            self.rows += batch.num_rows() as u64;
            let writer = self.writer.as_mut().expect("writer created above");
            writer.write(&batch).map_err(|source| SinkError::Parquet { path, source })?;
        }
        Ok(())
    }

    /// Finish the file (`None` if no batch had a schema: nothing to write).
    pub fn finish(self) -> Result<Option<ParquetFile>, SinkError> {
        let Some(writer) = self.writer else { return Ok(None) };
        let bytes = writer.into_inner().map_err(|source| SinkError::Parquet { path: self.name, source })?;
        Ok(Some(ParquetFile { bytes, rows: self.rows }))
    }
}

/// `ipc_batches` as one Parquet file in memory (`None` for no batches).
pub fn parquet_bytes(name: &str, ipc_batches: &[Vec<u8>]) -> Result<Option<ParquetFile>, SinkError> {
    let mut sink = ParquetSink::new(name);
    for b in ipc_batches {
        sink.append_ipc(b)?;
    }
    sink.finish()
}

/// Write `ipc_batches` to a Parquet file at `path`; returns rows written
/// (no file is written for no batches).
pub fn write_parquet(path: &Path, ipc_batches: &[Vec<u8>]) -> Result<u64, SinkError> {
    let name = path.display().to_string();
    let Some(file) = parquet_bytes(&name, ipc_batches)? else { return Ok(0) };
    std::fs::write(path, &file.bytes).map_err(|source| SinkError::Io { path: name, source })?;
    Ok(file.rows)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int32Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::encode_ipc;

    fn ints() -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        encode_ipc(&[RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1, 2]))]).unwrap()]).unwrap()
    }

    fn strings() -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, false)]));
        encode_ipc(&[RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec!["a"]))]).unwrap()]).unwrap()
    }

    #[test]
    fn an_output_may_not_change_its_schema() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_parquet(&dir.path().join("o.parquet"), &[ints(), strings()]).unwrap_err();
        assert!(matches!(err, SinkError::SchemaChanged { index: 1, .. }), "{err}");
        assert!(err.to_string().contains("output batch 1 changes the schema"), "{err}");
    }

    #[test]
    fn rows_are_counted_and_no_file_is_written_for_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(write_parquet(&dir.path().join("a.parquet"), &[ints(), ints()]).unwrap(), 4);
        assert_eq!(write_parquet(&dir.path().join("b.parquet"), &[]).unwrap(), 0);
        assert!(!dir.path().join("b.parquet").exists());
    }
}
