//! What one query may use, and what the service holds for all of them.
//! Every bound has a default and is named in the error that reports it.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueryLimits {
    /// Wall time from the first statement to the last row.
    pub timeout: Duration,
    /// Rows returned; more are cut off and the result says so.
    pub max_rows: usize,
    /// Bytes of the returned rows (Arrow in memory; for a batch query, the
    /// Parquet file).
    pub max_result_bytes: usize,
    /// DuckDB's memory limit for the query, in bytes.
    pub memory_bytes: u64,
    /// DuckDB threads for the query.
    pub threads: u32,
    /// Bytes of dataset files one query may fetch from object storage.
    pub max_fetch_bytes: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(30), max_rows: 10_000, max_result_bytes: 64 << 20, memory_bytes: 1 << 30, threads: 2, max_fetch_bytes: 8 << 30 }
    }
}

impl QueryLimits {
    /// A batch query's defaults: every row, ten minutes, a result file of up
    /// to 4 GiB.
    pub fn batch() -> Self {
        Self { timeout: Duration::from_secs(600), max_rows: usize::MAX, max_result_bytes: 4 << 30, ..Self::default() }
    }
}

/// The Query Service's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLimits {
    /// Interactive queries (a caller may ask for less, never more).
    pub interactive: QueryLimits,
    /// Batch queries.
    pub batch: QueryLimits,
    /// Queries (interactive and batch) one org may run at once in this process.
    pub queries_per_org: usize,
    /// Queries of all orgs at once in this process: each runs in a process
    /// that may reach [`address_space`] of its memory limit, so this bounds
    /// the server's memory for queries.
    pub queries_per_server: usize,
    /// Bytes of fetched dataset files kept in the local cache.
    pub cache_bytes: u64,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self { interactive: QueryLimits::default(), batch: QueryLimits::batch(), queries_per_org: 4, queries_per_server: 8, cache_bytes: 16 << 30 }
    }
}

/// Address space a query's process gets beside its DuckDB memory limit: the
/// runner's code and libraries, thread stacks, allocator arenas, its result
/// on the way out.
pub const ADDRESS_SPACE_HEADROOM: u64 = 1 << 30;

/// The address-space limit (RLIMIT_AS) of the process a query runs in, for
/// a DuckDB memory limit of `memory_bytes`: the memory limit, half as much
/// again for what DuckDB allocates outside its buffer manager, and
/// [`ADDRESS_SPACE_HEADROOM`]. An allocation past it fails, and the query
/// with it, not the server.
pub fn address_space(memory_bytes: u64) -> u64 {
    memory_bytes.saturating_add(memory_bytes / 2).saturating_add(ADDRESS_SPACE_HEADROOM)
}

/// How long past its time limit a query's process may take to answer (its
/// own watchdog interrupts DuckDB at the limit) before it is killed.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
