//! The public API through its router (no socket) on a real SQLite system
//! database: tokens, roles, tenancy and bounds.

mod common;

use common::{call, fixture, DAG};
use serde_json::json;
use trace_api::{MAX_LIST, MAX_PUBLIC_BODY_BYTES};
use trace_store::{now_millis, Store};

#[tokio::test]
async fn roles_and_tenancy_decide_who_may_do_what() {
    let f = fixture().await;
    let (s, who) = call(&f, "GET", "/api/v1/whoami", &f.viewer, None).await;
    assert_eq!((s, who["user"].as_str(), who["role"].as_str()), (200, Some("vic"), Some("viewer")));
    assert_eq!(call(&f, "GET", "/api/v1/whoami", "trc_forged", None).await.0, 401);

    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.dev, Some(DAG.into())).await.0, 200, "developers deploy");
    let trigger = |run: &str| Some(json!({"run_id": run, "start": 0, "end": 10}).to_string());
    let (s, body) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.viewer, trigger("r0")).await;
    assert_eq!((s, body["code"].as_str()), (403, Some("forbidden")));
    assert!(body["message"].as_str().unwrap().contains("needs the developer role; vic is viewer"), "{body}");
    let (s, body) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.dev, trigger("r1")).await;
    assert_eq!(s, 200, "{body}");
    let task = body["tasks"][0].as_i64().unwrap();

    // Another org's admin sees nothing of acme's: not its task, not its DAG.
    let (s, body) = call(&f, "GET", &format!("/api/v1/tasks/{task}"), &f.outsider, None).await;
    assert_eq!((s, body["code"].as_str()), (404, Some("not_found")));
    assert_eq!(call(&f, "POST", &format!("/api/v1/tasks/{task}/cancel"), &f.outsider, None).await.0, 404);
    assert_eq!(call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.outsider, trigger("r2")).await.0, 404);
    let (_, theirs) = call(&f, "GET", "/api/v1/tasks", &f.outsider, None).await;
    assert_eq!(theirs, json!([]));

    assert_eq!(call(&f, "POST", &format!("/api/v1/tasks/{task}/cancel"), &f.viewer, None).await.0, 403);
    let (s, body) = call(&f, "POST", &format!("/api/v1/tasks/{task}/cancel"), &f.dev, None).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("canceled")));

    // Only admins manage users; names are checked.
    let user = |name: &str| Some(json!({"name": name, "role": "viewer"}).to_string());
    assert_eq!(call(&f, "POST", "/api/v1/users", &f.dev, user("eve")).await.0, 403);
    assert_eq!(call(&f, "POST", "/api/v1/users", &f.admin, user("eve")).await.0, 200);
    assert_eq!(call(&f, "POST", "/api/v1/users", &f.admin, user("eve")).await.1["code"], "conflict");
    assert_eq!(call(&f, "POST", "/api/v1/users", &f.admin, user("bad name!")).await.1["code"], "bad_request");
    let (s, body) = call(&f, "POST", "/api/v1/users", &f.admin, Some(json!({"name": "x", "role": "wizard"}).to_string())).await;
    assert_eq!((s, body["message"].as_str()), (400, Some("role must be admin, developer or viewer, got \"wizard\"")));
}

#[tokio::test]
async fn requests_outside_the_bounds_are_refused_with_the_bound() {
    let f = fixture().await;
    let (s, body) = call(&f, "GET", &format!("/api/v1/tasks?limit={}", MAX_LIST + 1), &f.viewer, None).await;
    assert_eq!(s, 400);
    assert_eq!(body["message"], format!("limit must be between 1 and {MAX_LIST}, got {}", MAX_LIST + 1));

    call(&f, "POST", "/api/v1/dags", &f.dev, Some(DAG.into())).await;
    let (s, body) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.dev, Some(json!({"run_id": "r", "start": 5, "end": 5}).to_string())).await;
    assert_eq!((s, body["message"].as_str()), (400, Some("a range needs start < end, got start=Some(5) end=Some(5)")));

    let long = "r".repeat(129);
    let (s, body) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.dev, Some(json!({"run_id": long}).to_string())).await;
    assert_eq!((s, body["message"].as_str()), (400, Some("run_id must have 1 to 128 characters, got 129")));
    let long_name = "u".repeat(trace_api::MAX_NAME_CHARS + 1);
    let (s, body) = call(&f, "POST", "/api/v1/users", &f.admin, Some(json!({"name": long_name, "role": "viewer"}).to_string())).await;
    assert_eq!(s, 400);
    assert!(body["message"].as_str().unwrap().starts_with("a user name must be 1 to 64 of"), "{body}");

    let huge = format!("{DAG}# {}\n", "x".repeat(MAX_PUBLIC_BODY_BYTES));
    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.dev, Some(huge)).await.0, 413);
}

