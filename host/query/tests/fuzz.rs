//! SQL is user input. Generated queries (fragments of the read-only
//! grammar, functions that touch files, settings or the catalog, statement
//! separators, comments and quotes in odd places, deep nesting, huge
//! numbers) through the same admission and locked-down DuckDB a query takes:
//! no panic, an answer within the query's time limit (plus slack for
//! setting up), and never a row of the other org's file beside ours. A
//! fixed number of cases, so CI time is bounded.
//!
//! Found: `SELECT range(1000000000) FROM t` grew past DuckDB's memory limit
//! (a scalar list is built outside it) and past its time limit, taking the
//! process with it. Queries now run in a process of their own under an
//! address-space limit (`Runner`), as here; it and its kin are pieces again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use proptest::prelude::*;
use trace_query::{render, Catalog, Format, QueryLimits, Runner, Table};

fn parquet(path: &Path, rows: i64, who: &str) -> PathBuf {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("who", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..rows)), Arc::new(StringArray::from_iter_values((0..rows).map(|_| who)))]).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    trace_batches::write_parquet(path, &[trace_batches::encode_ipc(&[batch]).unwrap()]).unwrap();
    path.to_owned()
}

/// Pieces queries are made of; `THEIRS` becomes the other org's file.
const PIECES: &[&str] = &[
    "SELECT", "*", "id", "who", "count(*)", "FROM", "t", "WHERE", "id", ">", "1", "AND", "OR", "NOT", "(", ")", ",", ";", "--", "/*", "*/",
    "'", "\"", "E'\\\\'", "$$", "UNION ALL", "JOIN", "t AS u", "ON", "=", "GROUP BY", "ORDER BY", "LIMIT", "18446744073709551616",
    "-9223372036854775808", "1e308", "NULL", "CAST(", "AS BIGINT)", "::VARCHAR", "WITH x AS (SELECT 1)", "VALUES (1)", "TABLE t",
    "read_parquet('THEIRS')", "read_csv('/etc/passwd')", "glob('/**')", "'THEIRS'", "ATTACH 'x.db'", "COPY t TO '/tmp/x'",
    "SET enable_external_access = true", "PRAGMA database_list", "INSTALL httpfs", "LOAD httpfs", "CALL pragma_version()",
    "duckdb_settings()", "current_setting('threads')", "getenv('HOME')", "range(1000)", "repeat('x', 1000000)",
    "range(1000000000)", "repeat('x', 2000000000)", "list_resize([1], 1000000000)", "lpad('x', 2000000000, 'y')",
    "string_agg(who, ',')", "list_value(1, 2)", "unnest([1, 2])", "EXPLAIN", "EXPLAIN ANALYZE", "DESCRIBE", "SUMMARIZE",
    "PIVOT t ON who USING count(*)", "\u{202e}", "ß", "\0", "\\", "`", "[", "]", "{", "}", "CREATE TABLE z (a INT)", "DROP TABLE t",
];

fn sql() -> impl Strategy<Value = String> {
    let piece = proptest::sample::select(PIECES);
    let words = proptest::collection::vec(prop_oneof![8 => piece.prop_map(str::to_owned), 1 => "[ -~]{0,8}"], 0..16);
    prop_oneof![
        4 => words.clone().prop_map(|w| format!("SELECT {} FROM t", w.join(" "))),
        3 => words.prop_map(|w| w.join(" ")),
        1 => (1usize..200).prop_map(|n| format!("SELECT {}1{} FROM t", "(".repeat(n), ")".repeat(n))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_sql_is_answered_or_refused_and_never_reaches_another_org(raw in sql()) {
        let dir = fixture();
        let (catalog, theirs) = (&dir.1, dir.2.display().to_string());
        let sql = raw.replace("THEIRS", &theirs);
        let limits = QueryLimits { timeout: Duration::from_secs(2), max_rows: 1_000, memory_bytes: 256 << 20, threads: 1, ..QueryLimits::default() };
        if let Ok(path) = std::env::var("TRACE_SQL_FUZZ_LOG") {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
            writeln!(f, "{sql:?}").unwrap();
        }
        let started = Instant::now();
        let answer = Runner::new(env!("CARGO_BIN_EXE_trace-query-runner"), Vec::<String>::new()).run(catalog, &sql, &limits);
        prop_assert!(started.elapsed() < limits.timeout + Duration::from_secs(10), "{sql:?} took {:?}", started.elapsed());
        if let Ok(result) = answer {
            // JSON holds every type a result may have (CSV refuses lists).
            let json = String::from_utf8_lossy(&render(&result, Format::Json).unwrap()).into_owned();
            prop_assert!(!json.contains("them"), "{sql:?} read the other org's rows: {json}");
        }
    }
}

/// Our dataset `t` and, beside it on the same disk, another org's file.
fn fixture() -> &'static (tempfile::TempDir, Catalog, PathBuf) {
    static FIXTURE: std::sync::OnceLock<(tempfile::TempDir, Catalog, PathBuf)> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let ours = parquet(&dir.path().join("org/1/a.parquet"), 20, "us");
        let theirs = parquet(&dir.path().join("org/2/secret.parquet"), 5, "them");
        let catalog: Catalog = vec![Table { name: "t".into(), files: vec![ours] }].into();
        (dir, catalog, theirs)
    })
}
