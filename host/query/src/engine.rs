//! One query in a DuckDB of its own: views over the pinned files, system
//! rows handed over as Arrow, the lockdown, the user's statement under a
//! watchdog, its rows under limits (or, for a batch query, into a Parquet
//! file).

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use duckdb::{Connection, Statement};

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

/// Rows that live in the system database, handed to DuckDB as Arrow and
/// queried as `trace.<name>` beside the datasets.
#[derive(Debug, Clone)]
pub struct SystemTable {
    pub name: &'static str,
    pub rows: RecordBatch,
}

/// Everything one query may read.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub datasets: Vec<Table>,
    pub system: Vec<SystemTable>,
}

impl From<Vec<Table>> for Catalog {
    fn from(datasets: Vec<Table>) -> Self {
        Catalog { datasets, system: Vec::new() }
    }
}

/// The schema system tables live in.
pub const SYSTEM_SCHEMA: &str = "trace";

/// What a query returned.
#[derive(Debug)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Rows returned (at most `QueryLimits::max_rows`).
    pub rows: usize,
    /// The query had more rows than `max_rows`; the rest were not returned.
    pub truncated: bool,
    pub elapsed: Duration,
}

/// What a batch query wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// A dataset's columns: (name, DuckDB type).
pub type Columns = Vec<(String, String)>;

/// Run `sql` over `catalog` under `limits`, in this process.
///
/// In this process, DuckDB's memory limit bounds what its buffer manager
/// holds, not every allocation a statement can make (a scalar `range(n)`
/// builds its list outside it): the Query Service runs each query in a
/// process of its own instead ([`Runner`](crate::Runner)). This is for
/// trusted SQL and for measuring the engine itself.
pub fn run(catalog: &Catalog, sql: &str, limits: &QueryLimits) -> Result<QueryResult, QueryError> {
    run_on(crate::warm::take(limits.memory_bytes)?, catalog, sql, limits)
}

/// Run `sql` over `catalog` and write every row to a Parquet file at `out`
/// (a batch query: no row limit; `limits.max_result_bytes` bounds the file),
/// in this process (see [`run`]).
pub fn run_to_parquet(catalog: &Catalog, sql: &str, limits: &QueryLimits, out: &Path) -> Result<Written, QueryError> {
    run_to_parquet_on(crate::warm::take(limits.memory_bytes)?, catalog, sql, limits, out)
}

/// The columns of each dataset in `catalog` that has data, by name, read in
/// this process (see [`run`]).
pub fn describe(catalog: &Catalog, limits: &QueryLimits) -> Result<Vec<(String, Columns)>, QueryError> {
    describe_on(crate::warm::take(limits.memory_bytes)?, catalog, limits)
}

/// [`run`] on `conn`, a DuckDB nobody has used.
pub(crate) fn run_on<C: Deref<Target = Connection>>(conn: C, catalog: &Catalog, sql: &str, limits: &QueryLimits) -> Result<QueryResult, QueryError> {
    let started = Instant::now();
    let sql = admit(sql)?;
    let conn = locked_down(conn, catalog, limits)?;
    let (schema, batches, rows, truncated) = watched(&conn, limits, catalog, |conn| fetch(conn, sql, limits))?;
    Ok(QueryResult { schema, batches, rows, truncated, elapsed: started.elapsed() })
}

/// [`run_to_parquet`] on `conn`, a DuckDB nobody has used.
pub(crate) fn run_to_parquet_on<C: Deref<Target = Connection>>(conn: C, catalog: &Catalog, sql: &str, limits: &QueryLimits, out: &Path) -> Result<Written, QueryError> {
    let started = Instant::now();
    let sql = admit(sql)?;
    let conn = locked_down(conn, catalog, limits)?;
    let (rows, bytes) = watched(&conn, limits, catalog, |conn| write_parquet(conn, sql, limits, out))?;
    Ok(Written { rows, bytes, elapsed: started.elapsed() })
}

