//! Arrow IPC stream encoding, the wire format between host and guest.

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::ArrowError;

/// A guest handed back bytes that are not an Arrow IPC stream.
#[derive(Debug, thiserror::Error)]
#[error("batch is not a valid Arrow IPC stream")]
pub struct IpcError(#[source] pub ArrowError);

/// Encode batches (all of one schema) as one IPC stream.
pub fn encode_ipc(batches: &[RecordBatch]) -> Result<Vec<u8>, IpcError> {
    let Some(first) = batches.first() else { return Ok(Vec::new()) };
    // Sized up front (the arrays plus room for the messages' metadata), so
    // the buffer is not copied again each time it would have grown.
    let arrays: usize = batches.iter().flat_map(RecordBatch::columns).map(|c| c.to_data().get_slice_memory_size().unwrap_or(0)).sum();
    let mut buf = Vec::with_capacity(arrays + 1024 * (batches.len() + 1));
    let mut writer = StreamWriter::try_new(&mut buf, &first.schema()).map_err(IpcError)?;
    for b in batches {
        writer.write(b).map_err(IpcError)?;
    }
    writer.finish().map_err(IpcError)?;
    drop(writer);
    Ok(buf)
}

/// `batch` cut into IPC streams of at most `rows` rows each, the bounded
/// batches a source hands a guest (tests and benchmarks build inputs so).
pub fn encode_ipc_slices(batch: &RecordBatch, rows: usize) -> Result<Vec<Vec<u8>>, IpcError> {
    let rows = rows.max(1);
    (0..batch.num_rows())
        .step_by(rows)
        .map(|at| encode_ipc(&[batch.slice(at, rows.min(batch.num_rows() - at))]))
        .collect()
}

/// Decode one IPC stream. Untrusted input: any malformation is an error.
/// The arrays share `bytes`' allocation rather than copying it.
pub fn decode_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>, IpcError> {
    decode_ipc_owned(bytes.to_vec())
}

/// [`decode_ipc`] for bytes the caller no longer needs: no copy at all.
///
/// arrow's decoder asserts on some malformations (a buffer past the
/// message body panics in `Buffer::slice`) rather than returning an error;
/// on bytes from a guest that must not take the host down, so a panic in
/// it is caught and returned as a malformed stream.
pub fn decode_ipc_owned(bytes: Vec<u8>) -> Result<Vec<RecordBatch>, IpcError> {
    std::panic::catch_unwind(move || decode_unchecked(bytes)).unwrap_or_else(|panic| {
        let why = panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied()).unwrap_or("a malformed stream");
        Err(IpcError(ArrowError::IpcError(format!("malformed stream: {why}"))))
    })
}

fn decode_unchecked(bytes: Vec<u8>) -> Result<Vec<RecordBatch>, IpcError> {
    let mut buffer = Buffer::from_vec(bytes);
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        match decoder.decode(&mut buffer).map_err(IpcError)? {
            Some(batch) => batches.push(batch),
            None => break,
        }
    }
    decoder.finish().map_err(IpcError)?;
    Ok(batches)
}
