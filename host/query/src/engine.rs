//! One query in a DuckDB of its own: views over the pinned files, the
//! lockdown, the user's statement under a watchdog, its rows under limits.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use duckdb::{Config, Connection};

use crate::error::QueryError;
use crate::guard::admit;
use crate::limits::QueryLimits;

/// A dataset as one query sees it: its name and the files of the version
/// the query was pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub files: Vec<PathBuf>,
}

/// What a query returned.
#[derive(Debug)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Rows returned (at most `QueryLimits::max_rows`).
    pub rows: usize,
    /// The query had more rows than `max_rows`; the rest were not returned.
    pub truncated: bool,
    pub elapsed: std::time::Duration,
}

/// Run `sql` over `tables` under `limits`.
pub fn run(tables: &[Table], sql: &str, limits: &QueryLimits) -> Result<QueryResult, QueryError> {
    let started = Instant::now();
    let sql = admit(sql)?;
    let conn = locked_down(tables, limits)?;

    // The watchdog interrupts the statement at the deadline unless told
    // it is done first.
    let (done, finished) = mpsc::channel::<()>();
    let interrupt = conn.interrupt_handle();
    let timeout = limits.timeout;
    let watchdog = std::thread::Builder::new()
        .name("trace-query-watchdog".into())
        .spawn(move || {
            if finished.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                interrupt.interrupt();
                return true;
            }
            false
        })
        .map_err(|e| QueryError::Setup(format!("starting the watchdog: {e}")))?;

    let fetched = fetch(&conn, sql, limits).map_err(|e| no_data_yet(e, tables));
    let _ = done.send(());
    let interrupted = watchdog.join().unwrap_or(false);
    match fetched {
        Ok((schema, batches, rows, truncated)) => Ok(QueryResult { schema, batches, rows, truncated, elapsed: started.elapsed() }),
        Err(_) if interrupted => Err(QueryError::Timeout { limit: limits.timeout }),
        Err(e) => Err(e),
    }
}

type Fetched = (SchemaRef, Vec<RecordBatch>, usize, bool);

fn fetch(conn: &Connection, sql: &str, limits: &QueryLimits) -> Result<Fetched, QueryError> {
    let mut stmt = conn.prepare(sql).map_err(sql_error)?;
    stmt.execute([]).map_err(sql_error)?;
    let schema = stmt.schema();
    let (mut batches, mut rows, mut bytes) = (Vec::new(), 0usize, 0usize);
    while let Some(array) = stmt.step().map_err(sql_error)? {
        let batch = RecordBatch::from(&array);
        let all = batch.num_rows();
        let take = all.min(limits.max_rows - rows);
        let batch = batch.slice(0, take);
        bytes += batch.get_array_memory_size();
        if bytes > limits.max_result_bytes {
            return Err(QueryError::ResultTooLarge { limit: limits.max_result_bytes });
        }
        rows += take;
        if take > 0 {
            batches.push(batch);
        }
        if take < all {
            return Ok((schema, batches, rows, true));
        }
    }
    Ok((schema, batches, rows, false))
}

/// A fresh in-memory DuckDB with a view per table, then locked.
fn locked_down(tables: &[Table], limits: &QueryLimits) -> Result<Connection, QueryError> {
    let setup = |e: duckdb::Error| QueryError::Setup(e.to_string());
    let config = Config::default()
        .enable_autoload_extension(false)
        .and_then(|c| c.with("autoinstall_known_extensions", "false"))
        .and_then(|c| c.with("allow_community_extensions", "false"))
        .and_then(|c| c.threads(i64::from(limits.threads.max(1))))
        .and_then(|c| c.max_memory(&format!("{}B", limits.memory_bytes)))
        .map_err(setup)?;
    let conn = Connection::open_in_memory_with_flags(config).map_err(setup)?;

    let files: Vec<String> = tables.iter().flat_map(|t| &t.files).map(|f| literal(&f.to_string_lossy())).collect();
    let mut script = format!(
        // No spilling: an in-memory DuckDB would write under the working
        // directory; a query over its memory limit fails instead.
        "SET temp_directory = ''; SET enable_progress_bar = false; SET allowed_paths = [{}];\n",
        files.join(", ")
    );
    for t in tables.iter().filter(|t| !t.files.is_empty()) {
        let list: Vec<String> = t.files.iter().map(|f| literal(&f.to_string_lossy())).collect();
        script.push_str(&format!("CREATE VIEW {} AS SELECT * FROM read_parquet([{}]);\n", identifier(&t.name), list.join(", ")));
    }
    // Order matters: the paths are allowed before external access goes off,
    // and nothing may be changed once the configuration is locked.
    script.push_str("SET enable_external_access = false; SET lock_configuration = true;");
    conn.execute_batch(&script).map_err(setup)?;
    Ok(conn)
}

/// A dataset the caller may read whose current version has no files has no
/// view (nothing to take its columns from); say so rather than that it does
/// not exist.
fn no_data_yet(e: QueryError, tables: &[Table]) -> QueryError {
    let QueryError::Sql(message) = &e else { return e };
    match tables.iter().find(|t| t.files.is_empty() && message.contains(&format!("Table with name {} does not exist", t.name))) {
        Some(t) => QueryError::NoData { name: t.name.clone() },
        None => e,
    }
}

fn sql_error(e: duckdb::Error) -> QueryError {
    let message = e.to_string();
    if message.contains("Cannot prepare multiple statements") {
        return QueryError::SeveralStatements;
    }
    QueryError::Sql(message)
}

/// `s` as an SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as a quoted SQL identifier.
fn identifier(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
