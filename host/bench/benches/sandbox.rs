//! `cargo bench -p trace-bench --bench sandbox`: the sandbox's per-task cost
//! and the example UDF's throughput, each beside its baseline.

use trace_bench::report::line;
use trace_bench::{per_task, udf_throughput};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (tasks, rows) = if quick { (200, 100_000) } else { (5_000, 1_000_000) };

    println!("per-task cost, no-op Rust operator ({tasks} tasks, best of 5):");
    let p = per_task::measure(trace_artifacts::NOOP, tasks, 5);
    line("Trace runtime (store+instantiate+run+drop)", &format!("{:.1} µs", p.trace.as_secs_f64() * 1e6));
    line("bare wasmtime, same engine settings", &format!("{:.1} µs", p.bare.as_secs_f64() * 1e6));
    line("ratio Trace / bare (target <= 1.5)", &format!("{:.2}x", p.ratio()));
    let f = p.bare_phases;
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    line("bare, by phase: store/instantiate/run/drop", &format!("{:.1} / {:.1} / {:.1} / {:.1} µs", us(f.store), us(f.instantiate), us(f.run), us(f.drop)));

    println!("example UDF (ERC-20 transfers >= 1e6) over {rows} rows, 8192-row batches (best of 3):");
    let t = udf_throughput::measure_with_boundary(trace_artifacts::ERC20_TRANSFERS, rows, 8192, 1_000_000, 3);
    line("sandboxed", &format!("{:.2} M rows/s ({:.0} ms)", t.rows_per_sec(t.sandboxed) / 1e6, t.sandboxed.as_secs_f64() * 1e3));
    line("native Rust, same code", &format!("{:.2} M rows/s ({:.0} ms)", t.rows_per_sec(t.native) / 1e6, t.native.as_secs_f64() * 1e3));
    line("ratio sandboxed / native (target >= 0.8)", &format!("{:.2}x", t.ratio()));
    line("rows kept", &t.rows_out.to_string());
    let (off, on) = udf_throughput::fuel_overhead(trace_artifacts::ERC20_TRANSFERS, rows, 8192, 1_000_000, 3);
    line("with fuel metering (trace worker --fuel)", &format!("{:.0} ms vs {:.0} ms without: {:.2}x the time", on.as_secs_f64() * 1e3, off.as_secs_f64() * 1e3, on.as_secs_f64() / off.as_secs_f64()));
    let (Some(b), Some(ceiling)) = (&t.boundary, t.ceiling()) else { return };
    let ms = |d: std::time::Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    line("input hand-over alone (row_count operator)", &ms(b.handover));
    println!("what crossing the boundary costs at least, same batches, no wasm (caches evicted, best of 3):");
    line("read every cache line in place", &ms(b.floor.read_in_place));
    line("copy each batch into one buffer, then read", &ms(b.floor.copy_then_read));
    line("map each batch's pages in (memfd), then read", &ms(b.floor.map_then_read));
    line("copy the output bytes out", &ms(b.floor.copy_out));
    line("ceiling: native / (native + copy-in extra + out)", &format!("{ceiling:.2}x"));
}