/// [`describe`] on `conn`, a DuckDB nobody has used.
pub(crate) fn describe_on<C: Deref<Target = Connection>>(conn: C, catalog: &Catalog, limits: &QueryLimits) -> Result<Vec<(String, Columns)>, QueryError> {
    let conn = locked_down(conn, catalog, limits)?;
    let sql = "SELECT table_name, column_name, data_type FROM information_schema.columns \
               WHERE table_schema = 'main' ORDER BY table_name, ordinal_position";
    watched(&conn, limits, catalog, |conn| {
        let mut stmt = conn.prepare(sql).map_err(sql_error)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))).map_err(sql_error)?;
        let mut out: Vec<(String, Columns)> = Vec::new();
        for row in rows {
            let (table, column, ty) = row.map_err(sql_error)?;
            match out.last_mut() {
                Some((name, columns)) if *name == table => columns.push((column, ty)),
                _ => out.push((table, vec![(column, ty)])),
            }
        }
        Ok(out)
    })
}

/// `work` on `conn`, interrupted by a watchdog at the time limit.
fn watched<T>(conn: &Connection, limits: &QueryLimits, catalog: &Catalog, work: impl FnOnce(&Connection) -> Result<T, QueryError>) -> Result<T, QueryError> {
    let timeout = limits.timeout;
    // The watchdog interrupts the statement at the deadline unless told
    // it is done first.
    let (done, finished) = mpsc::channel::<()>();
    let interrupt = conn.interrupt_handle();
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
    let outcome = work(conn).map_err(|e| out_of_memory(no_data_yet(e, catalog), limits));
    let _ = done.send(());
    let interrupted = watchdog.join().unwrap_or(false);
    match outcome {
        Err(_) if interrupted => Err(QueryError::Timeout { limit: timeout }),
        other => other,
    }
}

type Fetched = (SchemaRef, Vec<RecordBatch>, usize, bool);

fn fetch(conn: &Connection, sql: &str, limits: &QueryLimits) -> Result<Fetched, QueryError> {
    let mut stmt = conn.prepare(sql).map_err(sql_error)?;
    stmt.execute([]).map_err(sql_error)?;
    let schema = stmt.schema();
    let (mut batches, mut rows, mut bytes) = (Vec::new(), 0usize, 0usize);
    while let Some(batch) = next_batch(&stmt)? {
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

fn write_parquet(conn: &Connection, sql: &str, limits: &QueryLimits, out: &Path) -> Result<(u64, u64), QueryError> {
    let failed = |e: parquet::errors::ParquetError| QueryError::Setup(format!("writing the result: {e}"));
    let mut stmt = conn.prepare(sql).map_err(sql_error)?;
    stmt.execute([]).map_err(sql_error)?;
    let file = std::fs::File::create(out).map_err(|e| QueryError::Setup(format!("creating the result file: {e}")))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, stmt.schema(), Some(parquet_properties())).map_err(failed)?;
    let mut rows = 0u64;
    while let Some(batch) = next_batch(&stmt)? {
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(failed)?;
        // Rows buffered for the open row group count too: the file may not
        // grow past the limit even before they are flushed.
        let bytes = writer.bytes_written() + writer.in_progress_size();
        if bytes as u64 > limits.max_result_bytes as u64 {
            return Err(QueryError::ResultTooLarge { limit: limits.max_result_bytes });
        }
    }
    writer.close().map_err(failed)?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).map_err(|e| QueryError::Setup(format!("reading the result file: {e}")))?;
    Ok((rows, bytes))
}

fn next_batch(stmt: &Statement<'_>) -> Result<Option<RecordBatch>, QueryError> {
    Ok(stmt.step().map_err(sql_error)?.map(|array| RecordBatch::from(&array)))
}

/// `conn`, a fresh in-memory DuckDB, with a view per dataset and a table
/// per system table, then locked.
fn locked_down<C: Deref<Target = Connection>>(conn: C, catalog: &Catalog, limits: &QueryLimits) -> Result<C, QueryError> {
    let setup = |e: duckdb::Error| QueryError::Setup(e.to_string());

    let tables = &catalog.datasets;
    let files: Vec<String> = tables.iter().flat_map(|t| &t.files).map(|f| literal(&f.to_string_lossy())).collect();
    let mut script = format!(
        // No spilling: an in-memory DuckDB would write under the working
        // directory; a query over its memory limit fails instead.
        "SET threads = {}; SET temp_directory = ''; SET enable_progress_bar = false; SET allowed_paths = [{}];\n",
        limits.threads.max(1),
        files.join(", ")
    );
    for t in tables.iter().filter(|t| !t.files.is_empty()) {
        let list: Vec<String> = t.files.iter().map(|f| literal(&f.to_string_lossy())).collect();
        script.push_str(&format!("CREATE VIEW {} AS SELECT * FROM read_parquet([{}]);\n", identifier(&t.name), list.join(", ")));
    }
    conn.execute_batch(&script).map_err(setup)?;
    if !catalog.system.is_empty() {
        load_system_tables(&conn, &catalog.system)?;
    }
    // Order matters: the paths are allowed before external access goes off,
    // and nothing may be changed once the configuration is locked.
    conn.execute_batch("SET enable_external_access = false; SET lock_configuration = true;").map_err(setup)?;
    Ok(conn)
}

