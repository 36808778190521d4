//! Read input batches: each arrives from the host as Arrow IPC and is
//! decoded here into a `RecordBatch`.

use arrow_array::RecordBatch;

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
    trace_ipc::decode_ipc_owned(bytes).map_err(|e| fatal(format!("input batch is not Arrow IPC: {}", e.0)))
}
