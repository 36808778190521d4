//! Org secrets over the public API on SQLite and PostgreSQL: write-only,
//! sealed before they reach the database, admin to change, per org, and
//! required by deploys that name them.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use trace_api::{public_router, PublicState};
use trace_secrets::SecretKey;
use trace_store::{now_millis, Db, PgStore, Registry, Role, Secrets, SqliteStore, Store};

const VALUE: &str = "alchemy-key-7f3a9c1e";

const POOLED: &str = r#"name: ingest
worker_pools:
  rpc:
    slots:
      - env: { RPC_URL: "http://127.0.0.1:8545" }
        secret_env: { RPC_KEY: "rpc/key-1" }
      - env: { RPC_URL: "http://127.0.0.1:8545" }
        secret_env: { RPC_KEY: "rpc/key-2" }
jobs:
  - name: blocks
    kind: source
    operator: op_noop.wasm
    pool: rpc
"#;

async fn call(app: &axum::Router, method: &str, uri: &str, token: &str, body: Option<String>) -> (u16, Value, String) {
    let request = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}")).header("content-type", "application/json");
    let response = app.clone().oneshot(request.body(body.map_or(Body::empty(), Body::from)).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

async fn secrets_are_write_only_and_deploys_need_them(db: Db) {
    let db = Arc::new(db);
    db.migrate().await.unwrap();
    let now = now_millis();
    let acme = db.create_org("acme", now).await.unwrap();
    let globex = db.create_org("globex", now).await.unwrap();
    let token = async |org, name: &str, role| {
        let user = db.create_user(org, name, role, "tester", now).await.unwrap();
        db.create_token(user, "t", "tester", now).await.unwrap()
    };
    let (ann, dev, zed) = (token(acme, "ann", Role::Admin).await, token(acme, "dev", Role::Developer).await, token(globex, "zed", Role::Admin).await);
    let key = Arc::new(SecretKey::generate());
    let app = public_router(Arc::new(PublicState::new(db.clone()).with_secret_key(Some(key.clone()))));
    let without_key = public_router(Arc::new(PublicState::new(db.clone())));
    let put = |v: &str| Some(json!({ "value": v }).to_string());

    // A deploy naming secrets the org does not have is refused, naming them.
    let (status, body, _) = call(&app, "POST", "/api/v1/dags", &dev, Some(POOLED.into())).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("name secrets this org does not have: rpc/key-1, rpc/key-2"), "{body}");

    assert_eq!(call(&without_key, "PUT", "/api/v1/secrets/rpc%2Fkey-1", &ann, put(VALUE)).await.0, 503);
    assert_eq!(call(&app, "PUT", "/api/v1/secrets/rpc%2Fkey-1", &dev, put(VALUE)).await.0, 403);
    let (status, body, text) = call(&app, "PUT", "/api/v1/secrets/rpc%2Fkey-1", &ann, put(VALUE)).await;
    assert_eq!((status, body), (200, json!({ "name": "rpc/key-1" })), "{text}");
    assert!(!text.contains(VALUE));
    let (status, _, _) = call(&app, "PUT", "/api/v1/secrets/rpc%2Fkey-2", &ann, put("second-value")).await;
    assert_eq!(status, 200);
    // Bad names and sizes are refused without echoing the value.
    let (status, body, _) = call(&app, "PUT", "/api/v1/secrets/a%20b", &ann, put(VALUE)).await;
    assert_eq!(status, 400);
    assert!(!body.to_string().contains(VALUE));
    let huge = "x".repeat(trace_secrets::MAX_VALUE_BYTES + 1);
    let (status, body, _) = call(&app, "PUT", "/api/v1/secrets/big", &ann, put(&huge)).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().starts_with("a secret value must be 1 to 16384 bytes, got 16385"), "{body}");

    // Listed by name only; another org sees none of them.
    let (status, list, text) = call(&app, "GET", "/api/v1/secrets", &dev, None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["rpc/key-1", "rpc/key-2"]);
    assert!(!text.contains(VALUE) && !text.contains("second-value") && !text.contains("v1."), "{text}");
    assert_eq!(call(&app, "GET", "/api/v1/secrets", &zed, None).await.1, json!([]));
    assert_eq!(call(&app, "DELETE", "/api/v1/secrets/rpc%2Fkey-1", &zed, None).await.0, 404);

    // At rest: sealed, bound to its org and name, opened only with the key.
    let sealed = db.sealed_secret(acme, "rpc/key-1").await.unwrap().unwrap();
    assert!(!sealed.contains(VALUE));
    assert_eq!(key.open(acme, "rpc/key-1", &sealed).unwrap().expose_str(), Some(VALUE));
    assert!(key.open(globex, "rpc/key-1", &sealed).is_err());
    // The audit log says who set what, never the value.
    let audit = db.audit_tail(20).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "secret.set" && a.detail == "rpc/key-1" && a.actor == "user:ann"));
    assert!(audit.iter().all(|a| !a.detail.contains(VALUE) && !a.detail.contains("second-value")));

    // Now the deploy goes through.
    let (status, body, _) = call(&app, "POST", "/api/v1/dags", &dev, Some(POOLED.into())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(call(&app, "DELETE", "/api/v1/secrets/rpc%2Fkey-2", &ann, None).await.0, 200);
    let (status, body, _) = call(&app, "POST", "/api/v1/dags", &dev, Some(POOLED.into())).await;
    assert_eq!(status, 409);
    assert!(body["message"].as_str().unwrap().contains("does not have: rpc/key-2;"), "{body}");
}

#[tokio::test]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    secrets_are_write_only_and_deploys_need_them(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap())).await;
}

#[tokio::test]
async fn on_postgres() {
    secrets_are_write_only_and_deploys_need_them(Db::Postgres(PgStore::connect(&trace_testbed::database(), 4).await.unwrap())).await;
}
