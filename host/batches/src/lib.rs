//! Host-side data for the sandbox: Parquet files are read natively and handed
//! to guests as bounded Arrow IPC batches; guests' IPC output is validated
//! and written back as Parquet. Guests never see a file.

mod dedupe;
mod parquet_source;
mod parquet_sink;
mod rows;

pub use dedupe::{dedupe_output, Dedupe, DedupeError, MAX_KEY_BYTES};
// The IPC wire format is trace-ipc's; re-exported for the host's callers.
pub use trace_ipc::{decode_ipc, decode_ipc_owned, encode_ipc, encode_ipc_slices, ipc_shape, BatchShape, IpcError, IpcShape, ShapeError};
pub use parquet_sink::{parquet_bytes, write_parquet, ParquetFile, ParquetSink, SinkError};
pub use rows::{arrow_type, batch_of, rows_of, RowsError};
pub use parquet_source::{ParquetSource, SourceError};
