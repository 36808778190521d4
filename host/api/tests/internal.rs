//! The internal API, driven through its router (no socket) on a real SQLite
//! system database.

mod internal_app;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use internal_app::{internal_app, InternalApp as Fixture};
use trace_api::{internal_router, InternalState};
use trace_store::{now_millis, Claim, Db, SqliteStore, Store};

const DAG: &str = r#"name: pipe
jobs:
  - name: src
    kind: source
    operator: src.wasm
    max_attempts: 2
    timeout: 10s
  - name: sink
    operator: sink.wasm
    inputs:
      - from: { job: src, output: 0 }
"#;

async fn fixture() -> Fixture {
    internal_app(DAG).await
}

async fn call(app: &axum::Router, method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn running(f: &Fixture, run: &str) -> Claim {
    f.db.trigger(f.deployed.job("src"), run, Some((0, 100)), "tester", now_millis()).await.unwrap();
    f.db.claim(1, now_millis()).await.unwrap().pop().unwrap()
}

#[tokio::test]
async fn fetch_needs_the_worker_token_and_hands_out_the_attempt() {
    let f = fixture().await;
    let c = running(&f, "r1").await;
    let uri = format!("/internal/task-fetch?task_id={}", c.task);
    let (status, body) = call(&f.app, "GET", &uri, None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (status, _) = call(&f.app, "GET", &uri, Some("guess"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&f.app, "GET", &uri, Some("worker-secret"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "Running");
    assert_eq!(body["attempt"], 1);
    assert_eq!(body["attempt_credential"], c.credential.as_str());
    assert_eq!(body["event"]["start"], 0);
    let (status, body) = call(&f.app, "GET", "/internal/task-fetch?task_id=424242", Some("worker-secret"), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

/// A queue message delivered twice: the first worker to take the running
/// attempt gets it, the second is told so (and drops its copy), and the
/// attempt shows the duplicate. A plain fetch (a worker checking on its own
/// report) takes nothing.
#[tokio::test]
async fn a_running_attempt_is_taken_once() {
    let f = fixture().await;
    let c = running(&f, "r1").await;
    let take = format!("/internal/task-fetch?task_id={}&take=true", c.task);
    let (status, _) = call(&f.app, "GET", &format!("/internal/task-fetch?task_id={}", c.task), Some("worker-secret"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&f.app, "GET", &take, Some("worker-secret"), None).await;
    assert_eq!((status, body["attempt_credential"].as_str()), (StatusCode::OK, Some(c.credential.as_str())));
    for seen in 1..=2 {
        let (status, body) = call(&f.app, "GET", &take, Some("worker-secret"), None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("already_taken")), "{body}");
        assert!(body["message"].as_str().unwrap().contains(&format!("task {} attempt 1 was already taken by another worker", c.task)), "{body}");
        let attempts = f.db.attempts(c.task).await.unwrap();
        assert_eq!(attempts[0].duplicate_deliveries, seen);
    }
    let state = f.db.attempts(c.task).await.unwrap()[0].state(now_millis());
    assert_eq!(state, "running; 2 duplicate queue deliveries dropped");
    // The next attempt is taken afresh.
    f.db.reap(now_millis() + 3_600_000).await.unwrap();
    let retry = f.db.claim(1, now_millis() + 3_700_000).await.unwrap().pop().unwrap();
    let (status, body) = call(&f.app, "GET", &take, Some("worker-secret"), None).await;
    assert_eq!((status, body["attempt"].as_i64()), (StatusCode::OK, Some(i64::from(retry.attempt))), "{body}");
}

#[tokio::test]
async fn a_canceled_task_fetches_as_canceled() {
    let f = fixture().await;
    let c = running(&f, "r1").await;
    f.db.cancel(c.task, "tester", now_millis()).await.unwrap();
    let (_, body) = call(&f.app, "GET", &format!("/internal/task-fetch?task_id={}", c.task), Some("worker-secret"), None).await;
    assert_eq!(body["status"], "Canceled");
    let done = json!({ "task_id": c.task, "attempt": 1, "status": "canceled" });
    let (status, body) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(done)).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("canceled")));
}

#[tokio::test]
async fn events_and_completion_are_accepted_only_from_the_current_attempt() {
    let f = fixture().await;
    let first = running(&f, "r1").await;
    let ev = json!({ "task_id": first.task, "attempt": 1, "events": [{ "output": 0, "partition_key": "0_10", "start": 0, "end": 10 }] });
    let (status, body) = call(&f.app, "POST", "/internal/events", Some(&first.credential), Some(ev.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["accepted"].as_u64(), body["tasks_created"].as_u64()), (Some(1), Some(1)));
    let (_, body) = call(&f.app, "POST", "/internal/events", Some(&first.credential), Some(ev.clone())).await;
    assert_eq!(body["duplicates"], 1, "the same event twice is one event");
    let (status, _) = call(&f.app, "POST", "/internal/events", Some("not-the-credential"), Some(ev.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The attempt times out and a second attempt starts: the first is stale.
    f.db.reap(first.deadline + 1).await.unwrap();
    let claims = f.db.claim(10, first.deadline + 10_000).await.unwrap();
    let second = claims.into_iter().find(|c| c.task == first.task).expect("the retry is claimed");
    let (status, body) = call(&f.app, "POST", "/internal/events", Some(&first.credential), Some(ev)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("stale_attempt")));
    let done = json!({ "task_id": first.task, "attempt": 1, "status": "succeeded" });
    let (status, body) = call(&f.app, "POST", "/internal/task-complete", Some(&first.credential), Some(done)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("stale_attempt")));

    let done = json!({ "task_id": second.task, "attempt": 2, "status": "succeeded",
        "final_events": [{ "output": 0, "partition_key": "10_20", "start": 10, "end": 20 }],
        "state_writes": [["cursor", "0a"]] });
    let (status, body) = call(&f.app, "POST", "/internal/task-complete", Some(&second.credential), Some(done.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["status"].as_str(), body["tasks_created"].as_u64()), (Some("completed"), Some(1)));
    let (status, body) = call(&f.app, "POST", "/internal/task-complete", Some(&second.credential), Some(done)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("task_finished")));
    assert_eq!(f.db.fetch(second.task).await.unwrap().state, vec![("cursor".to_owned(), vec![10])]);
}

/// A worker's log is bounded again on arrival: a report whose log is past
/// what the server keeps (a worker that did not cut it, or lies) is stored
/// as its tail, saying how much was dropped.
#[tokio::test]
async fn a_reported_log_is_kept_to_its_bound() {
    let f = fixture().await;
    let c = running(&f, "r1").await;
    let limit = trace_protocol::contract::MAX_STORED_LOG_BYTES;
    // `é` is 2 bytes and the tail 15: the cut falls inside an `é` and moves
    // past it.
    let log = format!("{}the last line!\n", "é".repeat(limit));
    let done = json!({ "task_id": c.task, "attempt": c.attempt, "status": "succeeded", "log": log });
    let (status, body) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(done)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = f.db.attempts(c.task).await.unwrap().pop().unwrap().log.unwrap();
    let (first, rest) = stored.split_once('\n').unwrap();
    assert_eq!(rest.len(), limit - 1);
    assert!(rest.starts_with('é') && rest.ends_with("éthe last line!\n"), "the tail is kept");
    assert_eq!(first, format!("[first {} bytes of {} dropped]", log.len() - limit + 1, log.len()));
}

#[tokio::test]
async fn bad_requests_are_rejected_without_leaking_internals() {
    let f = fixture().await;
    let c = running(&f, "r1").await;
    let bad_range = json!({ "task_id": c.task, "attempt": 1, "events": [{ "output": 0, "start": 9, "end": 3 }] });
    let (status, body) = call(&f.app, "POST", "/internal/events", Some(&c.credential), Some(bad_range)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    let bad_output = json!({ "task_id": c.task, "attempt": 1, "events": [{ "output": 5 }] });
    let (status, body) = call(&f.app, "POST", "/internal/events", Some(&c.credential), Some(bad_output)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("output 5"), "{body}");
    let bad_status = json!({ "task_id": c.task, "attempt": 1, "status": "done" });
    let (status, _) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(bad_status)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unknown_field = json!({ "task_id": c.task, "attempt": 1, "status": "succeeded", "extra": 1 });
    let (status, _) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(unknown_field)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn requests_over_the_bounds_are_refused() {
    let f = fixture().await;
    let c = running(&f, "r1").await;
    let events: Vec<Value> = (0..trace_api::MAX_EVENTS_PER_REQUEST + 1).map(|i| json!({ "output": 0, "partition_key": i.to_string() })).collect();
    let body = json!({ "task_id": c.task, "attempt": 1, "events": events });
    let (status, body) = call(&f.app, "POST", "/internal/events", Some(&c.credential), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "too many events in one request: got=10001, limit=10000");

    let part = json!({ "output": 0, "version_uuid": "v", "partition_key": "k", "object_key": "o", "staging_key": "s", "rows": 1, "bytes": 1 });
    let parts = vec![part; trace_api::MAX_PARTITIONS_PER_REQUEST + 1];
    let body = json!({ "task_id": c.task, "attempt": 1, "status": "succeeded", "partitions": parts });
    let (status, body) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "too many partitions in one request: got=65, limit=64");

    let huge = json!({ "task_id": c.task, "attempt": 1, "status": "failed", "error": "x".repeat(trace_api::MAX_BODY_BYTES) });
    let (status, _) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(f.db.task(c.task).await.unwrap().status, trace_store::TaskStatus::Running, "nothing was applied");
}

const POOLED: &str = r#"name: pooled
worker_pools:
  rpc:
    slots:
      - env: { RPC_URL: "http://127.0.0.1:1" }
        secret_env: { RPC_KEY: node-key }
jobs:
  - name: src
    kind: source
    operator: src.wasm
    pool: rpc
    capabilities: [rpc]
    rpc: { headers: { Authorization: "Bearer ${RPC_KEY}" } }
"#;

/// `/internal/slot-grant`: the live attempt gets its leased slot's env and
/// opened secret, nobody else does, and without the key (or the secret)
/// the answer names what is missing, never a value.
#[tokio::test]
async fn a_slot_grant_goes_to_the_live_attempt_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let key = Arc::new(trace_secrets::SecretKey::generate());
    let value = "node-key-value-77e1";
    trace_store::Secrets::set_secret(&*db, org, "node-key", &key.seal(org, "node-key", value.as_bytes()).unwrap(), "tester", now_millis()).await.unwrap();
    let deployed = db.deploy(org, &trace_dag::parse("pooled.yaml", POOLED).unwrap(), POOLED, "tester", now_millis()).await.unwrap();
    let state = |secret_key| Arc::new(InternalState { db: db.clone(), buffer: Arc::new(trace_protocol::buffered::InProcessBuffer::default()), worker_token: "worker-secret".into(), secret_key });
    let app = internal_router(state(Some(key.clone())));
    db.trigger(deployed.job("src"), "r1", Some((0, 10)), "tester", now_millis()).await.unwrap();
    let c = db.claim(1, now_millis()).await.unwrap().pop().unwrap();
    let body = json!({ "task_id": c.task, "attempt": c.attempt });

    let (status, grant) = call(&app, "POST", "/internal/slot-grant", Some(&c.credential), Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert_eq!(grant, json!({ "slot": 0, "env": { "RPC_URL": "http://127.0.0.1:1" }, "secrets": { "RPC_KEY": value } }));
    // The payload carries the settings, not the key.
    let (_, fetched) = call(&app, "GET", &format!("/internal/task-fetch?task_id={}", c.task), Some("worker-secret"), None).await;
    assert_eq!(fetched["rpc"]["headers"]["Authorization"], "Bearer ${RPC_KEY}");
    assert!(!fetched.to_string().contains(value));

    for (token, attempt) in [("guess", c.attempt), ("worker-secret", c.attempt), (c.credential.as_str(), c.attempt + 1)] {
        let (status, answer) = call(&app, "POST", "/internal/slot-grant", Some(token), Some(json!({ "task_id": c.task, "attempt": attempt }))).await;
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::CONFLICT, "{token}: {status} {answer}");
        assert!(!answer.to_string().contains(value));
    }
    let (status, answer) = call(&internal_router(state(None)), "POST", "/internal/slot-grant", Some(&c.credential), Some(body.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer["message"].as_str().unwrap().contains("secret \"node-key\" cannot be opened: this control plane has no TRACE_SECRET_KEY"), "{answer}");
    trace_store::Secrets::delete_secret(&*db, org, "node-key", "tester", now_millis()).await.unwrap();
    let (status, answer) = call(&app, "POST", "/internal/slot-grant", Some(&c.credential), Some(body)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer["message"].as_str().unwrap().contains("secret \"node-key\" (secret_env RPC_KEY) no longer exists"), "{answer}");
    // A finished attempt gets nothing.
    let done = trace_store::Completion { usage: None, log: None, auth: trace_store::AttemptAuth { task: c.task, attempt: c.attempt, credential: c.credential.clone() }, outcome: trace_store::Outcome::Succeeded, events: vec![], state: vec![], partitions: vec![] };
    db.complete_many(&[done], now_millis()).await.unwrap();
    let (status, _) = call(&app, "POST", "/internal/slot-grant", Some(&c.credential), Some(json!({ "task_id": c.task, "attempt": c.attempt }))).await;
    assert_eq!(status, StatusCode::CONFLICT, "task_finished");
}

#[tokio::test]
async fn usage_past_its_bound_is_refused_by_name() {
    let f = fixture().await;
    let c = running(&f, "usage").await;
    let body = json!({ "task_id": c.task, "attempt": c.attempt, "status": "succeeded", "usage": {
        "wall_ms": u64::MAX, "cpu_ms": 1, "peak_memory_bytes": 1, "input_bytes": 0, "input_rows": 0, "output_bytes": 0,
        "output_rows": 0, "events": 0, "log_bytes": 0, "rpc_requests": 0, "rpc_bytes": 0 } });
    let (status, answer) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["message"], format!("usage.wall_ms is out of bounds: got={}, limit={}", u64::MAX, i64::MAX));
    let body = json!({ "task_id": c.task, "attempt": c.attempt, "status": "succeeded", "usage": { "wall_ms": 5, "surprise": 1 } });
    let (status, _) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(body)).await;
    assert!(status.is_client_error(), "unknown usage fields are refused");
    let body = json!({ "task_id": c.task, "attempt": c.attempt, "status": "succeeded", "usage": {
        "wall_ms": 5, "cpu_ms": 1, "peak_memory_bytes": 1, "input_bytes": 0, "input_rows": 0, "output_bytes": 0,
        "output_rows": 0, "events": 0, "log_bytes": 0, "rpc_requests": 0, "rpc_bytes": 0 } });
    let (status, _) = call(&f.app, "POST", "/internal/task-complete", Some(&c.credential), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let used = trace_store::UsageRecords::task_usage(&*f.db, c.task).await.unwrap();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].1.wall_ms, 5);
}
