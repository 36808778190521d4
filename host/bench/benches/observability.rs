//! `cargo bench -p trace-bench --bench observability`: what metrics and
//! spans cost the control loop. The control bench's no-op tasks per second
//! on SQLite with nothing observing (no metrics recorder, no log
//! subscriber) beside the same run with the Prometheus recorder installed
//! and a JSON log subscriber at `info` (every attempt's span is created and
//! entered; lines go to a sink), and a third with every span exported over
//! OTLP as `trace server` does with `OTEL_EXPORTER_OTLP_ENDPOINT` (to a
//! receiver in the same process that reads and drops the bodies; task rows
//! then store their trace context too). A recorder cannot be uninstalled,
//! so each run is a child process of this one, the modes alternating.
//!
//! Flags: `--quick` (2,000 tasks, two runs each), `--tasks N`, `--runs N`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use trace_bench::control_loop::trace_tasks_per_sec;
use trace_bench::report::line;
use trace_store::{Db, SqliteStore};

/// The control bench's async workers.
const WORKERS: usize = 4;
const MODE: &str = "TRACE_BENCH_OBSERVE";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|n| n.parse::<u64>().ok());
    let quick = args.iter().any(|a| a == "--quick");
    let n = flag("--tasks").unwrap_or(if quick { 2_000 } else { 10_000 });
    if let Ok(mode) = std::env::var(MODE) {
        child(&mode, n);
        return;
    }
    let runs = flag("--runs").unwrap_or(if quick { 2 } else { 5 });
    println!("control loop, {n} no-op tasks on SQLite, {runs} runs each, alternating (median):");
    let (mut off, mut on, mut otlp) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        off.push(run_child("off", n));
        on.push(run_child("on", n));
        otlp.push(run_child("otlp", n));
    }
    let (off, on, otlp) = (median(&mut off), median(&mut on), median(&mut otlp));
    line("nothing observing", &format!("{off:.0} tasks/s"));
    line("metrics + info spans (JSON)", &format!("{on:.0} tasks/s, ratio {:.3}x (target >= 0.95)", on / off));
    line("metrics + spans exported (OTLP)", &format!("{otlp:.0} tasks/s, ratio {:.3}x", otlp / off));
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run_child(mode: &str, n: u64) -> f64 {
    let out = Command::new(std::env::current_exe().unwrap()).args(["--tasks", &n.to_string()]).env(MODE, mode).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|_| panic!("a child printed {:?}", String::from_utf8_lossy(&out.stdout)))
}

fn child(mode: &str, n: u64) {
    // The OTLP receiver's port, bound (and put in the environment) before
    // any other thread exists.
    let sink = (mode == "otlp").then(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        // SAFETY: this process has one thread yet.
        unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{}", listener.local_addr().unwrap())) };
        listener
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut telemetry = None;
    match mode {
        "on" => {
            trace_control::metrics::install();
            tracing_subscriber::fmt().with_env_filter("info").json().with_current_span(true).with_span_list(false).with_writer(std::io::sink).init();
        }
        "otlp" => {
            trace_control::metrics::install();
            let listener = sink.expect("bound above");
            runtime.spawn(async move { serve_otlp_sink(listener).await });
            telemetry = Some(trace_telemetry::init("trace-bench").unwrap());
        }
        _ => {}
    }
    let rate = runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("bench.db")).await.unwrap()));
        trace_tasks_per_sec(db, Path::new(trace_artifacts::NOOP).parent().unwrap(), n, WORKERS).await
    });
    drop(telemetry);
    println!("{rate}");
}

/// An OTLP/HTTP receiver that reads each body and drops it.
async fn serve_otlp_sink(listener: std::net::TcpListener) {
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(|body: axum::body::Bytes| async move { std::hint::black_box(body.len()); "{}" }));
    axum::serve(tokio::net::TcpListener::from_std(listener).unwrap(), app).await.unwrap();
}
