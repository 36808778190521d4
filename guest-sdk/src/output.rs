//! Write output batches. The host turns them into Parquet and commits them
//! only when the task succeeds.

use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;

use crate::bindings::trace::operator::output as wit;
use crate::{fatal, OperatorError};

/// Write `batch` to output `index`.
pub fn write(index: u32, batch: &RecordBatch) -> Result<(), OperatorError> {
    let bytes = encode(batch)?;
    wit::write_batch(index, &bytes).map_err(|m| fatal(format!("writing output {index}: {m}")))
}

/// Encode one batch as an Arrow IPC stream.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, OperatorError> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    let mut writer = StreamWriter::try_new(&mut buf, &batch.schema())
        .map_err(|e| fatal(format!("encoding output batch: {e}")))?;
    writer.write(batch).map_err(|e| fatal(format!("encoding output batch: {e}")))?;
    writer.finish().map_err(|e| fatal(format!("encoding output batch: {e}")))?;
    drop(writer);
    Ok(buf)
}
