//! Two `trace delivery` processes on one PostgreSQL, one `kill -9`ed while
//! it has webhooks in flight: its leases expire and the other sends them,
//! with the same `webhook-id` (the ones in flight at the kill arrive twice). The receiver (127.0.0.1, answering slowly)
//! checks every signature; after de-duplication by `webhook-id` it has
//! every alert exactly once, and every delivery ends `delivered`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use trace_delivery::WebhookSecret;
use trace_protocol::buffered::BufferedRows;
use trace_store::{now_millis, Buffered, Db, Deliveries, DestinationSpec, PgStore, Store};

const DELIVERIES: usize = 40;

const ROUTED: &str = include_str!("../../../tests/dags/routed.yaml");

#[derive(Default)]
struct Seen {
    /// Requests per webhook-id, as they arrived.
    requests: BTreeMap<String, usize>,
    in_flight: usize,
    bad_signatures: usize,
}

/// Checks signatures, holds each request 300 ms (so a sender can die with
/// some in flight), then accepts.
async fn receiver(secret: WebhookSecret) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = (seen.clone(), Arc::new(secret));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|axum::extract::State((seen, secret)): axum::extract::State<(Arc<Mutex<Seen>>, Arc<WebhookSecret>)>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
                if !secret.verify(&h("webhook-id"), h("webhook-timestamp").parse().unwrap_or(0), &body, &h("webhook-signature"), now) {
                    seen.lock().unwrap().bad_signatures += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                {
                    let mut s = seen.lock().unwrap();
                    s.in_flight += 1;
                    *s.requests.entry(h("webhook-id")).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                seen.lock().unwrap().in_flight -= 1;
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn sender(db: &str, key: &str, name: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["delivery", "--db", db, "--timeout-secs", "1", "--name", name])
        .env("TRACE_SECRET_KEY", key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sender_loses_no_delivery_and_none_arrives_twice_after_dedupe() {
    let url_db = trace_testbed::database();
    let db = Db::Postgres(PgStore::connect(&url_db, 4).await.unwrap());
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let secret = WebhookSecret::generate();
    let (url, seen) = receiver(WebhookSecret::parse(&secret.expose()).unwrap()).await;
    // 4 in flight and 240 a minute per sender: the run takes seconds, so
    // the kill lands in the middle of it.
    let key = trace_secrets::SecretKey::generate();
    let sealed = trace_delivery::destination::seal_secret(&key, org, "ops", &secret).unwrap();
    let spec = DestinationSpec { name: "ops", url: &url, secret: &sealed, max_in_flight: 4, per_minute: 240 };
    db.set_destination(org, &spec, "tester", now_millis()).await.unwrap();
    let deployed = db.deploy(org, &trace_dag::parse("routed.yaml", ROUTED).unwrap(), ROUTED, "tester", now_millis()).await.unwrap();
    let dataset = db.buffered_datasets().await.unwrap().into_iter().find(|d| d.org == org).unwrap();
    let columns = ["alert_key", "destination", "severity", "event_time", "payload", "suppressed_reason"].map(String::from).to_vec();
    let rows = (0..DELIVERIES).map(|i| vec![json!(format!("alert:{i}")), json!("ops"), json!("warning"), json!(now_millis()), json!({ "i": i }), Value::Null]).collect();
    let message = BufferedRows { org, dataset_uuid: dataset.uuid, job: deployed.job("route"), task: 1, output: 0, columns, rows };
    assert_eq!(db.commit_buffered(&message, now_millis()).await.unwrap().inserted, DELIVERIES as u64);

    // The doomed sender starts first and leases everything; it is killed
    // once it has delivered some and has webhooks in flight, and only then
    // does the survivor start: it must take over what the dead one leased.
    let mut doomed = sender(&url_db, &key.to_base64(), "doomed");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered = db.deliveries(org, Some("delivered"), 1000).await.unwrap().len();
        let in_flight = seen.lock().unwrap().in_flight;
        if delivered >= 2 && in_flight > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the first sender delivered nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let mut survivor = sender(&url_db, &key.to_base64(), "survivor");
    let killed_at = Instant::now();

    let deadline = Instant::now() + Duration::from_secs(60);
    while db.delivery_counts(org).await.unwrap() != vec![("delivered".to_owned(), DELIVERIES as i64)] {
        assert!(Instant::now() < deadline, "not every delivery was sent: {:?}", db.delivery_counts(org).await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    survivor.kill().unwrap();
    survivor.wait().unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.bad_signatures, 0);
    let all = db.deliveries(org, None, 1000).await.unwrap();
    let ids: BTreeSet<String> = all.iter().map(|d| d.webhook_id.clone()).collect();
    // De-duplicated by webhook-id, the receiver has each delivery exactly once.
    assert_eq!(seen.requests.keys().cloned().collect::<BTreeSet<_>>(), ids);
    let repeated: Vec<_> = seen.requests.iter().filter(|(_, n)| **n > 1).collect();
    // The survivor finished what the killed sender had leased.
    let mut by_survivor = 0;
    for d in &all {
        let (_, attempts) = db.delivery(org, d.id).await.unwrap().unwrap();
        if attempts.last().is_some_and(|a| a.sender == "survivor") {
            by_survivor += 1;
        }
    }
    assert!(by_survivor > 0 && by_survivor < DELIVERIES, "both senders worked: survivor sent {by_survivor}");
    // The webhooks in flight at the kill were sent again, same id.
    assert!(!repeated.is_empty(), "a webhook in flight at the kill is sent again");
    eprintln!(
        "{} deliveries, {} resent after the kill (same webhook-id), survivor sent {by_survivor}, settled {:?} after the kill",
        ids.len(),
        repeated.len(),
        killed_at.elapsed()
    );
}
