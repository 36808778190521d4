//! Emit dataset events for downstream jobs.

use crate::bindings::trace::operator::events as wit;
use crate::{fatal, Event, InputEvent, OperatorError, Range};

/// Emit `event`.
pub fn emit(event: Event) -> Result<(), OperatorError> {
    wit::emit(&event).map_err(|m| fatal(format!("emitting event: {m}")))
}

impl Event {
    /// An event for `output` covering `[start, end)`, keyed `"{start}_{end}"`.
    pub fn range(output: u32, start: u64, end: u64) -> Self {
        Self {
            output,
            partition_key: format!("{start}_{end}"),
            range: Some(Range { start, end }),
            cursor: None,
        }
    }

    /// An event for `output` with the same key, range and cursor as `input`.
    pub fn like(input: &InputEvent, output: u32) -> Self {
        Self {
            output,
            partition_key: input.partition_key.clone(),
            range: input.range,
            cursor: input.cursor.clone(),
        }
    }
}

/// `[start, end)` cut at the multiples of `size` (which must be at least 1):
/// the deterministic manifests that `range_splitter` and sources emit.
pub fn aligned_ranges(start: u64, end: u64, size: u64) -> impl Iterator<Item = (u64, u64)> {
    let size = size.max(1);
    let mut lo = start;
    std::iter::from_fn(move || {
        if lo >= end {
            return None;
        }
        let hi = (lo / size + 1).saturating_mul(size).min(end);
        let range = (lo, hi);
        lo = hi;
        Some(range)
    })
}
