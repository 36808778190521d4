//! Read input batches: each arrives from the host as Arrow IPC and is
//! decoded here into a `RecordBatch`.

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::ArrowError;

use crate::bindings::trace::operator::input as wit;
use crate::{fatal, retryable, OperatorError};

/// Number of inputs wired to this job.
pub fn count() -> u32 {
    wit::input_count()
}

/// Iterate over the batches of input `index`.
pub fn batches(index: u32) -> Batches {
    Batches { index, pending: Vec::new().into_iter(), done: false }
}

/// Iterator returned by [`batches`].
pub struct Batches {
    index: u32,
    pending: std::vec::IntoIter<RecordBatch>,
    done: bool,
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, OperatorError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.pending.next() {
                return Some(Ok(batch));
            }
            if self.done {
                return None;
            }
            match wit::read_batch(self.index) {
                Ok(Some(bytes)) => match decode(bytes) {
                    Ok(batches) => self.pending = batches.into_iter(),
                    Err(e) => return Some(Err(e)),
                },
                Ok(None) => self.done = true,
                Err(message) => return Some(Err(retryable(format!("reading input {}: {message}", self.index)))),
            }
        }
    }
}

/// Decode one Arrow IPC stream into its batches, without copying: the
/// arrays point into `bytes`, which the batches keep alive.
pub fn decode(bytes: Vec<u8>) -> Result<Vec<RecordBatch>, OperatorError> {
    let bad = |e: ArrowError| fatal(format!("input batch is not Arrow IPC: {e}"));
    let mut buffer = Buffer::from_vec(bytes);
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        match decoder.decode(&mut buffer).map_err(bad)? {
            Some(batch) => batches.push(batch),
            None => break,
        }
    }
    decoder.finish().map_err(bad)?;
    Ok(batches)
}
