//! `cargo bench -p trace-bench --bench languages`: per-task overhead and the
//! example UDF's throughput for operators written in Rust, JavaScript
//! (componentize-qjs) and Python (componentize-py), each beside its baseline:
//! bare wasmtime for the per-task cost, the UDF compiled natively for rows/s.
//!
//! `-- --quick` for a short run; `--lang python` for one language and
//! `--per-task` to skip the throughput part (profiling); `TRACE_BENCH_TASKS`
//! sets the number of tasks.

use std::path::{Path, PathBuf};

use serde_json::json;
use trace_bench::report::line;
use trace_bench::{per_task, udf_throughput};

/// `operators/<name>` built (or reused) with the pinned tools.
fn build(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../operators").join(name);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("opkit").join(name);
    let built = trace_opkit::build(&dir, Some(&out)).unwrap_or_else(|e| panic!("building {name}: {e}"));
    let how = if built.reused { "reused".to_owned() } else { format!("built in {:.1} s", built.took.as_secs_f64()) };
    line(&format!("{name} ({})", built.tool), &format!("{:.1} MiB, {how}", built.bytes as f64 / (1 << 20) as f64));
    built.path
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (tasks, rows) = if quick { (100, 100_000) } else { (2_000, 1_000_000) };
    let tasks = std::env::var("TRACE_BENCH_TASKS").ok().and_then(|t| t.parse().ok()).unwrap_or(tasks);
    // `--lang python` measures one language only (profiling).
    let args: Vec<String> = std::env::args().collect();
    let only = args.iter().position(|a| a == "--lang").and_then(|i| args.get(i + 1)).map(|l| l.to_lowercase());
    let per_task_only = args.iter().any(|a| a == "--per-task");

    println!("components:");
    let noop_js = build("hostile_js");
    let noop_py = build("hostile_py");
    let udf_js = build("erc20_transfers_js");
    let udf_py = build("erc20_transfers_py");
    let noop = |p: &Path| p.to_str().unwrap().to_owned();
    let languages: Vec<_> = [
        ("Rust", trace_artifacts::NOOP.to_owned(), trace_artifacts::ERC20_TRANSFERS.to_owned()),
        ("JavaScript", noop(&noop_js), noop(&udf_js)),
        ("Python", noop(&noop_py), noop(&udf_py)),
    ]
    .into_iter()
    .filter(|(lang, _, _)| only.as_ref().is_none_or(|o| lang.to_lowercase().starts_with(o.as_str())))
    .collect();

    // Throughput first: the memory-heavy runs are steadier in a process that
    // has not yet run thousands of JavaScript and Python instances.
    if !per_task_only {
        println!("example UDF (ERC-20 transfers >= 1e6) over {rows} rows, 8192-row batches (best of 5 for Rust, of 2 for JavaScript and Python):");
        for (lang, _, component) in &languages {
            // Rust rounds take milliseconds and its best of 2 swung between
            // runs (18-29 M rows/s); JavaScript and Python rounds take seconds.
            let rounds = if *lang == "Rust" { 5 } else { 2 };
            let t = udf_throughput::measure(component, rows, 8192, 1_000_000, rounds);
            line(
                &format!("{lang} sandboxed / native Rust"),
                &format!(
                    "{:.2} vs {:.2} M rows/s = {:.3}x",
                    t.rows_per_sec(t.sandboxed) / 1e6,
                    t.rows_per_sec(t.native) / 1e6,
                    t.ratio()
                ),
            );
        }
    }

    // Best of 5: a round of Python tasks takes under a second, and on a busy
    // machine single rounds of 3 spread by 10 %.
    const PER_TASK_ROUNDS: usize = 5;
    println!("per-task cost of an operator that parses its config and returns ({tasks} tasks, best of {PER_TASK_ROUNDS}):");
    for (lang, component, _) in &languages {
        let p = per_task::measure_with(component, json!({ "attack": "none" }), tasks, PER_TASK_ROUNDS);
        // The target is for the interpreted languages; Rust is the reference.
        let target = if *lang == "Rust" { "" } else { " (target <= 300 µs)" };
        line(
            &format!("{lang}{target}"),
            &format!("{:.1} µs  (bare wasmtime {:.1} µs, {:.2}x)", p.trace.as_secs_f64() * 1e6, p.bare.as_secs_f64() * 1e6, p.ratio()),
        );
        let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
        let f = p.bare_phases;
        line(
            "  bare, by phase: store/instantiate/run/drop",
            &format!("{:.1} / {:.1} / {:.1} / {:.1} µs", us(f.store), us(f.instantiate), us(f.run), us(f.drop)),
        );
    }
}
