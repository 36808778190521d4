//! Destinations and deliveries over the public API (router, no socket) on
//! SQLite and PostgreSQL: secrets are write-only, roles decide who may do
//! what, another org's delivery does not exist, and a buffered commit
//! repeated (a retried writer) adds nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use trace_api::{public_router, PublicState};
use trace_protocol::buffered::BufferedRows;
use trace_store::{now_millis, Buffered, Db, PgStore, Registry, Role, SqliteStore, Store};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const ROUTED: &str = include_str!("../../../tests/dags/routed.yaml");

struct Fixture {
    app: axum::Router,
    db: Arc<Db>,
    ann: String,
    vic: String,
    zed: String,
}

async fn fixture(db: Db) -> Fixture {
    let db = Arc::new(db);
    db.migrate().await.unwrap();
    let now = now_millis();
    let acme = db.create_org("acme", now).await.unwrap();
    let globex = db.create_org("globex", now).await.unwrap();
    let token = async |org, name: &str, role| {
        let user = db.create_user(org, name, role, "tester", now).await.unwrap();
        db.create_token(user, "t", "tester", now).await.unwrap()
    };
    let (ann, vic, zed) = (token(acme, "ann", Role::Admin).await, token(acme, "vic", Role::Viewer).await, token(globex, "zed", Role::Admin).await);
    let app = public_router(Arc::new(PublicState::new(db.clone()).with_secret_key(Some(Arc::new(trace_secrets::SecretKey::generate())))));
    Fixture { app, db, ann, vic, zed }
}

async fn call(app: &axum::Router, method: &str, uri: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let request = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}")).header("content-type", "application/json");
    let request = request.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn rows(org: i64, dataset: &str, job: i64, rows: Vec<Vec<Value>>) -> BufferedRows {
    let columns = ["alert_key", "destination", "severity", "event_time", "payload", "suppressed_reason"].map(String::from).to_vec();
    BufferedRows { org, dataset_uuid: dataset.into(), job, task: 1, output: 0, columns, rows }
}

