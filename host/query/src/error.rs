//! Why a query did not run. Messages are safe to show the caller: they name
//! what the caller asked and the limit it met, never a file path or a
//! setting of the host.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("a query is one read-only statement (SELECT, WITH, FROM, VALUES, TABLE, EXPLAIN, DESCRIBE, SUMMARIZE); got {got}")]
    NotReadOnly { got: String },
    #[error("a query is one statement; this one has more after a `;`")]
    SeveralStatements,
    #[error("the query is empty")]
    Empty,
    #[error("the query is too long: got={got} bytes, limit={limit} bytes")]
    TooLong { got: usize, limit: usize },
    #[error("query ran past its time limit: limit={}ms", .limit.as_millis())]
    Timeout { limit: Duration },
    #[error("the query ran out of memory ({what}): limit={memory} bytes for DuckDB, {address_space} bytes of address space for its process; read fewer rows or columns, or build smaller values")]
    OutOfMemory { what: String, memory: u64, address_space: u64 },
    #[error("the result is too large: more than {limit} bytes (use a batch query, or fewer rows or columns)")]
    ResultTooLarge { limit: usize },
    #[error("no such dataset: {name}")]
    NoSuchDataset { name: String },
    #[error("dataset {name} has no version {version}")]
    NoSuchVersion { name: String, version: String },
    #[error("version {version} of dataset {name} was purged; its files are gone")]
    Purged { name: String, version: String },
    #[error("dataset {name} has no data yet: its current version has no files")]
    NoData { name: String },
    #[error("the query would fetch too many bytes of dataset files: got={got}, limit={limit}")]
    TooMuchToFetch { got: u64, limit: u64 },
    #[error("too many queries at once for this org: running={running}, limit={limit}; try again when one finishes")]
    TooManyQueries { running: usize, limit: usize },
    #[error("this server is running as many queries as it may at once: running={running}, limit={limit}; try again shortly")]
    ServerBusy { running: usize, limit: usize },
    #[error("{what} above the service's limit: asked={asked}, limit={limit}")]
    AboveLimit { what: &'static str, asked: String, limit: String },
    #[error("{what} must be at least {min}, got {asked}")]
    BelowMinimum { what: &'static str, asked: String, min: &'static str },
    #[error("no such batch query: {id}")]
    NoSuchBatch { id: String },
    #[error("batch query {id} has no result: it is {status}")]
    NotFinished { id: String, status: &'static str },
    #[error("the query's files do not fit the file cache: need={need} bytes, limit={limit} bytes (the rest is held by running queries)")]
    CacheFull { need: u64, limit: u64 },
    #[error("{format} cannot hold column {column} of type {data_type}; ask for json, arrow or parquet, or cast it")]
    Unrepresentable { format: &'static str, column: String, data_type: String },
    /// DuckDB refused or failed the SQL; its message is about the SQL.
    #[error("{0}")]
    Sql(String),
    /// The query's DuckDB could not be set up; not the caller's fault.
    #[error("the query engine could not start: {0}")]
    Setup(String),
}

impl QueryError {
    /// A short label for metrics: what kind of refusal or failure it was.
    pub fn kind(&self) -> &'static str {
        use QueryError as Q;
        match self {
            Q::NotReadOnly { .. } | Q::SeveralStatements | Q::Empty | Q::TooLong { .. } | Q::Sql(_) | Q::Unrepresentable { .. } => "bad_sql",
            Q::AboveLimit { .. } | Q::BelowMinimum { .. } => "bad_request",
            Q::Timeout { .. } => "timeout",
            Q::ResultTooLarge { .. } | Q::TooMuchToFetch { .. } | Q::CacheFull { .. } | Q::OutOfMemory { .. } => "too_large",
            Q::TooManyQueries { .. } => "too_many_queries",
            Q::ServerBusy { .. } => "server_busy",
            Q::NoSuchDataset { .. } | Q::NoSuchVersion { .. } | Q::Purged { .. } | Q::NoData { .. } | Q::NoSuchBatch { .. } | Q::NotFinished { .. } => "not_found",
            Q::Setup(_) => "failed",
        }
    }
}
