//! Request bodies are hostile: generated JSON (any shape, near-valid
//! shapes with wrong types and huge numbers) and arbitrary bytes sent to
//! every public operation that takes a body, as an admin, never get a 5xx
//! or a panic: each is done or refused with a problem+json naming why.
//! A fixed number of cases, so CI time is bounded.

mod common;
mod generated;

use std::sync::Arc;

use common::{call_raw, fixture_with, Fixture};
use proptest::prelude::*;
use serde_json::json;

/// Operations with a JSON body (path with the fixture's names filled in).
const TARGETS: [(&str, &str); 13] = [
    ("POST", "/api/v1/dags/pipe/cutover"),
    ("POST", "/api/v1/dags/pipe/jobs/src/backfill"),
    ("POST", "/api/v1/dags/pipe/jobs/src/trigger"),
    ("PUT", "/api/v1/datasets/out/read_roles"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/users/vic/tokens"),
    ("POST", "/api/v1/query"),
    ("POST", "/api/v1/queries"),
    ("PUT", "/api/v1/secrets/s"),
    ("PUT", "/api/v1/destinations/d"),
    ("POST", "/api/v1/tasks/1/cancel"),
    ("POST", "/api/v1/deliveries/1/retry"),
    ("POST", "/api/v1/dags"),
];

/// Fields the public operations read.
const KEYS: &[&str] = &[
    "version", "start", "end", "chunk", "run_id", "read_roles", "name", "role", "label", "sql", "format", "as_of", "value", "url",
    "generate", "secret", "max_in_flight",
];

async fn fixture() -> Fixture {
    let f = fixture_with(|s| s.with_secret_key(Some(Arc::new(trace_secrets::SecretKey::generate())))).await;
    let dag = "name: pipe\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\npublish:\n  - { job: src, output_index: 0, dataset: out }\n";
    assert_eq!(common::call(&f, "POST", "/api/v1/dags", &f.dev, Some(dag.into())).await.0, 200);
    f
}

fn check(f: &Fixture, runtime: &tokio::runtime::Runtime, target: usize, body: Vec<u8>) {
    let (method, uri) = TARGETS[target % TARGETS.len()];
    let sent = String::from_utf8_lossy(&body).into_owned();
    let (status, kind, answer) = runtime.block_on(call_raw(f, method, uri, &f.admin, Some(sent.clone())));
    let shown: String = sent.chars().take(300).collect();
    // This fixture's server has no Query Service: its routes say so (503
    // `unavailable`, a deployment's setting), whatever the body.
    let unserved = uri.contains("/quer") && status == 503 && answer["code"] == "unavailable";
    assert!(status < 500 || unserved, "{method} {uri} answered {status} {answer} to {shown}");
    if status >= 400 {
        assert_eq!(kind, "application/problem+json", "{method} {uri} {status}: {answer}");
        assert!(answer["code"].is_string() && answer["detail"].is_string(), "{method} {uri}: {answer}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_json_bodies_are_done_or_refused_never_a_5xx(target in 0..TARGETS.len(), body in generated::json_value(KEYS)) {
        thread_local! {
            static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            static FIXTURE: Fixture = RUNTIME.with(|r| r.block_on(fixture()));
        }
        RUNTIME.with(|r| FIXTURE.with(|f| check(f, r, target, serde_json::to_vec(&body).unwrap())));
    }

    #[test]
    fn arbitrary_bytes_are_refused_never_a_5xx(target in 0..TARGETS.len(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        thread_local! {
            static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            static FIXTURE: Fixture = RUNTIME.with(|r| r.block_on(fixture()));
        }
        RUNTIME.with(|r| FIXTURE.with(|f| check(f, r, target, body)));
    }
}

/// Crashers the generated cases found, kept as cases of their own.
#[tokio::test]
async fn found_crashers_stay_fixed() {
    let f = fixture().await;
    // A backfill chunk reaching past u64::MAX overflowed in the planner.
    let body = json!({"start": 1, "end": u64::MAX, "chunk": u64::MAX}).to_string();
    let (status, _, answer) = call_raw(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.admin, Some(body)).await;
    assert!(status < 500, "{status} {answer}");
}
