//! `cargo bench -p trace-bench --bench control`: end-to-end no-op tasks per
//! second on SQLite and PostgreSQL, each beside a raw claim/complete loop on
//! the same database in the same run.

use std::path::Path;
use std::sync::Arc;

use trace_bench::control_loop::{raw_rows_per_sec, trace_tasks_per_sec};
use trace_bench::report::line;
use trace_store::{Db, PgStore, SqliteStore};

/// Async workers: each spends most of a no-op task waiting on the database,
/// so more of them than cores keeps both busy.
const WORKERS: usize = 8;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n: u64 = if quick { 500 } else { 5_000 };
    let operators = Path::new(trace_artifacts::NOOP).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();

    println!("end-to-end no-op tasks ({n} fanned out from one source task, {WORKERS} async workers):");
    let sqlite = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap()));
    let trace = trace_tasks_per_sec(sqlite, operators, n, WORKERS).await;
    let raw = raw_rows_per_sec(&format!("sqlite:{}", dir.path().join("raw.db").display()), n, 64).await;
    line("SQLite: Trace", &format!("{trace:.0} tasks/s"));
    line("SQLite: raw claim/complete loop", &format!("{raw:.0} rows/s"));
    line("SQLite: ratio (target >= 0.5)", &format!("{:.2}x", trace / raw));

    let pg = Arc::new(Db::Postgres(PgStore::connect(&trace_testbed::database(), 8).await.unwrap()));
    let trace = trace_tasks_per_sec(pg, operators, n, WORKERS).await;
    let raw = raw_rows_per_sec(&trace_testbed::database(), n, 64).await;
    line("PostgreSQL: Trace", &format!("{trace:.0} tasks/s"));
    line("PostgreSQL: raw claim/complete loop", &format!("{raw:.0} rows/s"));
    line("PostgreSQL: ratio (target >= 0.5)", &format!("{:.2}x", trace / raw));
}
