//! The authorization matrix: every operation of the public API (taken from
//! its OpenAPI document, so a new route cannot be left out) × every kind of
//! caller: no token, a revoked token, a viewer, a developer and an admin of
//! the org that owns the resources, and an admin of another org. The least
//! role each operation needs is written down here, apart from the code:
//! below it the answer is 403, from it on the call is let through (whatever
//! the resource then says); without a valid token it is 401. Another org's
//! resources answer exactly as missing ones do (same status, same code),
//! so a caller cannot even learn that they exist.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{call, fixture_with, Fixture};
use serde_json::Value;
use trace_store::{now_millis, Registry, Role, Store};

const DAG: &str = "name: pipe\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\npublish:\n  - { job: src, output_index: 0, dataset: out }\n";

/// (method, path template) → the least role it needs.
fn least_roles() -> BTreeMap<(&'static str, &'static str), Role> {
    use Role::*;
    BTreeMap::from([
        (("get", "/api/v1/whoami"), Viewer),
        (("get", "/api/v1/dags"), Viewer),
        (("post", "/api/v1/dags"), Developer),
        (("post", "/api/v1/dags/{dag}/cutover"), Admin),
        (("post", "/api/v1/dags/{dag}/rollback"), Admin),
        (("post", "/api/v1/dags/{dag}/jobs/{job}/backfill"), Developer),
        (("post", "/api/v1/dags/{dag}/jobs/{job}/trigger"), Developer),
        (("get", "/api/v1/tasks"), Viewer),
        (("get", "/api/v1/tasks/{id}"), Viewer),
        (("post", "/api/v1/tasks/{id}/cancel"), Developer),
        (("get", "/api/v1/usage"), Viewer),
        (("get", "/api/v1/quota"), Viewer),
        (("get", "/api/v1/datasets"), Viewer),
        (("get", "/api/v1/datasets/{name}/partitions"), Viewer),
        (("get", "/api/v1/datasets/{name}/versions"), Viewer),
        (("delete", "/api/v1/datasets/{name}/versions/{version}"), Admin),
        (("put", "/api/v1/datasets/{name}/read_roles"), Admin),
        (("post", "/api/v1/users"), Admin),
        (("post", "/api/v1/users/{name}/tokens"), Admin),
        (("post", "/api/v1/query"), Viewer),
        (("post", "/api/v1/queries"), Viewer),
        (("get", "/api/v1/queries/{id}"), Viewer),
        (("get", "/api/v1/queries/{id}/result"), Viewer),
        (("get", "/api/v1/tables"), Viewer),
        (("get", "/api/v1/secrets"), Viewer),
        (("put", "/api/v1/secrets/{name}"), Admin),
        (("delete", "/api/v1/secrets/{name}"), Admin),
        (("get", "/api/v1/destinations"), Viewer),
        (("put", "/api/v1/destinations/{name}"), Admin),
        (("delete", "/api/v1/destinations/{name}"), Admin),
        (("get", "/api/v1/deliveries"), Viewer),
        (("get", "/api/v1/deliveries/{id}"), Viewer),
        (("post", "/api/v1/deliveries/{id}/retry"), Developer),
    ])
}

/// A valid body for the operation (so that what answers is the
/// authorization, never the body's parser).
fn body(method: &str, path: &str) -> Option<String> {
    match (method, path) {
        ("post", "/api/v1/dags") => Some(DAG.to_owned()),
        _ => outsider_body(method, path),
    }
}

/// [`body`] for the other org's admin: the same, except that a deploy
/// names its own DAG (one named like the owner's would then be theirs).
fn outsider_body(method: &str, path: &str) -> Option<String> {
    let json = match (method, path) {
        ("post", "/api/v1/dags") => return Some(DAG.replace("name: pipe", "name: theirs").replace("dataset: out", "dataset: their_out")),
        (_, p) if p.ends_with("/cutover") => r#"{"version":1}"#,
        (_, p) if p.ends_with("/backfill") => r#"{"start":0,"end":20,"chunk":10}"#,
        (_, p) if p.ends_with("/trigger") => r#"{"run_id":"matrix","start":0,"end":10}"#,
        (_, p) if p.ends_with("/read_roles") => r#"{"read_roles":["viewer"]}"#,
        ("post", "/api/v1/users") => r#"{"name":"newcomer","role":"viewer"}"#,
        (_, p) if p.ends_with("/tokens") => r#"{"label":"matrix"}"#,
        ("post", "/api/v1/query" | "/api/v1/queries") => r#"{"sql":"SELECT 1"}"#,
        ("put", p) if p.starts_with("/api/v1/secrets/") => r#"{"value":"v"}"#,
        ("put", p) if p.starts_with("/api/v1/destinations/") => r#"{"url":"http://127.0.0.1:9/hook","generate":true}"#,
        _ => return None,
    };
    Some(json.to_owned())
}

/// The path with the owning org's resources in it, or (`missing`) names
/// and ids that exist nowhere.
fn concrete(path: &str, task: i64, missing: bool) -> String {
    let (dag, job, id, name, version, user) = match missing {
        false => ("pipe", "src", task.to_string(), "out", "1", "vic"),
        true => ("nodag", "nojob", "987654".to_owned(), "nothing", "9", "nobody"),
    };
    let name = if path.starts_with("/api/v1/secrets/") { if missing { "nosecret" } else { "token" } }
        else if path.starts_with("/api/v1/destinations/") { if missing { "nodest" } else { "ops" } }
        else if path.starts_with("/api/v1/users/") { user }
        else { name };
    path.replace("{dag}", dag).replace("{job}", job).replace("{id}", &id).replace("{name}", name).replace("{version}", version)
}

