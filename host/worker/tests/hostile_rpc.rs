//! A hostile source and its slot's RPC key. The key is rendered into the
//! URL and a header by the host-held client; the operator tries its
//! environment, files, a method that echoes the request, errors that quote
//! it, malformed and disallowed calls, and finally scans its whole linear
//! memory for the key (by fingerprint). It must find nothing, while a
//! canary from its config, fingerprinted the same way, is found.


use axum::http::{HeaderMap, Uri};
use serde_json::{json, Value};
use trace_core::{InputEvent, TaskContext};
use trace_protocol::rpc::{RpcSettings, SlotGrant};
use trace_sandbox::{Runtime, RuntimeConfig, Task, World};

const KEY: &str = "sk-live-7f3a9c2e11d04b8aa5e0";

fn fnv1a(bytes: &[u8]) -> String {
    format!("{:x}", bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)))
}

/// An endpoint that answers `trace_echo` with the request's credentials and
/// `trace_error_echo` with an error quoting them (a careless provider).
async fn echoing_endpoint() -> String {
    let app = axum::Router::new().fallback(|uri: Uri, headers: HeaderMap, body: axum::body::Bytes| async move {
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let reply = |call: &Value| {
            let id = call["id"].clone();
            match call["method"].as_str() {
                Some("trace_echo") => json!({ "jsonrpc": "2.0", "id": id, "result": { "authorization": auth, "uri": uri.to_string() } }),
                _ => json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32000, "message": format!("invalid key {auth} at {uri}") } }),
            }
        };
        let answer = match &request {
            Value::Array(calls) => Value::Array(calls.iter().map(reply).collect()),
            call => reply(call),
        };
        axum::Json(answer)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_source_never_sees_its_slots_key() {
    let base = echoing_endpoint().await;
    let settings = RpcSettings {
        url: "${RPC_URL}/v2/${RPC_KEY}".into(),
        headers: [("Authorization".to_owned(), "Bearer ${RPC_KEY}".to_owned())].into(),
        methods: vec!["trace_echo".into(), "trace_error_echo".into(), "eth_blockNumber".into()],
        ..RpcSettings::default()
    };
    let grant = SlotGrant { slot: Some(0), env: [("RPC_URL".to_owned(), base)].into(), secrets: [("RPC_KEY".to_owned(), KEY.to_owned())].into() };
    let rpc = trace_rpc::HttpRpc::new(&settings, &grant, trace_rpc::http_client().unwrap()).unwrap();
    let client = trace_worker::rpc::SandboxRpc::new(rpc);

    let canary = "canary-the-scan-must-find-this-4d1e";
    let config = json!({
        "canary": canary,
        "canary_fingerprint": { "len": canary.len(), "fnv1a": fnv1a(canary.as_bytes()) },
        "key": { "len": KEY.len(), "fnv1a": fnv1a(KEY.as_bytes()) },
    });
    let context = TaskContext { task_id: "1".into(), attempt: 1, job: "hostile".into(), org: "1".into(), config };
    let event = InputEvent { input: 0, partition_key: String::new(), range: None, cursor: None };
    let report = tokio::task::spawn_blocking(move || {
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let op = runtime.load_file(trace_artifacts::HOSTILE_RPC.as_ref(), World::Source).unwrap();
        op.run(Task::new(context, event).with_rpc(client)).unwrap()
    })
    .await
    .unwrap();
    let found: Value = serde_json::from_str(report.events[0].cursor.as_deref().unwrap()).unwrap();
    let text = found.to_string();

    assert_eq!(found["canary_in_memory"], true, "the scan finds what is in memory: {text}");
    assert_eq!(found["key_in_memory"], false, "the key never reaches guest memory: {text}");
    assert!(!text.contains(KEY) && !text.contains("sk-live"), "{text}");
    assert!(!report.log.contains(KEY));
    assert_eq!(found["env"], json!([]), "no environment");
    assert_eq!(found["files"], json!([]), "no files");
    // The echo reached the endpoint with the key, and came back without it.
    let echo = found["echo"].as_str().unwrap();
    assert!(echo.starts_with("ok: ") && echo.contains("Bearer [redacted]") && echo.contains("/v2/[redacted]"), "{echo}");
    let error_echo = found["error_echo"].as_str().unwrap();
    assert!(error_echo.starts_with("err: rpc trace_error_echo: error -32000: invalid key Bearer [redacted]"), "{error_echo}");
    assert!(found["not_json"].as_str().unwrap().contains("params are not JSON"), "{text}");
    assert!(found["bad_method"].as_str().unwrap().contains("is not a method name"), "{text}");
    assert!(found["not_allowed"].as_str().unwrap().contains("eth_sendTransaction is not in this job's rpc.methods"), "{text}");
    assert!(found["batch"].as_str().unwrap().contains("[redacted]"), "{text}");
}
