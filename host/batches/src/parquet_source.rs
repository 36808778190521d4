//! A local Parquet file as a [`BatchSource`]: read natively in bounded
//! batches of rows, each encoded as one Arrow IPC stream for the guest.

use std::fs::File;
use std::path::Path;

use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use trace_core::BatchSource;

use trace_ipc::encode_ipc;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {path}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a readable Parquet file")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
}

/// Streams a Parquet file as IPC batches of at most `batch_rows` rows.
pub struct ParquetSource {
    reader: ParquetRecordBatchReader,
    rows: u64,
}

impl ParquetSource {
    pub fn open(path: &Path, batch_rows: usize) -> Result<Self, SourceError> {
        let display = path.display().to_string();
        let file = File::open(path).map_err(|source| SourceError::Open { path: display.clone(), source })?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(batch_rows.max(1)).build())
            .map_err(|source| SourceError::Parquet { path: display, source })?;
        Ok(Self { reader, rows: 0 })
    }

    /// A Parquet file already in memory (read from object storage).
    pub fn from_bytes(name: &str, bytes: bytes::Bytes, batch_rows: usize) -> Result<Self, SourceError> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.with_batch_size(batch_rows.max(1)).build())
            .map_err(|source| SourceError::Parquet { path: name.to_owned(), source })?;
        Ok(Self { reader, rows: 0 })
    }

    /// Rows handed out so far.
    pub fn rows_read(&self) -> u64 {
        self.rows
    }
}

impl BatchSource for ParquetSource {
    fn next_batch(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.reader.next() {
            None => Ok(None),
            Some(Err(e)) => Err(format!("reading input: {e}")),
            Some(Ok(batch)) => {
                self.rows += batch.num_rows() as u64;
                encode_ipc(&[batch]).map(Some).map_err(|e| e.to_string())
            }
        }
    }
}
