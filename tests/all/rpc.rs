//! The `rpc` capability: granted to sources only, served by a host-held
//! client whose endpoint and credentials the guest never sees.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use trace_sandbox::{LimitExceeded, Limits, LoadError, RpcClient, TaskError, World};

use crate::support::*;

/// An endpoint client holding a secret, recording what the guest asked.
struct RecordingClient {
    api_key: String,
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

impl RpcClient for RecordingClient {
    fn call(&mut self, method: &str, params: &str, _deadline: Instant) -> Result<String, String> {
        assert_eq!(self.api_key, "sk-live-secret", "the key stays with the host client");
        self.calls.lock().unwrap().push((method.to_owned(), params.to_owned()));
        Ok("\"0x1234\"".to_owned())
    }
}

#[test]
fn a_source_calls_its_endpoint_through_the_host() {
    let op = runtime().load_file(trace_artifacts::RPC_PROBE.as_ref(), World::Source).unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let client = RecordingClient { api_key: "sk-live-secret".into(), calls: calls.clone() };
    let report = op.run(task(json!({ "method": "eth_blockNumber" })).with_rpc(client)).unwrap();
    assert_eq!(calls.lock().unwrap().as_slice(), &[("eth_blockNumber".to_owned(), "[]".to_owned())]);
    assert_eq!(report.events[0].cursor.as_deref(), Some("\"0x1234\""));
    assert!(!report.log.contains("sk-live"));
}

#[test]
fn a_source_without_an_endpoint_gets_a_retryable_error() {
    let op = runtime().load_file(trace_artifacts::RPC_PROBE.as_ref(), World::Source).unwrap();
    let f = op.run(task(json!({}))).unwrap_err();
    assert!(f.error.is_retryable(), "{:?}", f.error);
    assert!(f.error.to_string().contains("no rpc endpoint configured"), "{}", f.error);
}

#[test]
fn a_transform_may_not_import_rpc() {
    match runtime().load_file(trace_artifacts::RPC_PROBE.as_ref(), World::Transform) {
        Err(LoadError::ForbiddenImport { import, hint, .. }) => {
            assert_eq!(import, "trace:operator/rpc@0.1.0");
            assert!(hint.contains("only to source operators"), "{hint}");
        }
        other => panic!("expected rpc to be refused for a transform, got {:?}", other.err()),
    }
}

/// A client that takes `delay` per call, told the task's deadline.
struct SlowClient {
    delay: Duration,
    deadlines: Arc<Mutex<Vec<Instant>>>,
}

impl RpcClient for SlowClient {
    fn call(&mut self, _method: &str, _params: &str, deadline: Instant) -> Result<String, String> {
        self.deadlines.lock().unwrap().push(deadline);
        std::thread::sleep(self.delay);
        Ok("\"0x1\"".to_owned())
    }
}

#[test]
fn an_rpc_call_gets_the_tasks_deadline_and_may_not_outlive_it() {
    let op = runtime().load_file(trace_artifacts::RPC_PROBE.as_ref(), World::Source).unwrap();
    let deadlines = Arc::new(Mutex::new(Vec::new()));
    let limits = Limits::default().with_timeout(Duration::from_millis(300));
    let client = SlowClient { delay: Duration::from_millis(600), deadlines: deadlines.clone() };
    let started = Instant::now();
    let f = op.run(task(json!({})).with_rpc(client).with_limits(limits.clone())).unwrap_err();
    // The client was told when the task's time is up...
    let told = deadlines.lock().unwrap()[0];
    let after = told - started;
    assert!(after >= Duration::from_millis(300) && after < Duration::from_millis(350), "deadline {after:?} after start");
    // ...and one that ignores it still fails the task with the time limit.
    match &f.error {
        TaskError::Limit(LimitExceeded::Timeout { elapsed_ms, limit_ms: 300 }) => assert!(*elapsed_ms >= 600, "{elapsed_ms}"),
        other => panic!("expected the time limit, got {other:?}"),
    }
    assert!(f.error.is_retryable());
    // A call within the deadline is answered as usual.
    let quick = SlowClient { delay: Duration::from_millis(1), deadlines };
    let ran = op.run(task(json!({})).with_rpc(quick).with_limits(limits));
    assert!(ran.is_ok(), "{:?}", ran.err());
}
