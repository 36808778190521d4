//! Write output batches. The host turns them into Parquet and commits them
//! only when the task succeeds.

use arrow_array::RecordBatch;

use crate::bindings::trace::operator::output as wit;
use crate::{fatal, OperatorError};

/// Write `batch` to output `index`.
pub fn write(index: u32, batch: &RecordBatch) -> Result<(), OperatorError> {
    let bytes = encode(batch)?;
    wit::write_batch(index, &bytes).map_err(|m| fatal(format!("writing output {index}: {m}")))
}

/// Encode one batch as an Arrow IPC stream.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, OperatorError> {
    trace_ipc::encode_ipc(std::slice::from_ref(batch)).map_err(|e| fatal(format!("encoding output batch: {}", e.0)))
}
