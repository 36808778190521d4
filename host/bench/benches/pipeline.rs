//! `cargo bench -p trace-bench --bench pipeline`: rows/s through source
//! partitions → the example UDF → Parquet partitions on object storage,
//! sandboxed beside native (target >= 0.7).

use trace_bench::pipeline;
use trace_bench::report::line;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rows: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let dir = tempfile::tempdir().unwrap();
    println!("pipeline: {rows} rows of logs in 1,000-block Parquet files -> example UDF per 10,000-block window -> Parquet (best of 2):");
    let r = pipeline::measure(dir.path(), trace_artifacts::ERC20_TRANSFERS, rows, 1_000_000, 2).await;
    line("sandboxed UDF", &format!("{:.2} M rows/s ({:.2} s)", r.rows_per_sec(r.sandboxed) / 1e6, r.sandboxed.as_secs_f64()));
    line("native UDF, same pipeline", &format!("{:.2} M rows/s ({:.2} s)", r.rows_per_sec(r.native) / 1e6, r.native.as_secs_f64()));
    line("ratio sandboxed / native (target >= 0.7)", &format!("{:.2}x", r.ratio()));
    line("rows kept", &r.rows_out.to_string());
}
