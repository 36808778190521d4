//! `/metrics`: the series a run moves, read back through a Prometheus text
//! parser from the endpoint `trace dev`, `trace server` and `trace worker`
//! serve.

mod support;

use std::sync::Arc;
use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use support::operators;
use tower::ServiceExt;
use trace_control::dev::{self, DevRun};

const DAG: &str = r#"name: watched
jobs:
  - name: blocks
    kind: source
    operator: op_synthetic_blocks.wasm
    config: { range_size: 500 }
  - name: transfers
    operator: op_erc20_transfers.wasm
    inputs:
      - from: { job: blocks, output: 0 }
  - name: bomb
    kind: source
    operator: op_hostile.wasm
    max_attempts: 1
    config: { attack: memory_bomb }
"#;

async fn scrape(url: &str) -> Scrape {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of `name` with every label in `labels`, summed over the rest.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

async fn run(dir: &std::path::Path, name: &str) {
    let dag = trace_dag::parse("watched.yaml", DAG).unwrap();
    let run = DevRun {
        dag: &dag,
        yaml: DAG,
        operators: operators(),
        database: &dir.join(format!("{name}.db")),
        range: (0, 1_000),
        workers: 2,
        timeout: Duration::from_secs(120),
        cache_dir: None,
        poll: Duration::from_millis(50),
        storage: Some(trace_storage::Storage::local(&dir.join(name)).unwrap()),
        destinations: Vec::new(),
        webhook_secret: None,
        secrets: Vec::new(),
        chunk: None,
        fuel: false,
        org: None,
    };
    let done = dev::run(run, |_| {}).await.unwrap();
    assert_eq!(done.failed(), 1, "the bomb");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_moves_the_series_it_should() {
    let at = trace_control::metrics::serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{at}/metrics");
    let dir = tempfile::tempdir().unwrap();
    let before = scrape(&url).await;
    run(dir.path(), "first").await;
    let first = scrape(&url).await;
    assert_eq!(value(&first, "trace_task_attempts_total", &[("job", "blocks"), ("outcome", "succeeded")]) - value(&before, "trace_task_attempts_total", &[("job", "blocks"), ("outcome", "succeeded")]), 1.0);
    assert_eq!(value(&first, "trace_task_attempts_total", &[("job", "transfers"), ("outcome", "succeeded")]), 2.0, "one per 500-block range");
    assert_eq!(value(&first, "trace_task_attempts_total", &[("job", "bomb"), ("outcome", "failed")]), 1.0);
    assert_eq!(value(&first, "trace_sandbox_failures_total", &[("kind", "limit_Memory")]), 1.0);
    assert_eq!(value(&first, "trace_task_rows_total", &[("job", "blocks"), ("direction", "out")]), 10_000.0);
    assert!(value(&first, "trace_claims_total", &[]) >= 4.0 && value(&first, "trace_completions_total", &[]) >= 4.0);
    assert!(value(&first, "trace_task_duration_seconds_count", &[("job", "blocks")]) >= 1.0 || value(&first, "trace_task_duration_seconds", &[("job", "blocks")]) >= 1.0);
    assert!(first.samples.iter().any(|s| s.metric.starts_with("trace_task_peak_memory_bytes")), "a memory histogram");
    // The dispatcher's gauge of open tasks: every state present, all drained.
    for state in ["due", "backing_off", "running"] {
        assert!(first.samples.iter().any(|s| s.metric == "trace_queue_depth" && s.labels.get("state") == Some(state)), "trace_queue_depth{{state={state}}}");
    }
    assert_eq!(value(&first, "trace_queue_depth", &[("state", "due")]), 0.0, "nothing left waiting");

    run(dir.path(), "second").await;
    let second = scrape(&url).await;
    assert_eq!(value(&second, "trace_task_attempts_total", &[("job", "transfers"), ("outcome", "succeeded")]), 4.0, "counters only grow");
    assert!(value(&second, "trace_claims_total", &[]) > value(&first, "trace_claims_total", &[]));

    // API requests, by route template and status (never by raw path).
    let db = Arc::new(trace_store::Db::Sqlite(trace_store::SqliteStore::open(&dir.path().join("api.db")).await.unwrap()));
    trace_store::Store::migrate(&*db).await.unwrap();
    let app = trace_api::public_router(Arc::new(trace_api::PublicState::new(db.clone())));
    for path in ["/api/v1/tasks/41", "/api/v1/tasks/42", "/api/v1/whoami"] {
        let req = axum::http::Request::get(path).header("authorization", "Bearer trc_nope").body(axum::body::Body::empty()).unwrap();
        assert_eq!(app.clone().oneshot(req).await.unwrap().status().as_u16(), 401);
    }
    let third = scrape(&url).await;
    assert_eq!(value(&third, "trace_http_requests_total", &[("route", "/api/v1/tasks/:id"), ("status", "401")]), 2.0);
    assert_eq!(value(&third, "trace_http_requests_total", &[("route", "/api/v1/whoami"), ("status", "401")]), 1.0);
    assert!(!third.samples.iter().any(|s| s.labels.get("route").is_some_and(|r| r.contains("41"))), "no series per id");

    // Queries through the Query Service, by kind and outcome.
    let cache = tempfile::tempdir().unwrap();
    let storage = trace_storage::Storage::local(&dir.path().join("second")).unwrap();
    let service = trace_query::QueryService::new(db, storage, cache.path().to_owned(), trace_query::ServiceLimits::default()).unwrap();
    let caller = trace_query::Caller { org: 1, user: None };
    let ask = |sql: &str| trace_query::QueryRequest { sql: sql.into(), ..Default::default() };
    service.query(&caller, ask("SELECT 42")).await.unwrap();
    service.query(&caller, ask("DROP TABLE x")).await.unwrap_err();
    let fourth = scrape(&url).await;
    assert_eq!(value(&fourth, "trace_queries_total", &[("kind", "interactive"), ("outcome", "ok")]), 1.0);
    assert_eq!(value(&fourth, "trace_queries_total", &[("kind", "interactive"), ("outcome", "bad_sql")]), 1.0);
    assert!(fourth.samples.iter().any(|s| s.metric.starts_with("trace_query_seconds")), "a query latency histogram");
}
