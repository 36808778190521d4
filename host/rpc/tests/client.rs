//! The client against a scripted JSON-RPC endpoint on 127.0.0.1: retries
//! and their limits, Retry-After, refused keys, bounded responses, batches
//! split and sent in parallel within max_in_flight, pacing, the allow-list.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use trace_protocol::rpc::{RpcSettings, SlotGrant};
use trace_rpc::HttpRpc;

const KEY: &str = "key-0123456789abcdef";

/// What the endpoint answers to the n-th request (from 0).
type Script = Arc<dyn Fn(usize, &Value) -> Response + Send + Sync>;

#[derive(Default)]
struct Seen {
    at: Mutex<Vec<Instant>>,
    bodies: Mutex<Vec<Value>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

async fn endpoint(script: Script, delay: Duration) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let state = (script, seen.clone());
    let app = axum::Router::new()
        .fallback(move |axum::extract::State((script, seen)): axum::extract::State<(Script, Arc<Seen>)>, headers: HeaderMap, body: axum::body::Bytes| async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}")) {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let n = {
                let mut at = seen.at.lock().unwrap();
                at.push(Instant::now());
                at.len() - 1
            };
            let request: Value = serde_json::from_slice(&body).unwrap();
            seen.bodies.lock().unwrap().push(request.clone());
            tokio::time::sleep(delay).await;
            seen.in_flight.fetch_sub(1, Ordering::SeqCst);
            script(n, &request)
        })
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Answers every call with its own params.
fn echo(request: &Value) -> Response {
    let one = |c: &Value| json!({ "jsonrpc": "2.0", "id": c["id"], "result": c["params"] });
    match request {
        Value::Array(calls) => axum::Json(Value::Array(calls.iter().map(one).collect())).into_response(),
        call => axum::Json(one(call)).into_response(),
    }
}