async fn setup() -> (Fixture, i64, String) {
    let f = fixture_with(|s| s.with_secret_key(Some(Arc::new(trace_secrets::SecretKey::generate())))).await;
    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.dev, Some(DAG.into())).await.0, 200);
    let (status, t) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.dev, Some(r#"{"run_id":"r1","start":0,"end":10}"#.into())).await;
    assert_eq!(status, 200, "{t}");
    let task = t["tasks"][0].as_i64().unwrap_or_else(|| panic!("a task id in {t}"));
    assert_eq!(call(&f, "PUT", "/api/v1/secrets/token", &f.admin, Some(r#"{"value":"s3cret"}"#.into())).await.0, 200);
    assert_eq!(call(&f, "PUT", "/api/v1/destinations/ops", &f.admin, Some(r#"{"url":"http://127.0.0.1:9/hook","generate":true}"#.into())).await.0, 200);
    // A viewer whose tokens were revoked.
    let org = f.db.org_id("acme").await.unwrap().unwrap();
    let rex = f.db.create_user(org, "rex", Role::Viewer, "tester", now_millis()).await.unwrap();
    let revoked = f.db.create_token(rex, "t", "tester", now_millis()).await.unwrap();
    f.db.revoke_tokens(rex, "tester", now_millis()).await.unwrap();
    (f, task, revoked)
}

/// Operations that create what they name when it is missing.
const UPSERTS: [(&str, &str); 2] = [("put", "/api/v1/secrets/{name}"), ("put", "/api/v1/destinations/{name}")];

fn code(v: &Value) -> Option<&str> {
    v["code"].as_str()
}

#[tokio::test]
async fn every_operation_by_every_caller() {
    let (f, task, revoked) = setup().await;
    let doc = trace_api::openapi_document();
    let doc: Value = serde_json::to_value(&doc).unwrap();
    let roles = least_roles();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    for (method, path) in &documented {
        assert!(roles.contains_key(&(method.as_str(), path.as_str())), "{method} {path} is served but has no row in the matrix");
    }
    assert_eq!(documented.len(), roles.len(), "rows for operations the API no longer has");

    let mut cases = 0;
    for (method, path) in &documented {
        let what = format!("{method} {path}");
        let least = roles[&(method.as_str(), path.as_str())];
        let verb = method.to_uppercase();
        let own = concrete(path, task, false);
        let has_resource = path.contains('{');

        // Another org's admin: the owner's resource answers as a missing one
        // (a PUT by name makes the name in the caller's own org instead).
        if UPSERTS.contains(&(method.as_str(), path.as_str())) {
            let (status, answer) = call(&f, &verb, &own, &f.outsider, outsider_body(method, path)).await;
            assert_eq!(status, 200, "{what}: another org's admin sets the name in its own org: {answer}");
            cases += 1;
        } else if has_resource {
            let (theirs, their_body) = call(&f, &verb, &own, &f.outsider, outsider_body(method, path)).await;
            let (missing, missing_body) = call(&f, &verb, &concrete(path, task, true), &f.outsider, outsider_body(method, path)).await;
            assert_eq!((theirs, code(&their_body)), (missing, code(&missing_body)), "{what}: another org's resource vs a missing one: {their_body} / {missing_body}");
            assert_ne!(theirs / 100, 2, "{what}: another org's admin reached the resource: {their_body}");
            cases += 2;
        } else {
            let (status, answer) = call(&f, &verb, &own, &f.outsider, outsider_body(method, path)).await;
            assert_ne!((status, code(&answer)), (403, Some("forbidden")), "{what}: an admin of another org works in its own org");
            if method == "get" && status == 200 {
                let text = answer.to_string();
                for ours in ["\"pipe\"", "\"out\"", "\"token\"", "\"ops\""] {
                    assert!(!text.contains(ours), "{what}: another org's listing shows {ours}: {text}");
                }
            }
            cases += 1;
        }

        for (who, token) in [("no token", ""), ("a revoked token", revoked.as_str())] {
            let (status, answer) = call(&f, &verb, &own, token, body(method, path)).await;
            assert_eq!((status, code(&answer)), (401, Some("unauthorized")), "{what} with {who}: {answer}");
            cases += 1;
        }
        for (role, token) in [(Role::Viewer, &f.viewer), (Role::Developer, &f.dev), (Role::Admin, &f.admin)] {
            let (status, answer) = call(&f, &verb, &own, token, body(method, path)).await;
            if role < least {
                assert_eq!((status, code(&answer)), (403, Some("forbidden")), "{what} as {role:?} (needs {least:?}): {answer}");
            } else {
                assert!(status != 401 && status != 403, "{what} as {role:?} (needs {least:?}) was refused: {status} {answer}");
            }
            cases += 1;
        }
    }
    // What the other org's admin set under the owner's names is its own.
    let (_, secrets) = call(&f, "GET", "/api/v1/secrets", &f.outsider, None).await;
    assert!(secrets.to_string().contains("\"token\""), "{secrets}");
    println!("authorization matrix: {} operations, {cases} (operation, caller, org) cases", documented.len());
    assert!(cases >= documented.len() * 6);
}
