//! `cargo bench -p trace-bench --bench ingest`: what `evm_source` ingests
//! from a local anvil, in blocks/s and logs/s, by a backfill over one slot
//! and over two (`trace dev` in process: SQLite, the in-process queue, the
//! sandbox, Parquet to a local directory), beside a plain Rust HTTP loop
//! making the same JSON-RPC requests (the same batches, one loop per slot)
//! in the same run.
//!
//! The chain: blocks of one ERC-20 transaction moving tokens
//! `LOGS_PER_BLOCK` times (so that many logs each). Backfills run in chunks
//! of 100 and of 500 blocks (one task each): a task's fixed cost (claim,
//! slot grant, instance, Parquet files, completion) shows at 100.
//!
//! Flags: `--quick` (fewer blocks, one round); `--trace-only` (skip the
//! plain loop: for profiling Trace's side).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trace_bench::report::line;
use trace_control::dev::{self, DevRun};

const LOGS_PER_BLOCK: u64 = 20;
const WINDOW: u64 = 100;

fn dag(url: &str, slots: usize) -> String {
    let slot = format!("      - env: {{ RPC_URL: \"{url}\" }}\n");
    format!(
        r#"name: bench_ingest
worker_pools:
  rpc:
    slots:
{}jobs:
  - name: ingest
    kind: source
    operator: op_evm_source.wasm
    outputs: 3
    pool: rpc
    scaling: {{ max_concurrency: {slots} }}
    capabilities: [rpc]
    rpc: {{ max_batch: {WINDOW}, max_in_flight: 1 }}
    timeout: 5m
    config: {{ window: {WINDOW} }}
publish:
  - {{ job: ingest, output_index: 0, dataset: blocks }}
  - {{ job: ingest, output_index: 1, dataset: transactions }}
  - {{ job: ingest, output_index: 2, dataset: logs }}
"#,
        slot.repeat(slots)
    )
}

/// Seconds for Trace to ingest blocks `[0, end)` over `slots` slots.
async fn trace_run(url: &str, slots: usize, end: u64, chunk: u64, cache: &Path) -> f64 {
    let yaml = dag(url, slots);
    let dag = trace_dag::parse("bench.yaml", &yaml).expect("the bench DAG is valid");
    let dir = tempfile::tempdir().unwrap();
    let operators = Path::new(trace_artifacts::EVM_SOURCE).parent().unwrap();
    let run = DevRun {
        dag: &dag,
        yaml: &yaml,
        operators,
        database: &dir.path().join("bench.db"),
        range: (0, end),
        workers: slots,
        timeout: Duration::from_secs(600),
        // Compiled once for every round (outside the timing either way).
        cache_dir: Some(cache.to_owned()),
        poll: Duration::from_millis(20),
        storage: Some(trace_storage::Storage::local(&dir.path().join("objects")).unwrap()),
        destinations: Vec::new(),
        webhook_secret: None,
        secrets: Vec::new(),
        chunk: Some(chunk),
        fuel: false,
        org: None,
    };
    let done = dev::run(run, |_| {}).await.expect("the ingest runs");
    if let Some(t) = done.failures.first() {
        panic!("ingest task {} failed: {}", t.id, t.last_error.as_deref().unwrap_or("?"));
    }
    done.progress.elapsed.as_secs_f64()
}

/// The same requests as one evm_source task per chunk, without Trace:
/// `slots` loops taking chunks in turn. Returns (seconds, logs seen).
async fn plain_run(url: &str, slots: usize, end: u64, chunk: u64) -> (f64, u64) {
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let logs = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let loops: Vec<_> = (0..slots)
        .map(|_| {
            let (http, next, logs, url) = (http.clone(), next.clone(), logs.clone(), url.to_owned());
            tokio::spawn(async move {
                let call = |body: Value| {
                    let (http, url) = (http.clone(), url.clone());
                    async move { http.post(&url).json(&body).send().await.unwrap().json::<Value>().await.unwrap() }
                };
                loop {
                    let start = next.fetch_add(chunk, Ordering::SeqCst);
                    if start >= end {
                        break;
                    }
                    let stop = (start + chunk).min(end);
                    call(json!({ "jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": [] })).await;
                    call(json!({ "jsonrpc": "2.0", "id": 0, "method": "eth_chainId", "params": [] })).await;
                    let mut lo = start;
                    while lo < stop {
                        let hi = (lo + WINDOW).min(stop);
                        let batch: Vec<Value> = (lo..hi).enumerate().map(|(i, n)| json!({ "jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": [format!("0x{n:x}"), true] })).collect();
                        let blocks = call(Value::Array(batch)).await;
                        assert_eq!(blocks.as_array().unwrap().len() as u64, hi - lo);
                        let got = call(json!({ "jsonrpc": "2.0", "id": 0, "method": "eth_getLogs", "params": [{ "fromBlock": format!("0x{lo:x}"), "toBlock": format!("0x{:x}", hi - 1) }] })).await;
                        logs.fetch_add(got["result"].as_array().unwrap().len() as u64, Ordering::Relaxed);
                        lo = hi;
                    }
                }
            })
        })
        .collect();
    for l in loops {
        l.await.unwrap();
    }
    (started.elapsed().as_secs_f64(), logs.load(Ordering::Relaxed))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let trace_only = std::env::args().any(|a| a == "--trace-only");
    let (blocks, rounds) = if quick { (400u64, 1) } else { (2_000, 3) };
    let node = trace_testbed::anvil();
    let accounts = node.accounts();
    let token = node.deploy_token(&accounts[0], u128::MAX / 2);
    while node.block_number() < blocks {
        node.spray(&token, &accounts[0], &accounts[1], LOGS_PER_BLOCK, 1);
    }
    let end = node.block_number() + 1;
    let logs_total = node.rpc("eth_getLogs", json!([{ "fromBlock": "0x0", "toBlock": format!("0x{:x}", end - 1) }])).as_array().unwrap().len() as u64;
    let cache = tempfile::tempdir().unwrap();
    println!("ingest: blocks 0..{end} of anvil on 127.0.0.1 ({logs_total} logs), JSON-RPC batches of {WINDOW}, best of {rounds}:");
    for chunk in [100u64, 500] {
        for slots in [1usize, 2] {
            let mut trace = f64::MAX;
            let mut plain = f64::MAX;
            for _ in 0..rounds {
                if !trace_only {
                    let (seconds, logs) = plain_run(&node.endpoint(), slots, end, chunk).await;
                    assert_eq!(logs, logs_total);
                    plain = plain.min(seconds);
                }
                trace = trace.min(trace_run(&node.endpoint(), slots, end, chunk, cache.path()).await);
            }
            let (bt, bp) = (end as f64 / trace, end as f64 / plain);
            line(&format!("chunks of {chunk}, {slots} slot(s): blocks"), &format!("{bt:>7.0} /s vs {bp:>7.0} /s plain loop: {:.2}×", bt / bp));
            line(&format!("chunks of {chunk}, {slots} slot(s): logs"), &format!("{:>7.0} /s vs {:>7.0} /s plain loop", logs_total as f64 / trace, logs_total as f64 / plain));
        }
    }
}