async fn destinations_and_deliveries(db: Db) {
    let f = fixture(db).await;
    let (app, db) = (&f.app, &f.db);
    // Secrets go in and never come out.
    let body = json!({ "url": "https://hooks.example.com/a", "secret": SECRET });
    assert_eq!(call(app, "PUT", "/api/v1/destinations/ops", &f.vic, Some(body.clone())).await.0, 403);
    let (status, saved) = call(app, "PUT", "/api/v1/destinations/ops", &f.ann, Some(body)).await;
    assert_eq!((status, saved.clone()), (200, json!({ "name": "ops" })));
    let (status, generated) = call(app, "PUT", "/api/v1/destinations/pager", &f.ann, Some(json!({ "url": "http://127.0.0.1:9/x", "generate": true }))).await;
    assert_eq!(status, 200);
    let shown = generated["generated_secret"].as_str().unwrap().to_owned();
    assert!(shown.starts_with("whsec_"));
    let (status, list) = call(app, "GET", "/api/v1/destinations", &f.vic, None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let text = list.to_string();
    assert!(!text.contains(SECRET) && !text.contains(&shown) && !text.contains("whsec_"), "{text}");
    let audit = db.audit_tail(50).await.unwrap();
    assert!(audit.iter().all(|a| !a.detail.contains("whsec_")));
    // Bad input is refused, named, and stores nothing.
    let (status, bad) = call(app, "PUT", "/api/v1/destinations/ops", &f.ann, Some(json!({ "url": "ftp://x/y", "secret": SECRET }))).await;
    assert_eq!((status, bad["code"].as_str()), (400, Some("bad_request")));
    let (status, bad) = call(app, "PUT", "/api/v1/destinations/ops", &f.ann, Some(json!({ "url": "https://a.b/c", "secret": "whsec_short" }))).await;
    assert_eq!(status, 400);
    assert!(!bad["message"].as_str().unwrap().contains("short"), "the secret must not be echoed: {bad}");
    assert_eq!(call(app, "GET", "/api/v1/destinations", &f.zed, None).await.1, json!([]));

    // Deliveries, committed as the sink would: one pending, one suppressed,
    // one to a destination that does not exist (failed at once).
    let acme = db.org_id("acme").await.unwrap().unwrap();
    let deployed = db.deploy(acme, &trace_dag::parse("routed.yaml", ROUTED).unwrap(), ROUTED, "tester", now_millis()).await.unwrap();
    let dataset = db.buffered_datasets().await.unwrap().into_iter().find(|d| d.name == "deliveries").unwrap();
    let message = rows(acme, &dataset.uuid, deployed.job("route"), vec![
        vec![json!("a:1"), json!("ops"), json!("critical"), json!(now_millis()), json!("{\"v\":1}"), Value::Null],
        vec![json!("a:2"), json!("ops"), json!("info"), json!(0), Value::Null, json!("stale: too old")],
        vec![json!("a:3"), json!("nowhere"), json!("info"), json!(now_millis()), Value::Null, Value::Null],
    ]);
    let first = db.commit_buffered(&message, now_millis()).await.unwrap();
    assert_eq!((first.inserted, first.duplicates), (3, 0));
    // The same message again (a retried writer, a redelivered message): nothing new.
    let again = db.commit_buffered(&message, now_millis()).await.unwrap();
    assert_eq!((again.inserted, again.duplicates, again.tasks), (0, 3, 0));
    // Rows that do not fit the table are refused by name, nothing committed.
    let mut wrong = message.clone();
    wrong.rows[0][3] = json!("yesterday");
    let err = db.commit_buffered(&wrong, now_millis()).await.unwrap_err();
    assert!(err.to_string().ends_with("row 0: column `event_time` is int64 and got \"yesterday\""), "{err}");

    let (status, list) = call(app, "GET", "/api/v1/deliveries", &f.vic, None).await;
    assert_eq!(status, 200);
    let by_key = |key: &str| list.as_array().unwrap().iter().find(|d| d["alert_key"] == key).unwrap().clone();
    assert_eq!(by_key("a:1")["state"], "pending");
    assert_eq!((by_key("a:2")["state"].as_str(), by_key("a:2")["reason"].as_str()), (Some("suppressed"), Some("stale: too old")));
    assert_eq!((by_key("a:3")["state"].as_str(), by_key("a:3")["reason"].as_str()), (Some("failed"), Some("no such destination: nowhere")));
    let (_, failed) = call(app, "GET", "/api/v1/deliveries?state=failed", &f.vic, None).await;
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(call(app, "GET", "/api/v1/deliveries?state=lost", &f.vic, None).await.0, 400);
    assert_eq!(call(app, "GET", "/api/v1/deliveries?limit=100000", &f.vic, None).await.0, 400);
    let failed_id = by_key("a:3")["id"].as_i64().unwrap();
    let pending_id = by_key("a:1")["id"].as_i64().unwrap();
    // Another org's delivery answers exactly like a missing one.
    let (status, theirs) = call(app, "GET", &format!("/api/v1/deliveries/{failed_id}"), &f.zed, None).await;
    let (status_missing, missing) = call(app, "GET", "/api/v1/deliveries/999999", &f.zed, None).await;
    assert_eq!((status, status_missing), (404, 404));
    assert_eq!(theirs["message"].as_str().unwrap().replace(&failed_id.to_string(), "N"), missing["message"].as_str().unwrap().replace("999999", "N"));
    assert_eq!(call(app, "POST", &format!("/api/v1/deliveries/{failed_id}/retry"), &f.zed, None).await.0, 404);
    // Retry: a developer's call, only for a failed delivery.
    assert_eq!(call(app, "POST", &format!("/api/v1/deliveries/{failed_id}/retry"), &f.vic, None).await.0, 403);
    let (status, refused) = call(app, "POST", &format!("/api/v1/deliveries/{pending_id}/retry"), &f.ann, None).await;
    assert_eq!((status, refused["message"].as_str()), (409, Some(format!("delivery {pending_id} is pending; only a failed delivery can be retried").as_str())));
    assert_eq!(call(app, "POST", &format!("/api/v1/deliveries/{failed_id}/retry"), &f.ann, None).await.0, 200);
    let (status, detail) = call(app, "GET", &format!("/api/v1/deliveries/{failed_id}"), &f.vic, None).await;
    assert_eq!((status, detail["state"].as_str(), detail["attempts"].as_array().map(Vec::len)), (200, Some("pending"), Some(0)));
    assert!(db.audit_tail(5).await.unwrap().iter().any(|a| a.action == "delivery.retry" && a.actor == "user:ann"));
    // Removing a destination: admin only; a missing one is not_found.
    assert_eq!(call(app, "DELETE", "/api/v1/destinations/pager", &f.vic, None).await.0, 403);
    assert_eq!(call(app, "DELETE", "/api/v1/destinations/pager", &f.ann, None).await.0, 200);
    assert_eq!(call(app, "DELETE", "/api/v1/destinations/pager", &f.ann, None).await.0, 404);
}

#[tokio::test]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    destinations_and_deliveries(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap())).await;
}

#[tokio::test]
async fn on_postgres() {
    destinations_and_deliveries(Db::Postgres(PgStore::connect(&trace_testbed::database(), 4).await.unwrap())).await;
}
