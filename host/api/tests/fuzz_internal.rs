//! The internal API's bodies come from workers, which run next to hostile
//! operator code: generated JSON (any shape; near-valid shapes with wrong
//! types, huge numbers and huge strings; half the time naming a real
//! running attempt with its credential, so the handlers past the gate are
//! reached) and arbitrary bytes, to every internal route, never get a 5xx
//! or a panic: each is done or refused with a problem+json naming why.
//! A fixed number of cases, so CI time is bounded.

mod generated;
mod internal_app;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;
use internal_app::{internal_app, InternalApp, WORKER_TOKEN};
use trace_store::{now_millis, Store};

const DAG: &str = "name: pipe\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\n    scaling: { max_concurrency: 10000 }\n  - name: sink\n    operator: sink.wasm\n    inputs:\n      - from: { job: src, output: 0 }\n";
const ROUTES: [&str; 5] = ["/internal/events", "/internal/task-complete", "/internal/buffer-rows", "/internal/buffered-read", "/internal/slot-grant"];

/// The app, and how many runs the cases have triggered on it.
struct Fixture {
    internal: InternalApp,
    runs: std::cell::Cell<u64>,
}

async fn fixture() -> Fixture {
    Fixture { internal: internal_app(DAG).await, runs: std::cell::Cell::new(0) }
}

/// Fields the internal routes read.
const KEYS: &[&str] = &[
    "task_id", "attempt", "events", "status", "retryable", "error", "final_events", "state_writes", "partitions", "usage", "log",
    "output", "rows", "input", "range", "start", "end", "partition_key", "cursor", "object_key", "staging_key",
];

/// A running attempt of a fresh run: (task, attempt, credential).
async fn running(f: &Fixture) -> (i64, i32, String) {
    f.runs.set(f.runs.get() + 1);
    let start = f.runs.get() * 10;
    f.internal.db.trigger(f.internal.deployed.job("src"), &format!("r{start}"), Some((start, start + 10)), "tester", now_millis()).await.unwrap();
    // The newest run's task (or, claimed first, a task its predecessors'
    // completions started downstream: any running attempt will do).
    let c = f.internal.db.claim(1, now_millis()).await.unwrap().pop().expect("a task to claim");
    (c.task, c.attempt, c.credential)
}

async fn check(f: &Fixture, route: usize, body: Vec<u8>, aim: bool) {
    let (task, attempt, credential) = running(f).await;
    // Half the cases name the real attempt, so the gate lets them through.
    let body = match (aim, serde_json::from_slice::<Value>(&body)) {
        (true, Ok(Value::Object(mut m))) => {
            m.insert("task_id".into(), json!(task));
            m.insert("attempt".into(), json!(attempt));
            serde_json::to_vec(&Value::Object(m)).unwrap()
        }
        _ => body,
    };
    let uri = ROUTES[route % ROUTES.len()];
    let req = Request::builder().method("POST").uri(uri).header("authorization", format!("Bearer {credential}")).header("content-type", "application/json");
    let res = f.internal.app.clone().oneshot(req.body(Body::from(body.clone())).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let kind = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let answer: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap_or(Value::Null);
    let shown: String = String::from_utf8_lossy(&body).chars().take(300).collect();
    // This fixture has no secret key: a slot grant says so (a deployment's setting).
    let unserved = uri == "/internal/slot-grant" && status == 503;
    assert!(status < 500 || unserved, "POST {uri} answered {status} {answer} to {shown}");
    if status >= 400 {
        assert_eq!(kind, "application/problem+json", "POST {uri} {status}: {answer}");
        assert!(answer["code"].is_string() && answer["detail"].is_string(), "POST {uri}: {answer}");
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    static FIXTURE: Fixture = RUNTIME.with(|r| r.block_on(fixture()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_json_to_internal_routes_is_done_or_refused_never_a_5xx(route in 0..ROUTES.len(), body in generated::json_value(KEYS), aim in any::<bool>()) {
        RUNTIME.with(|r| FIXTURE.with(|f| r.block_on(check(f, route, serde_json::to_vec(&body).unwrap(), aim))));
    }

    #[test]
    fn arbitrary_bytes_to_internal_routes_are_refused_never_a_5xx(route in 0..ROUTES.len(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        RUNTIME.with(|r| FIXTURE.with(|f| r.block_on(check(f, route, body, false))));
    }
}

/// `task-fetch`'s query string: any task id, `take` any text.
#[test]
fn task_fetch_query_strings_are_refused_never_a_5xx() {
    RUNTIME.with(|r| {
        FIXTURE.with(|f| {
            for q in ["", "task_id=", "task_id=-1", "task_id=99999999999999999999", "task_id=1&take=maybe", "task_id=1&take=true&take=false", "task_id=%00", "task_id=1e3"] {
                let req = Request::builder().method("GET").uri(format!("/internal/task-fetch?{q}")).header("authorization", format!("Bearer {WORKER_TOKEN}"));
                let status = r.block_on(f.internal.app.clone().oneshot(req.body(Body::empty()).unwrap())).unwrap().status().as_u16();
                assert!(status < 500, "task-fetch?{q} answered {status}");
            }
        })
    });
}
