//! `cargo bench -p trace-bench --bench alerts`: the alert path's two hot
//! spots, each beside a baseline in the same run.
//!
//! - The buffer sink: alert rows committed through `commit_buffered`
//!   (checked against the table, unique key, writer check, the event) vs
//!   the same rows inserted with plain SQL (one multi-row `INSERT … ON
//!   CONFLICT DO NOTHING` and transaction per message) on the same database.
//! - The Delivery Service: webhooks leased, signed, sent and recorded vs a
//!   plain HTTP loop POSTing the same bodies with the same concurrency, to
//!   the same receiver on 127.0.0.1.
//!
//! Flags: `--quick` (fewer rows and webhooks, one round).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trace_bench::report::line;
use trace_delivery::{DeliveryConfig, DeliveryService, WebhookSecret};
use trace_secrets::SecretKey;
use trace_protocol::buffered::BufferedRows;
use trace_store::{now_millis, Buffered, Db, Deliveries, DestinationSpec, PgStore, SqliteStore, Store};

const MESSAGE_ROWS: usize = 500;
const IN_FLIGHT: usize = 16;

const DAG: &str = r#"name: bench_alerts
jobs:
  - name: detect
    kind: source
    operator: op_noop.wasm
  - name: route
    kind: source
    operator: op_noop.wasm
publish:
  - { job: detect, output_index: 0, dataset: alerts, storage: buffered, schema: alert_events }
  - { job: route, output_index: 0, dataset: deliveries, storage: buffered, schema: alert_deliveries }
"#;

fn alert_messages(org: i64, dataset: &str, job: i64, rows: usize, round: usize) -> Vec<BufferedRows> {
    let columns = ["alert_key", "severity", "event_time", "payload"].map(String::from).to_vec();
    (0..rows)
        .collect::<Vec<_>>()
        .chunks(MESSAGE_ROWS)
        .enumerate()
        .map(|(m, chunk)| BufferedRows {
            org,
            dataset_uuid: dataset.to_owned(),
            job,
            task: m as i64 + 1,
            output: 0,
            columns: columns.clone(),
            rows: chunk.iter().map(|i| vec![json!(format!("r{round}:transfer:{i}")), json!("warning"), json!(1_700_000_000_000i64 + *i as i64), json!({ "value": i.to_string() }).to_string().into()]).collect(),
        })
        .collect()
}

/// The baseline: the same rows as one multi-row `INSERT … ON CONFLICT DO
/// NOTHING RETURNING` per message (as the sink batches them), one
/// transaction each, on a native pool (a macro: the two backends' pools
/// are different types). `$placeholder(i)` numbers parameter `i`.
macro_rules! raw_inserts {
    ($pool:expr, $serial:expr, $placeholder:expr, $messages:expr, $rows:expr) => {{
        let pool = $pool;
        let create = format!("CREATE TABLE IF NOT EXISTS raw_alerts (seq {}, alert_key TEXT NOT NULL, severity TEXT NOT NULL, event_time BIGINT NOT NULL, payload TEXT, writer TEXT NOT NULL, committed_at BIGINT NOT NULL)", $serial);
        sqlx::query(sqlx::AssertSqlSafe(create)).execute(&pool).await.unwrap();
        sqlx::query("CREATE UNIQUE INDEX IF NOT EXISTS raw_alerts_key ON raw_alerts (writer, alert_key)").execute(&pool).await.unwrap();
        let mut best = 0f64;
        for round in $messages {
            let started = Instant::now();
            for m in &round {
                let values: Vec<String> = (0..m.rows.len()).map(|r| format!("({})", (1..=6).map(|c| $placeholder(r * 6 + c)).collect::<Vec<_>>().join(", "))).collect();
                let insert = format!("INSERT INTO raw_alerts (alert_key, severity, event_time, payload, writer, committed_at) VALUES {} ON CONFLICT DO NOTHING RETURNING seq", values.join(", "));
                let mut tx = pool.begin().await.unwrap();
                let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(insert.as_str()));
                for r in &m.rows {
                    q = q.bind(r[0].as_str().unwrap()).bind(r[1].as_str().unwrap()).bind(r[2].as_i64().unwrap()).bind(r[3].as_str()).bind("detect").bind(now_millis());
                }
                q.fetch_all(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
            }
            best = best.max($rows as f64 / started.elapsed().as_secs_f64());
        }
        best
    }};
}

/// Rows a second through the sink, and through plain SQL, on `db` / `url`.
async fn sink(db: Arc<Db>, url: &str, postgres: bool, rows: usize, rounds: usize) -> (f64, f64) {
    db.migrate().await.unwrap();
    let org = db.create_org(&format!("bench{}", now_millis()), now_millis()).await.unwrap();
    let deployed = db.deploy(org, &trace_dag::parse("bench.yaml", DAG).unwrap(), DAG, "bench", now_millis()).await.unwrap();
    let dataset = db.buffered_datasets().await.unwrap().into_iter().find(|d| d.org == org && d.name == "alerts").unwrap();
    let mut trace_best = 0f64;
    for round in 0..rounds {
        let messages = alert_messages(org, &dataset.uuid, deployed.job("detect"), rows, round);
        let started = Instant::now();
        for m in &messages {
            db.commit_buffered(m, now_millis()).await.unwrap();
        }
        trace_best = trace_best.max(rows as f64 / started.elapsed().as_secs_f64());
    }
    let messages: Vec<Vec<BufferedRows>> = (0..rounds).map(|round| alert_messages(org, &dataset.uuid, deployed.job("detect"), rows, round + 1000)).collect();
    let raw_best = if postgres {
        raw_inserts!(sqlx::PgPool::connect(url).await.unwrap(), "BIGSERIAL PRIMARY KEY", |i: usize| format!("${i}"), messages, rows)
    } else {
        raw_inserts!(sqlx::SqlitePool::connect(url).await.unwrap(), "INTEGER PRIMARY KEY AUTOINCREMENT", |_: usize| "?".to_owned(), messages, rows)
    };
    (trace_best, raw_best)
}

