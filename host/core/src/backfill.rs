//! How a backfill splits a range into chunks and names their runs, shared by
//! `trace backfill` and `POST /api/v1/dags/{dag}/jobs/{job}/backfill` so the
//! same request made either way resumes the other: a chunk's run id is
//! derived from the label and its start, and a run id triggers once.

/// Most chunks one backfill is split into.
pub const MAX_CHUNKS: u64 = 100_000;
/// Longest backfill label.
pub const MAX_LABEL_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackfillError {
    #[error("a backfill's range needs start < end, got {start}..{end}")]
    EmptyRange { start: u64, end: u64 },
    #[error("the chunk size must be at least 1")]
    ZeroChunk,
    #[error("{start}..{end} in chunks of {chunk} is too many chunks: got={got}, limit={MAX_CHUNKS} (use a larger chunk)")]
    TooManyChunks { start: u64, end: u64, chunk: u64, got: u64 },
    #[error("a backfill label must be 1 to {MAX_LABEL_CHARS} of a-z 0-9 - _, got {0:?}")]
    BadLabel(String),
}

/// A backfill's chunks and their run ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillPlan {
    pub label: String,
    /// Every chunk's run id starts with it (`backfill:LABEL:`).
    pub run_prefix: String,
    /// (run id, `[start, end)`) per chunk, in order.
    pub runs: Vec<(String, (u64, u64))>,
}

impl BackfillPlan {
    /// `range` in chunks of `chunk`, aligned to its start. Without a label,
    /// one is made of the range, the chunk and the version (if not active).
    pub fn new(range: (u64, u64), chunk: u64, label: Option<&str>, version: Option<i32>) -> Result<Self, BackfillError> {
        let label = match label {
            Some(l) => l.to_owned(),
            None => match version {
                None => format!("{}-{}-{chunk}", range.0, range.1),
                Some(v) => format!("v{v}-{}-{}-{chunk}", range.0, range.1),
            },
        };
        let ok = !label.is_empty() && label.len() <= MAX_LABEL_CHARS && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(BackfillError::BadLabel(label));
        }
        let run_prefix = format!("backfill:{label}:");
        let runs = chunks(range, chunk)?.into_iter().map(|r| (format!("{run_prefix}{}", r.0), r)).collect();
        Ok(Self { label, run_prefix, runs })
    }
}

/// `[start, end)` in chunks of `chunk`, aligned to `start`.
pub fn chunks(range: (u64, u64), chunk: u64) -> Result<Vec<(u64, u64)>, BackfillError> {
    if range.0 >= range.1 {
        return Err(BackfillError::EmptyRange { start: range.0, end: range.1 });
    }
    if chunk == 0 {
        return Err(BackfillError::ZeroChunk);
    }
    let n = (range.1 - range.0).div_ceil(chunk);
    if n > MAX_CHUNKS {
        return Err(BackfillError::TooManyChunks { start: range.0, end: range.1, chunk, got: n });
    }
    // `i * chunk` stays inside the range for every `i < n`; the next
    // chunk's start may not fit in a u64 near its top (saturates to the end).
    Ok((0..n).map(|i| (range.0 + i * chunk, range.0.saturating_add((i + 1).saturating_mul(chunk)).min(range.1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range_exactly_and_are_bounded() {
        assert_eq!(chunks((5, 30), 10).unwrap(), vec![(5, 15), (15, 25), (25, 30)]);
        assert_eq!(chunks((0, 10), 10).unwrap(), vec![(0, 10)]);
        let err = chunks((0, 1_000_001), 10).unwrap_err().to_string();
        assert!(err.contains("too many chunks: got=100001, limit=100000"), "{err}");
        assert_eq!(chunks((0, 10), 0), Err(BackfillError::ZeroChunk));
        assert_eq!(chunks((10, 10), 1), Err(BackfillError::EmptyRange { start: 10, end: 10 }));
        // Found by the API fuzz test: a chunk reaching past u64::MAX overflowed.
        assert_eq!(chunks((1, u64::MAX), u64::MAX).unwrap(), vec![(1, u64::MAX)]);
        assert_eq!(chunks((u64::MAX - 10, u64::MAX), 7).unwrap(), vec![(u64::MAX - 10, u64::MAX - 3), (u64::MAX - 3, u64::MAX)]);
    }

    #[test]
    fn labels_are_checked_and_name_the_runs() {
        assert!(matches!(BackfillPlan::new((0, 10), 5, Some("Bad Label"), None), Err(BackfillError::BadLabel(_))));
        let p = BackfillPlan::new((0, 10), 5, Some("q4-2026_b"), None).unwrap();
        assert_eq!(p.runs, vec![("backfill:q4-2026_b:0".to_owned(), (0, 5)), ("backfill:q4-2026_b:5".to_owned(), (5, 10))]);
        assert_eq!(BackfillPlan::new((0, 10), 5, None, Some(3)).unwrap().label, "v3-0-10-5");
        assert_eq!(BackfillPlan::new((0, 10), 5, None, None).unwrap().run_prefix, "backfill:0-10-5:");
    }
}
