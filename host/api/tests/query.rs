//! The Query Service over the public API (router, no socket) on SQLite and
//! PostgreSQL: tokens and `read_roles` decide what exists, every format
//! carries the same rows, hostile SQL and every limit get their named error,
//! batch queries end as Parquet their submitter can download.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use trace_api::{public_router, PublicState};
use trace_query::arrow::array::RecordBatchReader;
use trace_query::arrow::ipc::reader::StreamReader;
use trace_query::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use trace_query::{render, Format, QueryResult, QueryService, ServiceLimits};
use trace_storage::Storage;
use trace_store::{now_millis, Db, PgStore, Quota, Quotas, Registry, Role, SqliteStore, Store};

struct Fixture {
    app: axum::Router,
    db: Arc<Db>,
    ann: String,
    vic: String,
    zed: String,
    _dir: tempfile::TempDir,
}

async fn fixture(db: Db) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
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
    let storage = Storage::local(&dir.path().join("objects")).unwrap();
    trace_query::testing::publish(&db, &storage, acme, &trace_query::testing::dag(1), "r1", &[3, 1, 4, 1, 5], now).await;
    let limits = ServiceLimits { queries_per_org: 1, ..ServiceLimits::default() };
    let service = QueryService::new(db.clone(), storage, dir.path().join("cache"), limits).unwrap();
    let app = public_router(Arc::new(PublicState::new(db.clone()).with_query(Some(Arc::new(service)))));
    Fixture { app, db, ann, vic, zed, _dir: dir }
}

struct Answer {
    status: u16,
    content_type: String,
    rows: Option<String>,
    truncated: Option<String>,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// An error answer's code and message (the rest of the problem is the
    /// same for every error; `versions.rs` checks its shape).
    fn error(&self) -> Value {
        let p = self.json();
        assert_eq!(self.content_type, "application/problem+json", "{p}");
        json!({"code": p["code"], "message": p["message"]})
    }
}

async fn send(f: &Fixture, method: &str, uri: &str, token: &str, body: Option<Value>, accept: Option<&str>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let res = f.app.clone().oneshot(req).await.unwrap();
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (content_type, rows, truncated) = (header("content-type").unwrap_or_default(), header("trace-row-count"), header("trace-truncated"));
    let status = res.status().as_u16();
    Answer { status, content_type, rows, truncated, body: res.into_body().collect().await.unwrap().to_bytes() }
}

async fn query(f: &Fixture, token: &str, body: Value) -> Answer {
    send(f, "POST", "/api/v1/query", token, Some(body), None).await
}

/// Arrow batches as CSV, through the same writer the service uses.
fn csv_of(schema: trace_query::arrow::datatypes::SchemaRef, batches: Vec<trace_query::arrow::array::RecordBatch>) -> String {
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let r = QueryResult { schema, batches, rows, truncated: false, elapsed: Duration::ZERO };
    String::from_utf8(render(&r, Format::Csv).unwrap()).unwrap()
}

