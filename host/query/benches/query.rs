//! `cargo bench -p trace-query --bench query [-- --quick]`: the same SQL
//! through Trace's query engine (a fresh locked-down DuckDB per query, views
//! over the pinned files) and through plain DuckDB (one open connection
//! reading the same Parquet files), best of 5 each, in one run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use duckdb::Connection;
use trace_query::{run, Catalog, QueryLimits, Table};

const ROUNDS: usize = 5;
const FILES: u64 = 10;

fn best(mut f: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rows: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let dir = tempfile::tempdir().unwrap();
    let raw = Connection::open_in_memory().unwrap();
    let files: Vec<PathBuf> = (0..FILES)
        .map(|i| {
            let path = dir.path().join(format!("part-{i}.parquet"));
            let (start, end) = (i * rows / FILES, (i + 1) * rows / FILES);
            raw.execute_batch(&format!(
                "COPY (SELECT i AS id, i % 1000 AS k, (i * 7919) % 100000 AS v FROM range({start}, {end}) t(i)) TO '{}' (FORMAT parquet)",
                path.display()
            ))
            .unwrap();
            path
        })
        .collect();
    let list = files.iter().map(|f| format!("'{}'", f.display())).collect::<Vec<_>>().join(", ");
    raw.execute_batch(&format!("CREATE VIEW t AS SELECT * FROM read_parquet([{list}])")).unwrap();
    let tables: Catalog = vec![Table { name: "t".into(), files }].into();
    let limits = QueryLimits::default();

    let raw_query = |sql: &str| -> String {
        let mut stmt = raw.prepare(sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let row = rows.next().unwrap().unwrap();
        format!("{:?}", row.get_ref(0).unwrap())
    };
    let trace_query = |sql: &str| -> usize { run(&tables, sql, &limits).unwrap().rows };

    println!("query engine vs plain DuckDB {} over {rows} rows in {FILES} Parquet files (best of {ROUNDS}):", trace_query::duckdb_version());
    for (what, sql) in [
        ("aggregate (sum, count, avg over every row)", "SELECT sum(v), count(*), avg(k) FROM t"),
        ("point lookup (one id)", "SELECT * FROM t WHERE id = 7777"),
        ("small query (fixed cost: new DuckDB, lockdown, views, first row)", "SELECT 1"),
    ] {
        let (_, _) = (raw_query(sql), trace_query(sql));
        let plain = best(|| {
            std::hint::black_box(raw_query(sql));
        });
        let ours = best(|| {
            std::hint::black_box(trace_query(sql));
        });
        println!("  {what}");
        println!("    Trace {:>12}   plain DuckDB {:>12}   ratio {:.2}x", ms(ours), ms(plain), ours.as_secs_f64() / plain.as_secs_f64());
    }
}