#[tokio::test]
async fn shared_reads_need_read_access_to_the_dataset() {
    let f = fixture().await;
    let producer = "name: prod\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\npublish:\n  - { job: src, output_index: 0, dataset: facts }\n";
    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.admin, Some(producer.into())).await.0, 200);
    let reader = "name: reader\njobs:\n  - name: use\n    operator: use.wasm\n    inputs:\n      - from: { dataset: facts }\n";
    // dan is a developer who did not deploy `prod`: `facts` is private to him.
    let (s, body) = call(&f, "POST", "/api/v1/dags", &f.dev, Some(reader.into())).await;
    assert_eq!((s, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let roles = Some(json!({"read_roles": ["developer"]}).to_string());
    assert_eq!(call(&f, "PUT", "/api/v1/datasets/facts/read_roles", &f.admin, roles).await.0, 200);
    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.dev, Some(reader.into())).await.0, 200, "developers may read it now");
}

/// `GET /api/v1/usage` and a task's attempts: what a reported attempt used,
/// summed for its org and no other.
#[tokio::test]
async fn usage_is_recorded_with_the_outcome_and_summed_per_job() {
    let f = fixture().await;
    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.dev, Some(DAG.into())).await.0, 200);
    let (status, _) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.dev, Some(r#"{"run_id":"r1","start":0,"end":10}"#.into())).await;
    assert_eq!(status, 200);
    let claim = f.db.claim(1, now_millis()).await.unwrap().pop().unwrap();
    let used = trace_store::AttemptUsage { wall_ms: 40, cpu_ms: 25, peak_memory_bytes: 3 << 20, output_rows: 7, output_bytes: 900, events: 1, rpc_requests: 4, rpc_bytes: 512, ..Default::default() };
    let auth = trace_store::AttemptAuth { task: claim.task, attempt: claim.attempt, credential: claim.credential.clone() };
    let done = trace_store::Completion { auth, outcome: trace_store::Outcome::Succeeded, events: vec![], state: vec![], partitions: vec![], usage: Some(used), log: Some("reading 0..10\ndone\n".into()) };
    f.db.complete_many(std::slice::from_ref(&done), now_millis()).await.unwrap();
    // Reported twice (a retried call): recorded once, the first log kept.
    let again = trace_store::Completion { log: Some("a second report".into()), ..done };
    let _ = f.db.complete_many(&[again], now_millis()).await.unwrap();

    let (status, detail) = call(&f, "GET", &format!("/api/v1/tasks/{}", claim.task), &f.viewer, None).await;
    assert_eq!(status, 200);
    assert_eq!(detail["attempts"][0]["usage"]["rpc_requests"], 4);
    assert_eq!(detail["attempts"][0]["log"], "reading 0..10\ndone\n");
    let (status, rows) = call(&f, "GET", "/api/v1/usage?by=day", &f.viewer, None).await;
    assert_eq!(status, 200, "{rows}");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["dag"].as_str(), rows[0]["job"].as_str(), rows[0]["attempts"].as_i64(), rows[0]["unsuccessful"].as_i64()), (Some("pipe"), Some("src"), Some(1), Some(0)));
    assert_eq!(rows[0]["usage"]["cpu_ms"], 25);
    assert_eq!(rows[0]["usage"]["peak_memory_bytes"], 3 << 20);
    assert_eq!(rows[0]["bucket"].as_i64().unwrap() % 86_400_000, 0, "a day's start");
    // Another org's admin sees none of it; bad windows and buckets are named.
    let (_, theirs) = call(&f, "GET", "/api/v1/usage", &f.outsider, None).await;
    assert_eq!(theirs, serde_json::json!([]));
    let (status, e) = call(&f, "GET", "/api/v1/usage?by=week", &f.viewer, None).await;
    assert_eq!((status, e["message"].as_str()), (400, Some("by must be hour or day, got \"week\"")));
    let (status, _) = call(&f, "GET", "/api/v1/usage?since=10&until=5", &f.viewer, None).await;
    assert_eq!(status, 400);
    let (status, _) = call(&f, "GET", "/api/v1/usage?since=0", &f.viewer, None).await;
    assert_eq!(status, 400, "a window longer than 366 days");
    let (status, _) = call(&f, "GET", "/api/v1/usage", "trc_nonsense", None).await;
    assert_eq!(status, 401);
}
