//! A query's DuckDB reads its pinned files and nothing else, cannot be
//! reconfigured, and stops at every limit with the limit's name.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use trace_query::{run, render, Catalog, Format, QueryError, QueryLimits, Table};

/// A Parquet file of `rows` rows: `id` 0.., `v` = id * 10, `who`.
fn parquet(path: &Path, rows: i64, who: &str) -> PathBuf {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("who", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows)),
            Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i * 10))),
            Arc::new(StringArray::from_iter_values((0..rows).map(|_| who))),
        ],
    )
    .unwrap();
    let ipc = trace_batches::encode_ipc(&[batch]).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    trace_batches::write_parquet(path, &[ipc]).unwrap();
    path.to_owned()
}

struct Fixture {
    _dir: tempfile::TempDir,
    tables: Catalog,
    /// Another org's file, beside ours on the same disk.
    theirs: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let a = parquet(&dir.path().join("org/1/a.parquet"), 100, "us");
    let b = parquet(&dir.path().join("org/1/b.parquet"), 50, "us");
    let theirs = parquet(&dir.path().join("org/2/secret.parquet"), 10, "them");
    Fixture { tables: vec![Table { name: "transfers".into(), files: vec![a, b] }].into(), theirs, _dir: dir }
}

fn sql_error(f: &Fixture, sql: &str) -> String {
    match run(&f.tables, sql, &QueryLimits::default()) {
        Err(QueryError::Sql(message)) => message,
        other => panic!("{sql}: expected DuckDB to refuse it, got {other:?}"),
    }
}

#[test]
fn a_dataset_is_queried_by_name_over_exactly_its_files() {
    let f = fixture();
    let r = run(&f.tables, "SELECT count(*) AS n, sum(v) AS total FROM transfers", &QueryLimits::default()).unwrap();
    let json = String::from_utf8(render(&r, Format::Json).unwrap()).unwrap();
    let expected_total: i64 = (0..100).map(|i| i * 10).sum::<i64>() + (0..50).map(|i| i * 10).sum::<i64>();
    assert_eq!(json.trim(), format!("[{{\"n\":150,\"total\":{expected_total}}}]"));
    assert!(!r.truncated);
    let csv = String::from_utf8(render(&r, Format::Csv).unwrap()).unwrap();
    assert_eq!(csv, format!("n,total\n150,{expected_total}\n"));
}

#[test]
fn files_outside_the_pinned_set_are_refused() {
    let f = fixture();
    let passwd = sql_error(&f, "SELECT * FROM read_csv('/etc/passwd')");
    assert!(passwd.contains("Permission Error") || passwd.contains("disabled"), "{passwd}");
    let theirs = sql_error(&f, &format!("SELECT * FROM read_parquet('{}')", f.theirs.display()));
    assert!(theirs.contains("Permission Error") || theirs.contains("disabled"), "{theirs}");
    let glob = sql_error(&f, &format!("SELECT * FROM read_parquet('{}/**/*.parquet')", f.theirs.parent().unwrap().parent().unwrap().display()));
    assert!(glob.contains("Permission Error") || glob.contains("disabled") || glob.contains("No files found"), "{glob}");
    // The lockdown is in place and cannot be read around or undone.
    let r = run(&f.tables, "SELECT current_setting('enable_external_access') AS e, current_setting('lock_configuration') AS l", &QueryLimits::default()).unwrap();
    assert_eq!(String::from_utf8(render(&r, Format::Csv).unwrap()).unwrap(), "e,l\nfalse,true\n");
}

