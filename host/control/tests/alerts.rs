//! Alerts end to end, on SQLite and on PostgreSQL: two detectors write one
//! buffered `alert_events` dataset, `alert_route` writes `alert_deliveries`,
//! and the Delivery Service sends them, signed, to a real HTTP receiver on
//! 127.0.0.1 that checks every signature and fails each webhook's first
//! attempts (500, then 429 with Retry-After).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::{Array, Decimal256Array, UInt32Array, UInt64Array};
use axum::http::{HeaderMap, StatusCode};
use support::{settle_buffered, start_with_buffer};
use trace_protocol::buffered::Buffer;
use trace_control::queue::InProcessQueue;
use trace_delivery::{DeliveryConfig, DeliveryService, RetrySchedule, WebhookSecret};
use trace_secrets::SecretKey;
use trace_storage::{ObjectPath, Storage};
use trace_store::{now_millis, Db, Deliveries, DestinationSpec, Lifecycle, Registry, Store};

/// What the receiver saw, by `webhook-id`: attempt times and the accepted body.
#[derive(Default)]
struct Seen {
    attempts: BTreeMap<String, Vec<Instant>>,
    accepted: BTreeMap<String, Vec<serde_json::Value>>,
    bad_signatures: usize,
}

/// A webhook receiver on 127.0.0.1: checks the signature, answers 500 to a
/// webhook's first attempt, 429 (Retry-After: 1) to its second, 200 after.
async fn receiver(secret: WebhookSecret) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = (seen.clone(), Arc::new(secret));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|axum::extract::State((seen, secret)): axum::extract::State<(Arc<Mutex<Seen>>, Arc<WebhookSecret>)>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let (id, ts, sig) = (h("webhook-id"), h("webhook-timestamp").parse::<i64>().unwrap_or(0), h("webhook-signature"));
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
                let mut seen = seen.lock().unwrap();
                if !secret.verify(&id, ts, &body, &sig, now) {
                    seen.bad_signatures += 1;
                    return (StatusCode::UNAUTHORIZED, HeaderMap::new(), "bad signature");
                }
                let attempts = seen.attempts.entry(id.clone()).or_default();
                attempts.push(Instant::now());
                match attempts.len() {
                    1 => (StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), "try again"),
                    2 => {
                        let mut headers = HeaderMap::new();
                        headers.insert("retry-after", "1".parse().unwrap());
                        (StatusCode::TOO_MANY_REQUESTS, headers, "slow down")
                    }
                    _ => {
                        seen.accepted.entry(id).or_default().push(serde_json::from_slice(&body).unwrap());
                        (StatusCode::OK, HeaderMap::new(), "ok")
                    }
                }
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

const BIG: u128 = 95_000_000_000_000;
const HUGE: u128 = 99_000_000_000_000;

fn pipeline(genesis_ms: i64) -> String {
    format!(
        r#"name: alerts
jobs:
  - name: blocks
    kind: source
    operator: op_synthetic_blocks.wasm
    config: {{ range_size: 1000 }}
  - name: transfers
    operator: op_erc20_transfers.wasm
    inputs:
      - from: {{ job: blocks, output: 0 }}
    config: {{ min_value: "1000000000000" }}
  - name: big
    operator: op_alert_large_transfers.wasm
    inputs:
      - from: {{ job: transfers, output: 0 }}
    config: {{ min_value: "{BIG}", severity: warning, genesis_ms: {genesis_ms} }}
  - name: huge
    operator: op_alert_large_transfers.wasm
    inputs:
      - from: {{ job: transfers, output: 0 }}
    config: {{ min_value: "{HUGE}", severity: critical, genesis_ms: 1600000000000 }}
  - name: route
    operator: op_alert_route.wasm
    inputs:
      - from: {{ job: big, output: 0 }}
      - from: {{ job: huge, output: 0 }}
    config:
      max_delivery_age: 1h
      routes:
        - {{ destination: ops, detectors: [big] }}
        - {{ destination: pager, min_severity: critical }}
publish:
  - {{ job: transfers, output_index: 0, dataset: erc20_transfers }}
  - {{ job: big, output_index: 0, dataset: alerts, storage: buffered, schema: alert_events }}
  - {{ job: huge, output_index: 0, dataset: alerts, storage: buffered, schema: alert_events }}
  - {{ job: route, output_index: 0, dataset: deliveries, storage: buffered, schema: alert_deliveries }}
"#
    )
}