fn client(url: &str, key: &str, tune: impl FnOnce(&mut RpcSettings)) -> HttpRpc {
    let mut settings = RpcSettings { headers: [("Authorization".to_owned(), "Bearer ${RPC_KEY}".to_owned())].into(), ..RpcSettings::default() };
    tune(&mut settings);
    let grant = SlotGrant { slot: Some(0), env: [("RPC_URL".to_owned(), url.to_owned())].into(), secrets: [("RPC_KEY".to_owned(), key.to_owned())].into() };
    HttpRpc::new(&settings, &grant, trace_rpc::http_client().unwrap()).unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_5xx_is_retried() {
    let script: Script = Arc::new(|n, r| match n {
        0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response(),
        1 => StatusCode::BAD_GATEWAY.into_response(),
        _ => echo(r),
    });
    let (url, seen) = endpoint(script, Duration::ZERO).await;
    let rpc = client(&url, KEY, |_| {});
    assert_eq!(rpc.call("eth_blockNumber", "[1]", soon()).await.unwrap(), "[1]");
    let at = seen.at.lock().unwrap().clone();
    assert_eq!(at.len(), 3);
    assert!(at[1] - at[0] >= Duration::from_millis(950), "Retry-After: 1 honoured: {:?}", at[1] - at[0]);
    assert_eq!(rpc.stats().retries.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_at_the_deadline() {
    let (url, seen) = endpoint(Arc::new(|_, _| StatusCode::SERVICE_UNAVAILABLE.into_response()), Duration::ZERO).await;
    let rpc = client(&url, KEY, |s| s.max_attempts = 3);
    let e = rpc.call("eth_getLogs", "[]", soon()).await.unwrap_err();
    assert_eq!(e, "rpc eth_getLogs: gave up after 3 tries: HTTP 503 Service Unavailable");
    assert_eq!(seen.at.lock().unwrap().len(), 3);

    let (url, _) = endpoint(Arc::new(|_, _| (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30")]).into_response()), Duration::ZERO).await;
    let rpc = client(&url, KEY, |_| {});
    let started = Instant::now();
    let e = rpc.call("eth_getLogs", "[]", Instant::now() + Duration::from_secs(2)).await.unwrap_err();
    assert!(e.contains("HTTP 429") && e.contains("would pass the task's time limit"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(1), "gave up at once instead of sleeping past the deadline");
}

#[tokio::test]
async fn a_refused_key_fails_at_once_and_names_the_status_not_the_key() {
    let (url, seen) = endpoint(Arc::new(|_, r| echo(r)), Duration::ZERO).await;
    let rpc = client(&url, "revoked-key-99", |_| {});
    let e = rpc.call("eth_blockNumber", "[]", soon()).await.unwrap_err();
    assert_eq!(e, "rpc eth_blockNumber: the endpoint refused the credentials of worker slot 0 (HTTP 401 Unauthorized)");
    assert!(seen.at.lock().unwrap().is_empty(), "the endpoint counts only authorized requests");
    assert_eq!(rpc.stats().requests.load(Ordering::Relaxed), 1, "not retried");
}

#[tokio::test]
async fn responses_are_bounded() {
    let big = "x".repeat(8 << 10);
    let (url, _) = endpoint(Arc::new(move |_, r| axum::Json(json!({ "jsonrpc": "2.0", "id": r["id"], "result": big })).into_response()), Duration::ZERO).await;
    let rpc = client(&url, KEY, |s| s.max_response_bytes = 4096);
    let e = rpc.call("eth_getLogs", "[]", soon()).await.unwrap_err();
    assert!(e.starts_with("rpc eth_getLogs: the response is larger than rpc.max_response_bytes: got=") && e.ends_with("limit=4096"), "{e}");
}

#[tokio::test]
async fn a_batch_is_split_and_sent_within_max_in_flight() {
    let (url, seen) = endpoint(Arc::new(|_, r| echo(r)), Duration::from_millis(100)).await;
    let rpc = client(&url, KEY, |s| {
        s.max_batch = 10;
        s.max_in_flight = 3;
    });
    let calls: Vec<(String, String)> = (0..95).map(|i| ("eth_getBlockByNumber".to_owned(), format!("[{i}]"))).collect();
    let calls: Vec<(&str, &str)> = calls.iter().map(|(m, p)| (m.as_str(), p.as_str())).collect();
    let started = Instant::now();
    let replies = rpc.call_batch(&calls, soon()).await.unwrap();
    assert_eq!(replies.len(), 95);
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r.as_deref().unwrap(), format!("[{i}]"), "in call order");
    }
    assert_eq!(seen.bodies.lock().unwrap().len(), 10, "ten requests of at most ten calls");
    assert_eq!(seen.max_in_flight.load(Ordering::SeqCst), 3);
    assert!(started.elapsed() >= Duration::from_millis(390), "four rounds of 100 ms: {:?}", started.elapsed());
    assert_eq!(rpc.stats().calls.load(Ordering::Relaxed), 95);
}

#[tokio::test]
async fn requests_are_paced_to_the_rate_limit() {
    let (url, seen) = endpoint(Arc::new(|_, r| echo(r)), Duration::ZERO).await;
    let rpc = client(&url, KEY, |s| s.requests_per_second = Some(20));
    for i in 0..6 {
        rpc.call("eth_blockNumber", &format!("[{i}]"), soon()).await.unwrap();
    }
    let at = seen.at.lock().unwrap().clone();
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(45), "50 ms apart at 20/s: {:?}", pair[1] - pair[0]);
    }
}

#[tokio::test]
async fn a_slots_pacing_holds_across_its_tasks() {
    let (url, seen) = endpoint(Arc::new(|_, r| echo(r)), Duration::ZERO).await;
    let pacers = trace_rpc::SlotPacers::default();
    // Three tasks in a row on one slot, each with a client of its own.
    for task in 0..3 {
        let rpc = client(&url, KEY, |s| s.requests_per_second = Some(20)).with_pacing(pacers.get("job7:0", Some(20)));
        for i in 0..2 {
            rpc.call("eth_blockNumber", &format!("[{task}, {i}]"), soon()).await.unwrap();
        }
    }
    let at = seen.at.lock().unwrap().clone();
    assert_eq!(at.len(), 6);
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(45), "50 ms apart, across tasks too: {:?}", pair[1] - pair[0]);
    }
    assert!(!Arc::ptr_eq(&pacers.get("job7:0", None), &pacers.get("job7:1", None)), "each slot its own");
}

#[tokio::test]
async fn the_allow_list_and_bad_params_are_refused_before_any_request() {
    let (url, seen) = endpoint(Arc::new(|_, r| echo(r)), Duration::ZERO).await;
    let rpc = client(&url, KEY, |s| s.methods = vec!["eth_getLogs".into()]);
    assert_eq!(rpc.call("eth_sendRawTransaction", "[]", soon()).await.unwrap_err(), "rpc method eth_sendRawTransaction is not in this job's rpc.methods");
    assert!(rpc.call("eth_getLogs", "{oops", soon()).await.unwrap_err().starts_with("rpc eth_getLogs: params are not JSON"));
    assert!(rpc.call("eth_getLogs", "7", soon()).await.unwrap_err().contains("must be a JSON array or object"));
    let e = rpc.call_batch(&[("eth_getLogs", "[]"), ("eth_call", "[]")], soon()).await.unwrap_err();
    assert_eq!(e, "call 1: rpc method eth_call is not in this job's rpc.methods");
    assert!(seen.at.lock().unwrap().is_empty());
}

#[tokio::test]
async fn json_rpc_errors_come_back_per_call_and_scrubbed() {
    let script: Script = Arc::new(|_, r| {
        let calls = r.as_array().unwrap();
        axum::Json(Value::Array(calls.iter().map(|c| match c["params"][0].as_u64() {
            Some(0) => json!({ "jsonrpc": "2.0", "id": c["id"], "error": { "code": -32005, "message": format!("limit exceeded for {KEY}") } }),
            _ => json!({ "jsonrpc": "2.0", "id": c["id"], "result": "0x1" }),
        }).collect())).into_response()
    });
    let (url, _) = endpoint(script, Duration::ZERO).await;
    let rpc = client(&url, KEY, |_| {});
    let replies = rpc.call_batch(&[("eth_call", "[0]"), ("eth_call", "[1]")], soon()).await.unwrap();
    assert_eq!(replies[0].as_ref().unwrap_err(), "rpc eth_call: error -32005: limit exceeded for [redacted]");
    assert_eq!(replies[1].as_deref().unwrap(), "\"0x1\"");
}

#[tokio::test]
async fn an_endpoint_that_is_down_is_named_without_its_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rpc = client(&format!("http://127.0.0.1:{port}/v2"), KEY, |s| {
        s.url = "${RPC_URL}/${RPC_KEY}".into();
        s.max_attempts = 2;
    });
    let e = rpc.call("eth_blockNumber", "[]", soon()).await.unwrap_err();
    assert_eq!(e, "rpc eth_blockNumber: gave up after 2 tries: could not connect to the endpoint");
}
