//! Arrow IPC stream encoding, the wire format between host and guest.

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::ArrowError;

/// A guest handed back bytes that are not an Arrow IPC stream.
#[derive(Debug, thiserror::Error)]
#[error("batch is not a valid Arrow IPC stream")]
pub struct IpcError(#[source] pub ArrowError);

/// Encode batches (all of one schema) as one IPC stream.
pub fn encode_ipc(batches: &[RecordBatch]) -> Result<Vec<u8>, IpcError> {
    let Some(first) = batches.first() else { return Ok(Vec::new()) };
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, &first.schema()).map_err(IpcError)?;
    for b in batches {
        writer.write(b).map_err(IpcError)?;
    }
    writer.finish().map_err(IpcError)?;
    drop(writer);
    Ok(buf)
}

/// Decode one IPC stream. Untrusted input: any malformation is an error.
pub fn decode_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>, IpcError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(IpcError)?;
    reader.collect::<Result<Vec<_>, _>>().map_err(IpcError)
}