/// `transfer:{block}:{log}` of every transfer in `erc20_transfers` at or
/// above `min`: what the detectors should find, read from the Parquet.
async fn expected_keys(db: &Db, storage: &Storage, org: i64, min: u128) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for p in db.partitions(org, "erc20_transfers").await.unwrap() {
        let bytes = storage.get(&ObjectPath::from(p.object_key.as_str()), 1 << 26).await.unwrap();
        let mut source = trace_batches::ParquetSource::from_bytes(&p.object_key, bytes, 4096).unwrap();
        while let Some(ipc) = trace_core::BatchSource::next_batch(&mut source).unwrap() {
            for b in trace_batches::decode_ipc(&ipc).unwrap() {
                let block = b.column(0).as_any().downcast_ref::<UInt64Array>().unwrap();
                let log = b.column(1).as_any().downcast_ref::<UInt32Array>().unwrap();
                let value = b.column(5).as_any().downcast_ref::<Decimal256Array>().unwrap();
                for i in 0..b.num_rows() {
                    if value.value(i) >= arrow_buffer::i256::from_i128(min as i128) {
                        keys.insert(format!("transfer:{}:{}", block.value(i), log.value(i)));
                    }
                }
            }
        }
    }
    keys
}

async fn deliver_until_settled(db: &Arc<Db>, key: Arc<SecretKey>, org: i64, within: Duration) -> Arc<DeliveryService> {
    let config = DeliveryConfig {
        schedule: RetrySchedule { waits: vec![Duration::from_millis(100); 4], jitter_percent: 0 },
        idle: Duration::from_millis(50),
        ..DeliveryConfig::new("test-sender")
    };
    let service = Arc::new(DeliveryService::new(db.clone(), key, config).unwrap());
    let deadline = Instant::now() + within;
    while !db.deliveries(org, Some("pending"), 1).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "deliveries still pending after {within:?}");
        if service.tick().await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    service
}