/// `trace.<name>` tables filled from Arrow by DuckDB's appender (no table
/// function that reads memory by address is ever registered).
fn load_system_tables(conn: &Connection, system: &[SystemTable]) -> Result<(), QueryError> {
    let setup = |what: &str, e: duckdb::Error| QueryError::Setup(format!("{what}: {e}"));
    conn.execute_batch(&format!("CREATE SCHEMA {SYSTEM_SCHEMA};")).map_err(|e| setup("creating the system schema", e))?;
    for table in system {
        let columns: Vec<String> = table
            .rows
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{} {}", identifier(f.name()), duckdb_type(f.data_type())))
            .collect();
        conn.execute_batch(&format!("CREATE TABLE {SYSTEM_SCHEMA}.{} ({});", identifier(table.name), columns.join(", ")))
            .map_err(|e| setup(table.name, e))?;
        let mut appender = conn.appender_to_db(table.name, SYSTEM_SCHEMA).map_err(|e| setup(table.name, e))?;
        appender.append_record_batch(table.rows.clone()).map_err(|e| setup(table.name, e))?;
        appender.flush().map_err(|e| setup(table.name, e))?;
    }
    Ok(())
}

/// The DuckDB column type for the Arrow types system tables use.
fn duckdb_type(t: &arrow::datatypes::DataType) -> &'static str {
    use arrow::datatypes::DataType as T;
    match t {
        T::Int64 => "BIGINT",
        T::Int32 => "INTEGER",
        T::UInt64 => "UBIGINT",
        T::Boolean => "BOOLEAN",
        T::Float64 => "DOUBLE",
        _ => "VARCHAR",
    }
}

/// A dataset the caller may read whose current version has no files has no
/// view (nothing to take its columns from); say so rather than that it does
/// not exist.
fn no_data_yet(e: QueryError, catalog: &Catalog) -> QueryError {
    match e {
        QueryError::NoSuchDataset { name } if catalog.datasets.iter().any(|t| t.files.is_empty() && t.name == name) => QueryError::NoData { name },
        e => e,
    }
}

/// DuckDB's out-of-memory error as the limit it met. Its advice (raise the
/// limit, set a temporary directory) is not the caller's to take.
fn out_of_memory(e: QueryError, limits: &QueryLimits) -> QueryError {
    match e {
        QueryError::Sql(message) if message.starts_with(DUCKDB_OUT_OF_MEMORY) => QueryError::OutOfMemory {
            what: message[DUCKDB_OUT_OF_MEMORY.len()..].lines().next().unwrap_or("").trim().to_owned(),
            memory: limits.memory_bytes,
            address_space: crate::limits::address_space(limits.memory_bytes),
        },
        e => e,
    }
}

const DUCKDB_OUT_OF_MEMORY: &str = "Out of Memory Error:";

fn sql_error(e: duckdb::Error) -> QueryError {
    let message = e.to_string();
    if message.contains("Cannot prepare multiple statements") {
        return QueryError::SeveralStatements;
    }
    // A dataset the caller may not read is not in its DuckDB at all; say so
    // the same way as for one that does not exist, without DuckDB's guesses.
    if let Some((name, _)) = message.split_once("Table with name ").and_then(|(_, rest)| rest.split_once(" does not exist")) {
        return QueryError::NoSuchDataset { name: name.to_owned() };
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

/// How result files are written: Snappy-compressed Parquet.
pub fn parquet_properties() -> parquet::file::properties::WriterProperties {
    parquet::file::properties::WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build()
}
