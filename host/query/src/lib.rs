//! The Query Service's engine: SQL over published datasets, each query in a
//! DuckDB of its own that can read exactly the files it was pinned to.
//!
//! ```text
//! Table { name, files } ─┐
//!            user SQL ───┼─ run(…, QueryLimits) ─▶ QueryResult (Arrow batches, truncated?)
//! ```
//!
//! A query's DuckDB lives in memory for that query only. Before the user's
//! SQL runs, it is given a view per dataset name over exactly the pinned
//! files, then locked down: `allowed_paths` is those files and nothing else,
//! external access off, extensions never installed or loaded, no spilling
//! to disk, memory and threads bounded, and the configuration locked so the
//! SQL cannot undo any of it. The SQL itself must be one read-only
//! statement. A watchdog interrupts it at its time limit.

mod cache;
mod engine;
mod error;
mod format;
mod gate;
mod guard;
mod limits;
mod process;
mod runner;
mod service;
mod spawn;
mod system;
mod warm;
mod wire;
#[cfg(feature = "testing")]
pub mod testing;
/// Plain DuckDB, for benchmarks' baselines.
#[cfg(feature = "testing")]
pub use duckdb;

pub use arrow;
pub use parquet;
pub use engine::{describe, parquet_properties, run, run_to_parquet, Catalog, Columns, QueryResult, SystemTable, Table, Written, SYSTEM_SCHEMA};
pub use error::QueryError;
pub use format::{render, Format};
pub use guard::admit;
pub use limits::{address_space, QueryLimits, ServiceLimits, ADDRESS_SPACE_HEADROOM, KILL_GRACE};
pub use process::{Runner, RUNNER_BIN, RUNNER_ENV};
pub use runner::serve;
pub use service::{result_key, Caller, DatasetSchema, QueryRequest, QueryService, Resolved, BATCH_GRACE};
pub use trace_store::{BatchQueryView, BatchStatus};

/// The DuckDB version linked (the prebuilt library fetch-duckdb.sh pins).
pub fn duckdb_version() -> String {
    duckdb::Connection::open_in_memory()
        .and_then(|c| c.query_row("SELECT version()", [], |r| r.get::<_, String>(0)))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}
