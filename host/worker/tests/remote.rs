//! The worker's HTTP client against the internal API served on a loopback
//! socket over a real SQLite system database.

use std::sync::Arc;
use std::time::Instant;

use trace_api::{internal_router, InternalState};
use trace_worker::remote::{HttpControlPlane, FIRST_BACKOFF, MAX_TRIES};
use trace_protocol::plane::{ControlPlane, PlaneError, Refusal};
use trace_store::{now_millis, Completion, Db, EmittedEvent, Outcome, SqliteStore, Store, TaskStatus};

const DAG: &str = r#"name: pipe
jobs:
  - name: src
    kind: source
    operator: src.wasm
    config: { range_size: 10 }
  - name: sink
    operator: sink.wasm
    inputs:
      - from: { job: src, output: 0 }
"#;

const TOKEN: &str = "worker-secret";

async fn serve(db: Arc<Db>) -> String {
    let app = internal_router(Arc::new(InternalState { db, buffer: Arc::new(trace_protocol::buffered::InProcessBuffer::default()), worker_token: TOKEN.into(), secret_key: None }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_and_complete_round_trip_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let d = db.deploy(org, &trace_dag::parse("pipe.yaml", DAG).unwrap(), DAG, "tester", now_millis()).await.unwrap();
    db.trigger(d.job("src"), "r1", Some((0, 20)), "tester", now_millis()).await.unwrap();
    let claim = db.claim(1, now_millis()).await.unwrap().pop().unwrap();
    let plane = HttpControlPlane::new(&serve(db.clone()).await, TOKEN).unwrap();

    // The payload survives the wire exactly.
    let fetched = plane.fetch(claim.task).await.unwrap();
    assert_eq!(fetched, db.fetch(claim.task).await.unwrap());
    assert!(matches!(plane.fetch(999).await, Err(PlaneError::NoSuchTask(999))));

    // Mid-task events: new ones count, repeats do not.
    let streamed = EmittedEvent { output: 0, partition_key: "10_20".into(), range: Some((10, 20)), cursor: None };
    assert_eq!(plane.post_events(&claim.auth(), std::slice::from_ref(&streamed)).await.unwrap(), 1);
    assert_eq!(plane.post_events(&claim.auth(), std::slice::from_ref(&streamed)).await.unwrap(), 0);
    let mut forged_auth = claim.auth();
    forged_auth.credential = "forged".into();
    let err = plane.post_events(&forged_auth, std::slice::from_ref(&streamed)).await.unwrap_err();
    assert!(matches!(err, PlaneError::Refused { reason: Refusal::Superseded, .. }), "{err:?}");

    // An event for an output the job does not have: the report is invalid.
    let bad = EmittedEvent { output: 7, partition_key: "x".into(), range: None, cursor: None };
    let completion = |events: Vec<EmittedEvent>| Completion { usage: None, log: None, auth: claim.auth(), outcome: Outcome::Succeeded, events, state: Vec::new(), partitions: Vec::new() };
    let err = plane.complete(completion(vec![bad])).await.unwrap_err();
    assert!(matches!(err, PlaneError::Refused { reason: Refusal::Invalid, .. }), "{err:?}");

    let good = EmittedEvent { output: 0, partition_key: "0_10".into(), range: Some((0, 10)), cursor: None };
    assert_eq!(plane.complete(completion(vec![good.clone()])).await.unwrap(), TaskStatus::Completed);
    assert_eq!(db.tasks_of_job(d.job("sink")).await.unwrap().len(), 2, "the streamed and the final event made a task each");
    // Reporting again: the task is finished, the report superseded.
    let err = plane.complete(completion(vec![good])).await.unwrap_err();
    assert!(matches!(err, PlaneError::Refused { reason: Refusal::Superseded, .. }), "{err:?}");
    // A wrong attempt credential is superseded too, never a crash.
    let mut forged = completion(Vec::new());
    forged.auth.credential = "forged".into();
    assert!(matches!(plane.complete(forged).await, Err(PlaneError::Refused { reason: Refusal::Superseded, .. })));

    // A wrong worker token cannot fetch.
    let intruder = HttpControlPlane::new(&serve(db.clone()).await, "guess").unwrap();
    let err = intruder.fetch(claim.task).await.unwrap_err();
    assert!(err.to_string().contains("task-fetch"), "{err}");
    assert!(format!("{:?}", err).contains("unauthorized"), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_control_plane_is_retried_then_reported() {
    // Bind and drop a listener: nothing listens on that port now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let plane = HttpControlPlane::new(&format!("http://127.0.0.1:{port}"), TOKEN).unwrap();
    let started = Instant::now();
    let err = plane.fetch(1).await.unwrap_err();
    assert!(matches!(err, PlaneError::Remote { op: "task-fetch", .. }), "{err:?}");
    // Backoff 100 + 200 + 400 + 800 ms between the MAX_TRIES attempts.
    let waited: u32 = (0..MAX_TRIES - 1).map(|i| 1 << i).sum();
    assert!(started.elapsed() >= FIRST_BACKOFF * waited, "gave up after {:?}", started.elapsed());
}
