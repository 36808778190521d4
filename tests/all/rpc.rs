//! The `rpc` capability: granted to sources only, served by a host-held
//! client whose endpoint and credentials the guest never sees.

use std::sync::{Arc, Mutex};

use serde_json::json;
use trace_sandbox::{LoadError, RpcClient, World};

use crate::support::*;

/// An endpoint client holding a secret, recording what the guest asked.
struct RecordingClient {
    api_key: String,
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

impl RpcClient for RecordingClient {
    fn call(&mut self, method: &str, params: &str) -> Result<String, String> {
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