async fn alerts_arrive_once_each_signed_and_retried(db: Arc<Db>, storage: Storage, buffer: Arc<dyn Buffer>) {
    let _ = tracing_subscriber::fmt().with_env_filter("trace_control=debug,trace_worker=debug").with_test_writer().try_init();
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let secret = WebhookSecret::generate();
    let (url, seen) = receiver(WebhookSecret::parse(&secret.expose()).unwrap()).await;
    let key = Arc::new(SecretKey::generate());
    for name in ["ops", "pager"] {
        let sealed = trace_delivery::destination::seal_secret(&key, org, name, &secret).unwrap();
        let spec = DestinationSpec { name, url: &url, secret: &sealed, max_in_flight: 4, per_minute: 6000 };
        db.set_destination(org, &spec, "user:admin", now_millis()).await.unwrap();
    }
    // The audit log names the destination, never its secret.
    let audit = db.audit_tail(20).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "destination.set" && a.detail == "ops"));
    assert!(audit.iter().all(|a| !a.detail.contains(&secret.expose()) && !a.detail.contains("whsec_")));

    let yaml = pipeline(now_millis());
    let d = db.deploy(org, &trace_dag::parse("alerts.yaml", &yaml).unwrap(), &yaml, "tester", now_millis()).await.unwrap();
    let running = start_with_buffer(&db, Arc::new(InProcessQueue::default()), 2, Some(storage.clone()), buffer);
    db.trigger(d.job("blocks"), "run-1", Some((0, 1000)), "tester", now_millis()).await.unwrap();
    running.wake.notify_one();
    settle_buffered(&db, &running, org, Duration::from_secs(120)).await;
    assert!(db.failed_tasks(org, 5).await.unwrap().is_empty(), "{:?}", db.failed_tasks(org, 5).await.unwrap());

    let big = expected_keys(&db, &storage, org, BIG).await;
    let huge = expected_keys(&db, &storage, org, HUGE).await;
    assert!(!huge.is_empty() && huge.len() < big.len(), "the thresholds must split the transfers: big={} huge={}", big.len(), huge.len());
    let all = db.deliveries(org, None, 10_000).await.unwrap();

    // ops: every `big` alert, fresh, pending. pager: every critical (`huge`)
    // alert, whose event time (genesis 2020) is past max_delivery_age.
    let ops: BTreeSet<String> = all.iter().filter(|x| x.destination == "ops").map(|x| x.alert_key.clone()).collect();
    assert_eq!(ops, big);
    let pager: Vec<_> = all.iter().filter(|x| x.destination == "pager").collect();
    assert_eq!(pager.iter().map(|x| x.alert_key.clone()).collect::<BTreeSet<_>>(), huge);
    assert!(pager.iter().all(|x| x.status == "suppressed" && x.reason.as_deref().is_some_and(|r| r.starts_with("stale: event_time is"))), "{pager:?}");
    assert!(all.iter().filter(|x| x.destination == "ops").all(|x| x.status == "pending"));

    // The source re-run over the same range (every task again, as after a
    // crash) writes the same alert keys: nothing new is routed.
    db.trigger(d.job("blocks"), "run-2", Some((0, 1000)), "tester", now_millis()).await.unwrap();
    running.wake.notify_one();
    settle_buffered(&db, &running, org, Duration::from_secs(120)).await;
    assert_eq!(db.deliveries(org, None, 10_000).await.unwrap().len(), all.len());

    // A new version and a rollback while deliveries are queued: they are still sent.
    let v2 = yaml.replace("max_delivery_age: 1h", "max_delivery_age: 2h");
    db.deploy(org, &trace_dag::parse("alerts.yaml", &v2).unwrap(), &v2, "tester", now_millis()).await.unwrap();
    db.rollback(org, "alerts", "tester", now_millis()).await.unwrap();
    running.stop().await;

    deliver_until_settled(&db, key, org, Duration::from_secs(60)).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.bad_signatures, 0);
    let delivered: Vec<_> = db.deliveries(org, Some("delivered"), 10_000).await.unwrap();
    assert_eq!(delivered.len(), big.len());
    // Each webhook was tried three times under one id, accepted once, and
    // its third attempt waited for Retry-After (1 s), not the 100 ms schedule.
    assert_eq!(seen.accepted.len(), big.len());
    for d in &delivered {
        let attempts = &seen.attempts[&d.webhook_id];
        assert_eq!(attempts.len(), 3, "{}", d.webhook_id);
        assert!(attempts[2] - attempts[1] >= Duration::from_millis(950), "Retry-After ignored: {:?}", attempts[2] - attempts[1]);
        let body = &seen.accepted[&d.webhook_id][0];
        assert_eq!(body["alert_key"], d.alert_key.as_str());
        assert_eq!(body["payload"]["detector"], "big");
        let (view, tried) = db.delivery(org, d.id).await.unwrap().unwrap();
        assert_eq!(view.status, "delivered");
        assert_eq!(tried.iter().map(|a| a.status_code).collect::<Vec<_>>(), vec![Some(500), Some(429), Some(200)]);
        assert_eq!(tried[1].excerpt.as_deref(), Some("slow down"));
    }
    let keys: BTreeSet<String> = seen.accepted.values().map(|b| b[0]["alert_key"].as_str().unwrap().to_owned()).collect();
    assert_eq!(keys, big);
}