async fn the_query_api(db: Db) {
    let f = fixture(db).await;
    let sql = "SELECT id, id * 10 AS ten, 'n' || id AS label FROM transfers ORDER BY id, label";

    // JSON by default: columns, rows, counts.
    let a = query(&f, &f.ann, json!({"sql": "SELECT sum(id) AS s, count(*) AS n FROM transfers"})).await;
    assert_eq!((a.status, a.content_type.as_str()), (200, "application/json"));
    let body = a.json();
    assert_eq!(body["rows"], json!([{"s": 14, "n": 5}]));
    assert_eq!((body["row_count"].clone(), body["truncated"].clone()), (json!(1), json!(false)));
    assert_eq!(body["columns"], json!([{"name": "s", "type": "Decimal128(38, 0)"}, {"name": "n", "type": "Int64"}]));

    // Every format carries the same rows.
    let csv = query(&f, &f.ann, json!({"sql": sql, "format": "csv"})).await;
    assert_eq!((csv.status, csv.content_type.as_str(), csv.rows.as_deref()), (200, "text/csv; charset=utf-8", Some("5")));
    let expected = "id,ten,label\n1,10,n1\n1,10,n1\n3,30,n3\n4,40,n4\n5,50,n5\n";
    assert_eq!(String::from_utf8(csv.body.to_vec()).unwrap(), expected);
    let by_accept = send(&f, "POST", "/api/v1/query", &f.ann, Some(json!({"sql": sql})), Some("text/csv")).await;
    assert_eq!(by_accept.body, csv.body);
    let arrow = send(&f, "POST", "/api/v1/query", &f.ann, Some(json!({"sql": sql})), Some("application/vnd.apache.arrow.stream")).await;
    assert_eq!(arrow.content_type, "application/vnd.apache.arrow.stream");
    let reader = StreamReader::try_new(std::io::Cursor::new(arrow.body.to_vec()), None).unwrap();
    let schema = reader.schema();
    assert_eq!(csv_of(schema, reader.collect::<Result<_, _>>().unwrap()), expected);
    let parquet = query(&f, &f.ann, json!({"sql": sql, "format": "parquet"})).await;
    assert_eq!((parquet.content_type.as_str(), parquet.truncated.as_deref()), ("application/vnd.apache.parquet", Some("false")));
    let reader = ParquetRecordBatchReaderBuilder::try_new(parquet.body.clone()).unwrap().build().unwrap();
    let schema = reader.schema();
    assert_eq!(csv_of(schema, reader.collect::<Result<_, _>>().unwrap()), expected);
    let json_rows = query(&f, &f.ann, json!({"sql": sql})).await.json()["rows"].clone();
    assert_eq!(json_rows[4], json!({"id": 5, "ten": 50, "label": "n5"}));
    assert_eq!(json_rows.as_array().unwrap().len(), 5);
    let bad = query(&f, &f.ann, json!({"sql": sql, "format": "xml"})).await;
    assert_eq!((bad.status, bad.json()["code"].as_str()), (400, Some("bad_request")));

    // A viewer the dataset is not opened to and another org's admin get
    // exactly what a name nobody uses gets.
    let nobody = query(&f, &f.ann, json!({"sql": "SELECT * FROM nope"})).await;
    assert_eq!((nobody.status, nobody.error()), (404, json!({"code": "not_found", "message": "no such dataset: nope"})));
    for token in [&f.vic, &f.zed] {
        let hidden = query(&f, token, json!({"sql": "SELECT * FROM transfers"})).await;
        assert_eq!((hidden.status, hidden.error()), (404, json!({"code": "not_found", "message": "no such dataset: transfers"})));
        let tables = send(&f, "GET", "/api/v1/tables", token, None, None).await;
        assert_eq!((tables.status, tables.json()), (200, json!([])));
    }
    let tables = send(&f, "GET", "/api/v1/tables", &f.ann, None, None).await.json();
    assert_eq!(tables[0]["columns"], json!([{"name": "id", "type": "BIGINT"}]));
    assert_eq!((tables[0]["name"].as_str(), tables[0]["rows"].as_u64()), (Some("transfers"), Some(5)));

    // Hostile SQL is refused with DuckDB's or the guard's reason.
    for (sql, says) in [
        ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error"),
        ("COPY (SELECT 1) TO '/tmp/trace-api-escape.csv'", "read-only statement"),
        ("ATTACH '/tmp/trace-api-escape.db'", "read-only statement"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SET lock_configuration = false", "read-only statement"),
    ] {
        let a = query(&f, &f.ann, json!({"sql": sql})).await;
        let body = a.json();
        assert_eq!((a.status, body["code"].as_str()), (400, Some("bad_request")), "{sql}: {body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{sql}: {body}");
    }

    // Limits, each named.
    let cut = query(&f, &f.ann, json!({"sql": sql, "max_rows": 2})).await.json();
    assert_eq!((cut["row_count"].clone(), cut["truncated"].clone(), cut["rows"].as_array().unwrap().len()), (json!(2), json!(true), 2));
    let greedy = query(&f, &f.ann, json!({"sql": sql, "max_rows": 10_001})).await;
    assert_eq!((greedy.status, greedy.json()["message"].as_str()), (400, Some("max_rows above the service's limit: asked=10001, limit=10000")));
    let zero = query(&f, &f.ann, json!({"sql": sql, "timeout_ms": 0})).await;
    assert_eq!((zero.status, zero.json()["message"].as_str()), (400, Some("timeout must be at least 1ms, got 0ms")));
    let started = Instant::now();
    let slow = query(&f, &f.ann, json!({"sql": "SELECT sum(hash(i)) FROM range(1000000000000) t(i)", "timeout_ms": 300})).await;
    assert_eq!(
        (slow.status, slow.error()),
        (422, json!({"code": "limit_exceeded", "message": "query ran past its time limit: limit=300ms"}))
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // EXPLAIN shows the plan and reads nothing.
    let plan = query(&f, &f.ann, json!({"sql": "EXPLAIN SELECT sum(id) FROM transfers WHERE id > 2"})).await.json();
    let text = plan["rows"].to_string();
    assert!(["READ_PARQUET", "PARQUET_SCAN", "TABLE_SCAN"].iter().any(|s| text.contains(s)), "{plan}");

    // A batch query: 202, then its record, then its Parquet; only its
    // submitter (and org admins) can see it.
    let submitted = send(&f, "POST", "/api/v1/queries", &f.ann, Some(json!({"sql": sql})), None).await;
    assert_eq!(submitted.status, 202, "{:?}", submitted.json());
    let id = submitted.json()["id"].as_str().unwrap().to_owned();
    let record = loop {
        let r = send(&f, "GET", &format!("/api/v1/queries/{id}"), &f.ann, None, None).await.json();
        if r["status"] != "running" {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((record["status"].as_str(), record["rows"].as_u64()), (Some("succeeded"), Some(5)), "{record}");
    assert_eq!(record["result"].as_str(), Some(format!("/api/v1/queries/{id}/result").as_str()));
    let result = send(&f, "GET", &format!("/api/v1/queries/{id}/result"), &f.ann, None, None).await;
    assert_eq!((result.status, result.body.len() as u64), (200, record["bytes"].as_u64().unwrap()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(result.body).unwrap().build().unwrap();
    let schema = reader.schema();
    assert_eq!(csv_of(schema, reader.collect::<Result<_, _>>().unwrap()), expected);
    for token in [&f.vic, &f.zed] {
        let other = send(&f, "GET", &format!("/api/v1/queries/{id}"), token, None, None).await;
        assert_eq!((other.status, other.json()["code"].as_str()), (404, Some("not_found")));
        let other = send(&f, "GET", &format!("/api/v1/queries/{id}/result"), token, None, None).await;
        assert_eq!(other.status, 404);
    }
    let refused = send(&f, "POST", "/api/v1/queries", &f.ann, Some(json!({"sql": sql, "max_rows": 5})), None).await;
    assert_eq!(refused.status, 400);

    // The org's cap on queries at once: 429 with the limit named.
    let long = json!({"sql": "SELECT sum(hash(i)) FROM range(1000000000000) t(i)", "timeout_ms": 1500});
    let submitted = send(&f, "POST", "/api/v1/queries", &f.ann, Some(long), None).await;
    assert_eq!(submitted.status, 202);
    let busy = query(&f, &f.ann, json!({"sql": "SELECT 1"})).await;
    assert_eq!(
        (busy.status, busy.error()),
        (429, json!({"code": "too_many_requests", "message": "too many queries at once for this org: running=1, limit=1; try again when one finishes"}))
    );
    let id = submitted.json()["id"].as_str().unwrap().to_owned();
    let record = loop {
        let r = send(&f, "GET", &format!("/api/v1/queries/{id}"), &f.ann, None, None).await.json();
        if r["status"] != "running" {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((record["status"].as_str(), record["error"].as_str()), (Some("failed"), Some("query ran past its time limit: limit=1500ms")));
    let unfinished = send(&f, "GET", &format!("/api/v1/queries/{id}/result"), &f.ann, None, None).await;
    assert_eq!((unfinished.status, unfinished.json()["code"].as_str()), (409, Some("conflict")));
    assert_eq!(query(&f, &f.ann, json!({"sql": "SELECT 1 AS one"})).await.status, 200, "the place is free again");

    // An org's quota replaces the server's cap (here: none at all).
    let acme = f.db.org_id("acme").await.unwrap().unwrap();
    f.db.set_quota(acme, &Quota { max_queries: Some(0), ..Quota::default() }, "root", now_millis()).await.unwrap();
    let refused = query(&f, &f.ann, json!({"sql": "SELECT 1"})).await;
    assert_eq!((refused.status, refused.error()["message"].as_str()), (429, Some("too many queries at once for this org: running=0, limit=0; try again when one finishes")));
    assert_eq!(query(&f, &f.zed, json!({"sql": "SELECT 1"})).await.status, 200, "another org keeps the server's cap");
    f.db.set_quota(acme, &Quota::default(), "root", now_millis()).await.unwrap();
    assert_eq!(query(&f, &f.ann, json!({"sql": "SELECT 1"})).await.status, 200);

    // No token, no query.
    let anonymous = f.app.clone().oneshot(Request::post("/api/v1/query").header("content-type", "application/json").body(Body::from(r#"{"sql":"SELECT 1"}"#)).unwrap()).await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    the_query_api(Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    the_query_api(Db::Postgres(PgStore::connect(&trace_testbed::database(), 4).await.unwrap())).await;
}

#[tokio::test]
async fn a_server_without_storage_says_it_has_no_query_service() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let now = now_millis();
    let org = db.create_org("acme", now).await.unwrap();
    let user = db.create_user(org, "ann", Role::Admin, "tester", now).await.unwrap();
    let token = db.create_token(user, "t", "tester", now).await.unwrap();
    let app = public_router(Arc::new(PublicState::new(db)));
    let req = Request::post("/api/v1/query").header("authorization", format!("Bearer {token}")).header("content-type", "application/json");
    let res = app.oneshot(req.body(Body::from(r#"{"sql":"SELECT 1"}"#)).unwrap()).await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    let body: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["message"], "this server has no query service (start it with --storage)");
}
