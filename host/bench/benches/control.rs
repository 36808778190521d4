//! `cargo bench -p trace-bench --bench control`: end-to-end no-op tasks per
//! second on SQLite and PostgreSQL, each beside a raw claim/complete loop on
//! the same database in the same run.
//!
//! Flags: `--quick` (500 tasks instead of 10,000, one round), `--tasks N`,
//! `--backend sqlite|postgres` (one backend only), `--trace-only` (skip the
//! raw loops, for profiling).

use std::path::Path;
use std::sync::Arc;

use trace_bench::control_loop::{raw_rows_per_sec, trace_tasks_per_sec};
use trace_bench::report::line;
use trace_control::dispatcher::DispatcherConfig;
use trace_store::{Db, PgStore, SqliteStore};

/// Async workers: a no-op task's sandbox run is ~10 µs and the rest is
/// waiting on the database, so a few per core keep both busy (8 and 16
/// measured no better, only more thread switches).
const WORKERS: usize = 4;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let trace_only = args.iter().any(|a| a == "--trace-only");
    let backend = args.iter().position(|a| a == "--backend").and_then(|i| args.get(i + 1)).cloned();
    let runs = |name: &str| backend.as_deref().is_none_or(|b| b == name);
    let tasks = args.iter().position(|a| a == "--tasks").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok());
    let n: u64 = tasks.unwrap_or(if quick { 500 } else { 10_000 });
    // One source task emits an event per no-op task, and a task may emit
    // at most `max_events`.
    let most = u64::from(trace_sandbox::Limits::default().max_events);
    if n > most {
        eprintln!("--tasks {n}: the bench fans out from one source task, which may emit at most {most} events (Limits::max_events)");
        std::process::exit(2);
    }
    let rounds = if quick { 1 } else { ROUNDS };
    let operators = Path::new(trace_artifacts::NOOP).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let batch = DispatcherConfig::default().batch;

    println!("end-to-end no-op tasks ({n} fanned out from one source task, {WORKERS} async workers, best of {rounds}):");
    if runs("sqlite") {
        let mut trace = 0f64;
        for round in 0..rounds {
            let path = dir.path().join(format!("trace{round}.db"));
            let sqlite = Arc::new(Db::Sqlite(SqliteStore::open(&path).await.unwrap()));
            trace = trace.max(trace_tasks_per_sec(sqlite, operators, n, WORKERS).await);
        }
        let raw = |name: &str, per_commit| raw_rows_per_sec(format!("sqlite:{}", dir.path().join(name).display()), n, batch, per_commit);
        report("SQLite", trace, if trace_only { None } else { Some((raw("raw.db", 1).await, raw("raw10.db", 10).await)) });
    }
    if runs("postgres") {
        let mut trace = 0f64;
        for _ in 0..rounds {
            let pg = Arc::new(Db::Postgres(PgStore::connect(&trace_testbed::database(), 8).await.unwrap()));
            trace = trace.max(trace_tasks_per_sec(pg, operators, n, WORKERS).await);
        }
        let raw = |per_commit| raw_rows_per_sec(trace_testbed::database(), n, batch, per_commit);
        report("PostgreSQL", trace, if trace_only { None } else { Some((raw(1).await, raw(10).await)) });
    }
}

/// Rounds of the Trace run, each on a fresh database; the best is reported
/// (this 2-core machine's run-to-run spread is ±15 %). The raw loops run
/// once: at one commit per row they take seconds, which evens them out.
const ROUNDS: usize = 3;

fn report(backend: &str, trace: f64, raw: Option<(f64, f64)>) {
    line(&format!("{backend}: Trace"), &format!("{trace:.0} tasks/s (target >= 10000)"));
    let Some((raw, raw10)) = raw else { return };
    line(&format!("{backend}: raw loop, 1 completion/commit"), &format!("{raw:.0} rows/s, ratio {:.2}x (target >= 0.5)", trace / raw));
    line(&format!("{backend}: raw loop, 10 completions/commit"), &format!("{raw10:.0} rows/s, ratio {:.2}x", trace / raw10));
}