/// Run one test body on SQLite with the in-process buffer, and on
/// PostgreSQL with S3 and the buffer on SQS (moto's server).
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local_sqlite_in_process_buffer() {
                let dir = tempfile::tempdir().unwrap();
                let (db, storage) = crate::support::local_and_sqlite(&dir).await;
                super::$name(db, storage, std::sync::Arc::new(trace_protocol::buffered::InProcessBuffer::default())).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3_postgres_sqs_buffer() {
                let moto = trace_testbed::moto();
                let (db, storage) = crate::support::s3_and_postgres(&moto, "trace-alerts").await;
                let config = trace_queue_sqs::SqsConfig {
                    endpoint: Some(moto.endpoint()),
                    region: "us-east-1".into(),
                    access_key_id: "test".into(),
                    secret_access_key: "test".into(),
                };
                let client = trace_queue_sqs::SqsQueue::client(&config);
                let buffer = trace_queue_sqs::SqsBuffer::new(client, "trace-alerts", std::time::Duration::from_secs(30), 100);
                super::$name(db, storage, std::sync::Arc::new(buffer)).await;
            }
        }
    };
}

on_both!(alerts_arrive_once_each_signed_and_retried);

const MISFIT: &str = r#"name: misfit
jobs:
  - name: blocks
    kind: source
    operator: op_synthetic_blocks.wasm
    config: { range_size: 1000 }
  - name: transfers
    operator: op_erc20_transfers.wasm
    inputs:
      - from: { job: blocks, output: 0 }
publish:
  - { job: transfers, output_index: 0, dataset: alerts, storage: buffered, schema: alert_events }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_do_not_fit_their_table_fail_the_task_by_name_and_a_table_keeps_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (db, storage) = support::local_and_sqlite(&dir).await;
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let d = db.deploy(org, &trace_dag::parse("misfit.yaml", MISFIT).unwrap(), MISFIT, "tester", now_millis()).await.unwrap();
    let running = support::start(&db, Arc::new(InProcessQueue::default()), 1, Some(storage));
    db.trigger(d.job("blocks"), "r", Some((0, 1000)), "tester", now_millis()).await.unwrap();
    running.wake.notify_one();
    settle_buffered(&db, &running, org, Duration::from_secs(60)).await;
    running.stop().await;
    let failed = db.failed_tasks(org, 5).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].job_name, "transfers");
    assert_eq!(failed[0].attempts, 1, "not retryable: the same rows would fail again");
    let error = failed[0].last_error.as_deref().unwrap();
    assert!(error.contains("output 0 (a buffered dataset): the rows have column `block_number`, which the buffered dataset does not declare"), "{error}");

    // Its rows outlive versions, so a buffered dataset's table is fixed.
    let changed = MISFIT.replace("schema: alert_events", "schema: alert_deliveries");
    let err = db.deploy(org, &trace_dag::parse("misfit.yaml", &changed).unwrap(), &changed, "tester", now_millis()).await.unwrap_err();
    assert!(err.to_string().starts_with("buffered dataset \"alerts\" already exists with other columns or unique key"), "{err}");
    // Another DAG may not take its name, as Parquet or buffered.
    let other = MISFIT.replace("name: misfit", "name: other");
    let err = db.deploy(org, &trace_dag::parse("other.yaml", &other).unwrap(), &other, "tester", now_millis()).await.unwrap_err();
    assert!(err.to_string().contains("already produced by DAG \"misfit\""), "{err}");
    let parquet = other.replace(", storage: buffered, schema: alert_events", "");
    let err = db.deploy(org, &trace_dag::parse("other.yaml", &parquet).unwrap(), &parquet, "tester", now_millis()).await.unwrap_err();
    assert!(err.to_string().contains("already produced by DAG \"misfit (as a buffered dataset)\""), "{err}");
}
