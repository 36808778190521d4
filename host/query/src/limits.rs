//! What one query may use. Every bound has a default and is named in the
//! error that reports it.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// Wall time from the first statement to the last row.
    pub timeout: Duration,
    /// Rows returned; more are cut off and the result says so.
    pub max_rows: usize,
    /// Bytes of the returned rows (Arrow, in memory).
    pub max_result_bytes: usize,
    /// DuckDB's memory limit for the query, in bytes.
    pub memory_bytes: u64,
    /// DuckDB threads for the query.
    pub threads: u32,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(30), max_rows: 10_000, max_result_bytes: 64 << 20, memory_bytes: 1 << 30, threads: 2 }
    }
}
