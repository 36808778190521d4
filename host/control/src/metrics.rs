//! `/metrics`: the process's counters, gauges and histograms in Prometheus
//! text format, for `trace server`, `trace worker` and `trace dev`. The
//! pieces record through the `metrics` facade where the work happens (the
//! worker per attempt, the dispatcher per claim, the completer per batch,
//! the APIs per request, the RPC client per request, the Delivery Service
//! per attempt); this module installs the recorder and serves what it holds.
//!
//! | series | labels | what |
//! |---|---|---|
//! | `trace_task_attempts_total` | `job`, `outcome` | attempts reported, by how they ended |
//! | `trace_task_duration_seconds` | `job` | an attempt's wall time (histogram) |
//! | `trace_task_cpu_seconds_total` | `job` | CPU time of operators and their output encoding |
//! | `trace_task_peak_memory_bytes` | `job` | an attempt's largest linear memory (histogram) |
//! | `trace_task_rows_total` | `job`, `direction` | rows read and written |
//! | `trace_sandbox_failures_total` | `kind` | tasks stopped by the sandbox: `limit_Memory`, `limit_Timeout`, …, `trap`, `operator` |
//! | `trace_claims_total`, `trace_claim_seconds` | | tasks claimed, and a claim's latency (histogram) |
//! | `trace_completions_total`, `trace_completion_batch_seconds` | | reports committed, and a batch's commit latency |
//! | `trace_queue_messages_total` | | task ids handed to the queue |
//! | `trace_queue_depth` | `state` | open tasks of every org (gauge, set by the dispatcher on its reap clock): `due` (pending, waiting for a claim), `backing_off` (pending, a retry not yet due), `running` |
//! | `trace_tasks` | `job`, `state` | the same per job name (jobs of every org and DAG with the name together; at most 1,000 names); a job whose tasks all finished drops to 0 |
//! | `trace_queries_total`, `trace_query_seconds` | `kind`, `outcome` | queries through the Query Service: `interactive` or `batch`; `ok` or the refusal's kind |
//! | `trace_http_requests_total`, `trace_http_request_duration_seconds` | `route`, `status` | API requests by route template (`/api/v1/tasks/:id`) |
//! | `trace_rpc_requests_total` | `status` | source RPC requests: `ok`, `429`, `5xx`, `refused`, `error` |
//! | `trace_delivery_attempts_total` | `outcome` | webhook attempts |

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for seconds (1 ms to 5 min) and bytes (64 KiB to 4 GiB).
const SECONDS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
const BYTES: &[f64] = &[65_536.0, 1_048_576.0, 8_388_608.0, 67_108_864.0, 268_435_456.0, 1_073_741_824.0, 4_294_967_296.0];

/// Install the process's recorder (once; later calls get the same handle).
pub fn install() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES))
                .expect("bucket lists are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// A router serving `GET /metrics` from `handle`.
pub fn router(handle: PrometheusHandle) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()) }
        }),
    )
}

/// Serve `/metrics` on `addr`; returns the address it listens on.
pub async fn serve(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let handle = install();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(handle)).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(local)
}
