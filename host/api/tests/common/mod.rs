//! What the public API's tests share: a real SQLite system database with
//! two orgs, a token per role, and a call through the router (no socket).
#![allow(dead_code, reason = "each test file uses part of it")]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use trace_api::{public_router, PublicState};
use trace_store::{now_millis, Db, Registry, Role, SqliteStore, Store};

pub const DAG: &str = "name: pipe\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\n";

pub struct Fixture {
    pub app: axum::Router,
    pub db: Arc<Db>,
    pub admin: String,
    pub dev: String,
    pub viewer: String,
    pub outsider: String,
    pub dir: tempfile::TempDir,
}

pub async fn fixture() -> Fixture {
    fixture_with(|s| s).await
}

/// The fixture, its router's state first passed through `state`.
pub async fn fixture_with(state: impl FnOnce(PublicState) -> PublicState) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let now = now_millis();
    let acme = db.create_org("acme", now).await.unwrap();
    let globex = db.create_org("globex", now).await.unwrap();
    let token = async |org, name: &str, role| {
        let user = db.create_user(org, name, role, "tester", now).await.unwrap();
        db.create_token(user, "t", "tester", now).await.unwrap()
    };
    let (admin, dev, viewer, outsider) = (
        token(acme, "ann", Role::Admin).await,
        token(acme, "dan", Role::Developer).await,
        token(acme, "vic", Role::Viewer).await,
        token(globex, "zed", Role::Admin).await,
    );
    Fixture { app: public_router(Arc::new(state(PublicState::new(db.clone())))), db, admin, dev, viewer, outsider, dir }
}

pub async fn call(f: &Fixture, method: &str, uri: &str, token: &str, body: Option<String>) -> (u16, Value) {
    let (status, _, body) = call_raw(f, method, uri, token, body).await;
    (status, body)
}

/// A call's status, `content-type` and JSON body (`null` if not JSON).
pub async fn call_raw(f: &Fixture, method: &str, uri: &str, token: &str, body: Option<String>) -> (u16, String, Value) {
    let req = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b)).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let res = f.app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let kind = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, kind, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