async fn receiver() -> String {
    let app = axum::Router::new().route("/hook", axum::routing::post(|_body: axum::body::Bytes| async { axum::http::StatusCode::NO_CONTENT }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Webhooks a second through the Delivery Service (its `run` loop, as in
/// production, over [`IN_FLIGHT`] destinations of one in flight each), and
/// through a plain loop with as many in flight.
async fn delivery(db: Arc<Db>, webhooks: usize) -> (f64, f64) {
    db.migrate().await.unwrap();
    let url = receiver().await;
    let org = db.create_org(&format!("send{}", now_millis()), now_millis()).await.unwrap();
    let (key, secret) = (Arc::new(SecretKey::generate()), WebhookSecret::generate());
    for d in 0..IN_FLIGHT {
        let name = format!("d{d}");
        let sealed = trace_delivery::destination::seal_secret(&key, org, &name, &secret).unwrap();
        let spec = DestinationSpec { name: &name, url: &url, secret: &sealed, max_in_flight: 1, per_minute: 60_000 };
        db.set_destination(org, &spec, "bench", now_millis()).await.unwrap();
    }
    let deployed = db.deploy(org, &trace_dag::parse("bench.yaml", DAG).unwrap(), DAG, "bench", now_millis()).await.unwrap();
    let dataset = db.buffered_datasets().await.unwrap().into_iter().find(|d| d.org == org && d.name == "deliveries").unwrap();
    let columns = ["alert_key", "destination", "severity", "event_time", "payload", "suppressed_reason"].map(String::from).to_vec();
    for chunk in (0..webhooks).collect::<Vec<_>>().chunks(MESSAGE_ROWS) {
        let rows = chunk.iter().map(|i| vec![json!(format!("a:{i}")), json!(format!("d{}", i % IN_FLIGHT)), json!("warning"), json!(now_millis()), json!("{\"v\":1}"), Value::Null]).collect();
        let m = BufferedRows { org, dataset_uuid: dataset.uuid.clone(), job: deployed.job("route"), task: 1, output: 0, columns: columns.clone(), rows };
        db.commit_buffered(&m, now_millis()).await.unwrap();
    }
    let config = DeliveryConfig { batch: 64, idle: Duration::from_millis(5), ..DeliveryConfig::new("bench") };
    let service = Arc::new(DeliveryService::new(db.clone(), key, config).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn(service.run(stopped));
    let expected = vec![("delivered".to_owned(), webhooks as i64)];
    while db.delivery_counts(org).await.unwrap() != expected {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let trace = webhooks as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    running.await.unwrap();

    let http = reqwest::Client::new();
    let body = serde_json::to_vec(&json!({ "type": "alert", "alert_key": "a:0", "payload": { "v": 1 } })).unwrap();
    let started = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..IN_FLIGHT {
        let (http, url, body, next) = (http.clone(), url.clone(), body.clone(), next.clone());
        sends.spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < webhooks {
                http.post(&url).header("content-type", "application/json").body(body.clone()).send().await.unwrap();
            }
        });
    }
    while sends.join_next().await.is_some() {}
    let plain = webhooks as f64 / started.elapsed().as_secs_f64();
    (trace, plain)
}

fn ratio(what: &str, trace: f64, baseline: f64, unit: &str, base: &str) {
    line(what, &format!("{trace:>9.0} {unit}/s vs {baseline:>9.0} {unit}/s {base}: {:.2}×", trace / baseline));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rows, rounds, webhooks) = if quick { (2_000, 1, 300) } else { (20_000, 3, 3_000) };
    let dir = tempfile::tempdir().unwrap();
    println!("buffer sink: {rows} alert rows in messages of {MESSAGE_ROWS}, best of {rounds}:");
    let path = dir.path().join("sink.db");
    let sqlite = Arc::new(Db::Sqlite(SqliteStore::open(&path).await.unwrap()));
    let (trace, raw) = sink(sqlite, &format!("sqlite:{}", path.display()), false, rows, rounds).await;
    ratio("SQLite: commit_buffered vs plain INSERT", trace, raw, "rows", "plain SQL");
    let url = trace_testbed::database();
    let pg = Arc::new(Db::Postgres(PgStore::connect(&url, 4).await.unwrap()));
    let (trace, raw) = sink(pg, &url, true, rows, rounds).await;
    ratio("PostgreSQL: commit_buffered vs plain INSERT", trace, raw, "rows", "plain SQL");

    println!("delivery: {webhooks} webhooks to a receiver on 127.0.0.1, {IN_FLIGHT} in flight:");
    let sqlite = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("send.db")).await.unwrap()));
    let (trace, plain) = delivery(sqlite, webhooks).await;
    ratio("SQLite: lease, sign, send, record vs plain POSTs", trace, plain, "hooks", "plain HTTP");
    let pg = Arc::new(Db::Postgres(PgStore::connect(&trace_testbed::database(), 4).await.unwrap()));
    let (trace, plain) = delivery(pg, webhooks).await;
    ratio("PostgreSQL: lease, sign, send, record vs plain POSTs", trace, plain, "hooks", "plain HTTP");
}