#[test]
fn statements_that_write_attach_install_or_reconfigure_are_refused() {
    let f = fixture();
    for sql in [
        "COPY (SELECT 1) TO '/tmp/trace-query-escape.csv'",
        "ATTACH '/tmp/trace-query-escape.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "PRAGMA enable_external_access",
        "CREATE TABLE kept AS SELECT 1",
        "CALL pragma_version()",
    ] {
        match run(&f.tables, sql, &QueryLimits::default()) {
            Err(QueryError::NotReadOnly { .. }) => {}
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert!(!Path::new("/tmp/trace-query-escape.csv").exists());
    match run(&f.tables, "SELECT 1; COPY (SELECT 1) TO '/tmp/trace-query-escape.csv'", &QueryLimits::default()) {
        Err(QueryError::SeveralStatements) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dataset_without_files_yet_says_so() {
    let mut f = fixture();
    f.tables.datasets.push(Table { name: "later".into(), files: vec![] });
    let err = run(&f.tables, "SELECT * FROM later", &QueryLimits::default()).unwrap_err();
    assert_eq!(err.to_string(), "dataset later has no data yet: its current version has no files");
    assert_eq!(run(&f.tables, "SELECT count(*) FROM transfers", &QueryLimits::default()).unwrap().rows, 1);
}

#[test]
fn rows_beyond_the_limit_are_cut_and_said_to_be() {
    let f = fixture();
    let limits = QueryLimits { max_rows: 10, ..QueryLimits::default() };
    let r = run(&f.tables, "SELECT * FROM range(100000)", &limits).unwrap();
    assert_eq!((r.rows, r.truncated), (10, true));
    assert_eq!(r.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    let r = run(&f.tables, "SELECT * FROM range(10)", &limits).unwrap();
    assert_eq!((r.rows, r.truncated), (10, false));
}

#[test]
fn a_long_query_is_interrupted_at_its_time_limit() {
    let f = fixture();
    let limits = QueryLimits { timeout: Duration::from_millis(300), ..QueryLimits::default() };
    let started = Instant::now();
    let err = run(&f.tables, "SELECT sum(hash(i)) FROM range(1000000000000) t(i)", &limits).unwrap_err();
    assert!(matches!(err, QueryError::Timeout { .. }), "{err:?}");
    assert_eq!(err.to_string(), "query ran past its time limit: limit=300ms");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn result_bytes_and_memory_are_bounded() {
    let f = fixture();
    let limits = QueryLimits { max_result_bytes: 1 << 20, ..QueryLimits::default() };
    let err = run(&f.tables, "SELECT repeat('x', 100000) FROM range(1000)", &limits).unwrap_err();
    assert_eq!(err.to_string(), format!("the result is too large: more than {} bytes (use a batch query, or fewer rows or columns)", 1 << 20));
    let limits = QueryLimits { memory_bytes: 64 << 20, ..QueryLimits::default() };
    match run(&f.tables, "SELECT count(DISTINCT (i, repeat('y', 100))) FROM range(10000000) t(i)", &limits) {
        Err(QueryError::OutOfMemory { what, memory, .. }) => {
            assert_eq!(memory, 64 << 20);
            assert!(what.contains("/64.0 MiB used"), "DuckDB's own words: {what}");
        }
        other => panic!("expected DuckDB's memory limit, got {other:?}"),
    }
}

#[test]
fn a_format_that_cannot_hold_a_column_says_which() {
    let f = fixture();
    let r = run(&f.tables, "SELECT [1, 2] AS pair", &QueryLimits::default()).unwrap();
    let err = render(&r, Format::Csv).unwrap_err();
    assert_eq!(err.to_string(), "CSV cannot hold column pair of type List(Int32, field: 'l'); ask for json, arrow or parquet, or cast it");
    assert_eq!(String::from_utf8(render(&r, Format::Json).unwrap()).unwrap().trim(), "[{\"pair\":[1,2]}]");
}

#[test]
fn a_batch_result_file_stops_at_its_byte_limit() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let limits = QueryLimits { max_result_bytes: 256 << 10, max_rows: usize::MAX, ..QueryLimits::default() };
    let err = trace_query::run_to_parquet(&f.tables, "SELECT i, md5(i::VARCHAR) AS h FROM range(2000000) t(i)", &limits, &out).unwrap_err();
    assert_eq!(err.to_string(), format!("the result is too large: more than {} bytes (use a batch query, or fewer rows or columns)", 256 << 10));
    // Within the limit, every row is written.
    let w = trace_query::run_to_parquet(&f.tables, "SELECT * FROM transfers", &QueryLimits::batch(), &out).unwrap();
    assert_eq!((w.rows, w.bytes), (150, std::fs::metadata(&out).unwrap().len()));
}
