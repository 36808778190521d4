//! Alerts on the distributed pieces: `trace server` (PostgreSQL, buffered
//! rows through SQS on moto), `trace worker`s reaching it over HTTP only
//! (their detectors hand rows over `/internal/buffer-rows`, the router reads
//! them over `/internal/buffered-read`), and a `trace delivery` process
//! sending to a receiver on 127.0.0.1; the destination is set and the
//! deliveries read through the public API.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use support::*;

/// Accepted webhook ids and bodies; signatures checked with `secret`.
async fn receiver(secret: &str) -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let secret = Arc::new(trace_delivery::WebhookSecret::parse(secret).unwrap());
    let state = (accepted.clone(), secret);
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|axum::extract::State((accepted, secret)): axum::extract::State<(Arc<Mutex<Vec<(String, Value)>>>, Arc<trace_delivery::WebhookSecret>)>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
                if !secret.verify(&h("webhook-id"), h("webhook-timestamp").parse().unwrap_or(0), &body, &h("webhook-signature"), now) {
                    return StatusCode::UNAUTHORIZED;
                }
                accepted.lock().unwrap().push((h("webhook-id"), serde_json::from_slice(&body).unwrap()));
                StatusCode::OK
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_flow_through_server_workers_sqs_and_a_delivery_process() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let moto = trace_testbed::moto();
    let mut env = cluster_env(trace_testbed::database(), "acme", "alerts-test", &moto);
    env.extend([
        ("TRACE_SECRET_KEY", trace_secrets::SecretKey::generate().to_base64()),
    ]);
    make_bucket(&moto, "trace-alerts").await;
    run_ok(&["user", "add", "root", "--role", "admin"], &env, &cache);
    let root = run_ok(&["token", "create", "root"], &env, &cache).trim().to_owned();

    // The server sends no webhooks itself: a delivery process does.
    let mut server_cmd = trace_cmd(&["server", "--listen", "127.0.0.1:0", "--no-delivery"], &env, &cache);
    let mut server = server_cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take().unwrap()), &mut line).unwrap();
    let _server = Proc(server);
    let base = line.trim().rsplit(' ').next().unwrap().to_owned();
    let http = reqwest::Client::new();

    let (status, saved) = {
        let r = http.put(format!("{base}/api/v1/destinations/ops")).bearer_auth(&root).json(&json!({ "url": "http://127.0.0.1:1/placeholder", "generate": true })).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{saved}");
    let secret = saved["generated_secret"].as_str().unwrap().to_owned();
    let (url, accepted) = receiver(&secret).await;
    // The same destination, now at the receiver, keeping its secret (given back as set).
    let r = http.put(format!("{base}/api/v1/destinations/ops")).bearer_auth(&root).json(&json!({ "url": url, "secret": secret })).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http.put(format!("{base}/api/v1/destinations/pager")).bearer_auth(&root).json(&json!({ "url": url, "secret": secret })).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/dags/alerts.yaml")).unwrap();
    let r = http.post(format!("{base}/api/v1/dags")).bearer_auth(&root).body(yaml).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let worker_args = ["worker", "--server", &base, "--operators", operators().to_str().unwrap(), "--concurrency", "2", "--storage", "s3://trace-alerts"];
    let _workers: Vec<Proc> = (0..2).map(|_| Proc(trace_cmd(&worker_args, &env, &cache).stdout(std::process::Stdio::null()).spawn().unwrap())).collect();
    let _delivery = Proc(trace_cmd(&["delivery", "--name", "sender-1"], &env, &cache).stdout(std::process::Stdio::null()).spawn().unwrap());
    let r = http.post(format!("{base}/api/v1/dags/erc20_alerts/jobs/blocks/trigger")).bearer_auth(&root).json(&json!({ "run_id": "r1", "start": 0, "end": 3000 })).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // Every routed alert is delivered once the pipeline and the buffer settle.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (delivered, tasks) = loop {
        let tasks: Value = http.get(format!("{base}/api/v1/tasks?limit=1000")).bearer_auth(&root).send().await.unwrap().json().await.unwrap();
        let tasks = tasks.as_array().unwrap().clone();
        assert!(tasks.iter().all(|t| t["status"] != "failed"), "{tasks:?}");
        let all: Value = http.get(format!("{base}/api/v1/deliveries?limit=1000")).bearer_auth(&root).send().await.unwrap().json().await.unwrap();
        let all = all.as_array().unwrap().clone();
        let settled = !all.is_empty() && all.iter().all(|d| d["state"] == "delivered") && tasks.iter().all(|t| t["status"] == "completed");
        // Three detector commits (one per 1,000-block file) route three times.
        if settled && tasks.iter().filter(|t| t["job"] == "route").count() >= 3 {
            break (all, tasks);
        }
        assert!(Instant::now() < deadline, "alerts did not settle: {all:?} {tasks:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted = accepted.lock().unwrap();
    let ids: BTreeSet<&str> = delivered.iter().map(|d| d["webhook_id"].as_str().unwrap()).collect();
    assert_eq!(accepted.iter().map(|(id, _)| id.as_str()).collect::<BTreeSet<_>>(), ids);
    assert_eq!(accepted.len(), ids.len(), "nothing failed, so nothing was sent twice");
    assert!(delivered.iter().any(|d| d["destination"] == "pager"));
    assert!(tasks.iter().any(|t| t["job"] == "large") && tasks.iter().any(|t| t["job"] == "whale"));
    let first = delivered[0]["id"].as_i64().unwrap();
    let detail: Value = http.get(format!("{base}/api/v1/deliveries/{first}")).bearer_auth(&root).send().await.unwrap().json().await.unwrap();
    assert_eq!(detail["attempts"][0]["status_code"], 200);
    assert_eq!(detail["attempts"][0]["sender"], "sender-1");
}
