//! The Delivery Service's loop on a system database (SQLite) against
//! receivers on 127.0.0.1: per-destination limits hold (in flight and per
//! minute), a receiver that never accepts ends `failed` after the last
//! attempt with the reason, and each way an attempt can go wrong is
//! recorded by name.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};
use trace_delivery::{DeliveryConfig, DeliveryService, RetrySchedule, WebhookSecret};
use trace_secrets::SecretKey;
use trace_protocol::buffered::BufferedRows;
use trace_store::{now_millis, Buffered, Db, Deliveries, DestinationSpec, SqliteStore, Store};

const ROUTED: &str = include_str!("../../../tests/dags/routed.yaml");

#[derive(Default)]
struct Load {
    in_flight: usize,
    most: usize,
    starts: Vec<Instant>,
}

/// `/slow` holds each request 150 ms and records concurrency; `/fail`
/// answers 500; `/hang` answers after 3 s.
async fn receiver() -> (String, Arc<Mutex<Load>>) {
    let load = Arc::new(Mutex::new(Load::default()));
    let app = axum::Router::new()
        .route(
            "/slow",
            axum::routing::post(|axum::extract::State(load): axum::extract::State<Arc<Mutex<Load>>>| async move {
                {
                    let mut l = load.lock().unwrap();
                    l.in_flight += 1;
                    l.most = l.most.max(l.in_flight);
                    l.starts.push(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
                load.lock().unwrap().in_flight -= 1;
                StatusCode::OK
            }),
        )
        .route("/fail", axum::routing::post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken for good") }))
        .route(
            "/hang",
            axum::routing::post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                StatusCode::OK
            }),
        )
        .with_state(load.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, load)
}

async fn setup(dir: &tempfile::TempDir, destinations: &[(&str, String, u32, u32)], per_destination: usize) -> (Arc<Db>, i64, Arc<SecretKey>) {
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let (key, secret) = (Arc::new(SecretKey::generate()), WebhookSecret::generate());
    for (name, url, in_flight, per_minute) in destinations {
        let sealed = trace_delivery::destination::seal_secret(&key, org, name, &secret).unwrap();
        let spec = DestinationSpec { name, url, secret: &sealed, max_in_flight: *in_flight, per_minute: *per_minute };
        db.set_destination(org, &spec, "tester", now_millis()).await.unwrap();
    }
    let deployed = db.deploy(org, &trace_dag::parse("routed.yaml", ROUTED).unwrap(), ROUTED, "tester", now_millis()).await.unwrap();
    let dataset = db.buffered_datasets().await.unwrap().remove(0);
    let columns = ["alert_key", "destination", "severity", "event_time", "payload", "suppressed_reason"].map(String::from).to_vec();
    let mut rows = Vec::new();
    for (name, ..) in destinations {
        for i in 0..per_destination {
            rows.push(vec![json!(format!("a:{i}")), json!(name), json!("info"), json!(now_millis()), Value::Null, Value::Null]);
        }
    }
    let message = BufferedRows { org, dataset_uuid: dataset.uuid, job: deployed.job("route"), task: 1, output: 0, columns, rows };
    db.commit_buffered(&message, now_millis()).await.unwrap();
    (db, org, key)
}

async fn run_until_settled(service: &Arc<DeliveryService>, db: &Db, org: i64, within: Duration) {
    let deadline = Instant::now() + within;
    while !db.deliveries(org, Some("pending"), 1).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "still pending: {:?}", db.delivery_counts(org).await.unwrap());
        if service.tick().await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_gets_at_most_its_in_flight_and_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let (base, load) = receiver().await;
    // 2 at once, 600 a minute: at least 100 ms between starts.
    let (db, org, key) = setup(&dir, &[("slow", format!("{base}/slow"), 2, 600)], 8).await;
    let service = Arc::new(DeliveryService::new(db.clone(), key, DeliveryConfig::new("limits")).unwrap());
    run_until_settled(&service, &db, org, Duration::from_secs(20)).await;
    assert_eq!(db.delivery_counts(org).await.unwrap(), vec![("delivered".to_owned(), 8)]);
    let load = load.lock().unwrap();
    assert_eq!(load.most, 2, "in flight never above the destination's limit, and used");
    // The sender starts one every 100 ms; the receiver sees each start
    // late by some delay of its own (loopback, scheduling on a busy
    // machine), so one gap may look shorter when the start before it was
    // late. What holds at the receiver: any k starts span at least
    // (k - 1) x 100 ms, less the largest such delay (allowed: 15 ms).
    let starts = &load.starts;
    for i in 0..starts.len() {
        for j in i + 1..starts.len() {
            let paced = Duration::from_millis(100) * (j - i) as u32;
            assert!(starts[j] - starts[i] + Duration::from_millis(15) >= paced, "starts {i}..{j} span {:?} < {paced:?}: {starts:?}", starts[j] - starts[i]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_accepts_ends_failed_with_every_attempt_on_record() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = receiver().await;
    // A port nobody listens on: a connection error, not an answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let destinations = [
        ("fail", format!("{base}/fail"), 4, 6000),
        ("hang", format!("{base}/hang"), 4, 6000),
        ("nobody", format!("http://{closed}/x"), 4, 6000),
    ];
    let (db, org, key) = setup(&dir, &destinations, 1).await;
    let config = DeliveryConfig {
        timeout: Duration::from_millis(500),
        lease: Duration::from_secs(5),
        schedule: RetrySchedule { waits: vec![Duration::from_millis(50), Duration::from_millis(50)], jitter_percent: 0 },
        ..DeliveryConfig::new("giving-up")
    };
    let service = Arc::new(DeliveryService::new(db.clone(), key, config).unwrap());
    run_until_settled(&service, &db, org, Duration::from_secs(30)).await;
    for d in db.deliveries(org, None, 10).await.unwrap() {
        assert_eq!(d.status, "failed", "{d:?}");
        let (_, attempts) = db.delivery(org, d.id).await.unwrap().unwrap();
        assert_eq!(attempts.len(), 3, "the first attempt and both retries: {attempts:?}");
        let (outcome, reason) = match d.destination.as_str() {
            "fail" => ("http_error", "gave up after 3 attempt(s); the last answered HTTP 500"),
            "hang" => ("timeout", "gave up after 3 attempt(s); the last timed out"),
            _ => ("connection", "gave up after 3 attempt(s); the last could not connect"),
        };
        assert!(attempts.iter().all(|a| a.outcome == outcome && a.sender == "giving-up"), "{attempts:?}");
        assert_eq!(d.reason.as_deref(), Some(reason));
        if d.destination == "fail" {
            assert_eq!(attempts[0].excerpt.as_deref(), Some("broken for good"));
            assert_eq!(attempts[0].status_code, Some(500));
        }
    }
    // A retry by hand starts a fresh schedule: three more attempts.
    let failed = db.deliveries(org, Some("failed"), 10).await.unwrap();
    let fail = failed.iter().find(|d| d.destination == "fail").unwrap();
    db.retry_delivery(org, fail.id, "tester", now_millis()).await.unwrap();
    run_until_settled(&service, &db, org, Duration::from_secs(30)).await;
    let (view, attempts) = db.delivery(org, fail.id).await.unwrap().unwrap();
    assert_eq!((view.status.as_str(), attempts.len()), ("failed", 6));
    assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6]);
}
