//! What a remote user does to a DAG's versions and a dataset's through the
//! API with a token (stage, cut over, roll back, backfill, list, purge), and
//! the one error shape every answer has.

mod common;

use common::{call, call_raw, fixture, fixture_with, DAG};
use serde_json::json;

/// A DAG publishing `facts`, whose materialization changes with `x`.
fn publishing(x: u32) -> String {
    format!("name: prod\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\n    config: {{ x: \"{x}\" }}\npublish:\n  - {{ job: src, output_index: 0, dataset: facts }}\n")
}

fn states(list: &serde_json::Value, dag: &str) -> Vec<(i64, String)> {
    list.as_array().unwrap().iter().filter(|v| v["dag"] == dag).map(|v| (v["version"].as_i64().unwrap(), v["state"].as_str().unwrap().to_owned())).collect()
}

#[tokio::test]
async fn a_staged_version_is_cut_over_and_rolled_back_by_an_admin() {
    let f = fixture().await;
    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.dev, Some(publishing(1))).await.0, 200);
    let (s, staged) = call(&f, "POST", "/api/v1/dags?staged=true", &f.dev, Some(publishing(2))).await;
    assert_eq!((s, staged["version"].as_i64(), staged["staged"].as_bool()), (200, Some(2), Some(true)), "{staged}");
    let (_, list) = call(&f, "GET", "/api/v1/dags", &f.viewer, None).await;
    assert_eq!(states(&list, "prod"), vec![(2, "staged".into()), (1, "active".into())]);

    // Only an admin of the org switches what readers see.
    let to2 = Some(json!({"version": 2}).to_string());
    assert_eq!(call(&f, "POST", "/api/v1/dags/prod/cutover", &f.dev, to2.clone()).await.0, 403);
    let (s, e) = call(&f, "POST", "/api/v1/dags/prod/cutover", &f.outsider, to2.clone()).await;
    assert_eq!((s, e["message"].as_str()), (404, Some("DAG \"prod\" does not exist")), "another org's DAG answers like a missing one");
    let (s, r) = call(&f, "POST", "/api/v1/dags/prod/cutover", &f.admin, to2.clone()).await;
    assert_eq!((s, r["from_version"].as_i64(), r["to_version"].as_i64()), (200, Some(1), Some(2)), "{r}");
    let (_, list) = call(&f, "GET", "/api/v1/dags", &f.viewer, None).await;
    assert_eq!(states(&list, "prod"), vec![(2, "active".into()), (1, "previous".into())]);
    let (s, e) = call(&f, "POST", "/api/v1/dags/prod/cutover", &f.admin, to2).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("conflict")), "{e}");
    let (s, e) = call(&f, "POST", "/api/v1/dags/prod/cutover", &f.admin, Some(json!({"version": 9}).to_string())).await;
    assert_eq!((s, e["message"].as_str()), (404, Some("DAG \"prod\" has no version 9")));

    assert_eq!(call(&f, "POST", "/api/v1/dags/prod/rollback", &f.viewer, None).await.0, 403);
    let (s, r) = call(&f, "POST", "/api/v1/dags/prod/rollback", &f.admin, None).await;
    assert_eq!((s, r["from_version"].as_i64(), r["to_version"].as_i64()), (200, Some(2), Some(1)), "{r}");
    let (_, list) = call(&f, "GET", "/api/v1/dags", &f.admin, None).await;
    assert_eq!(states(&list, "prod"), vec![(2, "staged".into()), (1, "active".into())]);
    let (_, theirs) = call(&f, "GET", "/api/v1/dags", &f.outsider, None).await;
    assert_eq!(theirs, json!([]));
}

#[tokio::test]
async fn a_backfill_triggers_each_chunk_once_and_checks_its_bounds() {
    let f = fixture().await;
    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.dev, Some(DAG.into())).await.0, 200);
    let body = |start: u64, end: u64, chunk: u64| Some(json!({"start": start, "end": end, "chunk": chunk}).to_string());
    let (s, r) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.dev, body(0, 25, 10)).await;
    assert_eq!((s, r["chunks"].as_i64(), r["new"].as_i64(), r["label"].as_str()), (200, Some(3), Some(3), Some("0-25-10")), "{r}");
    assert_eq!(r["tasks"].as_array().unwrap().len(), 3);
    let (_, again) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.dev, body(0, 25, 10)).await;
    assert_eq!((again["new"].as_i64(), again["already_triggered"].as_i64()), (Some(0), Some(3)), "the same backfill resumes, adding nothing");
    let (_, tasks) = call(&f, "GET", "/api/v1/tasks", &f.viewer, None).await;
    assert_eq!(tasks.as_array().unwrap().len(), 3);

    assert_eq!(call(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.viewer, body(0, 25, 10)).await.0, 403);
    assert_eq!(call(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.outsider, body(0, 25, 10)).await.0, 404);
    let (s, e) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.dev, body(0, 2_000_000, 1)).await;
    assert_eq!(s, 400);
    assert!(e["detail"].as_str().unwrap().contains("too many chunks: got=2000000, limit=100000"), "{e}");
    let (s, e) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.dev, body(0, 10, 0)).await;
    assert_eq!((s, e["detail"].as_str()), (400, Some("the chunk size must be at least 1")));
    let (s, e) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.dev, Some(json!({"start": 0, "end": 9, "chunk": 3, "label": "Not OK"}).to_string())).await;
    assert_eq!(s, 400, "{e}");
}

#[tokio::test]
async fn dataset_versions_are_listed_and_an_unused_one_purged() {
    let f = fixture_with(|s| s).await;
    let files = f.dir.path().join("objects");
    std::fs::create_dir_all(&files).unwrap();
    let storage = trace_storage::Storage::open(&format!("file://{}", files.display()), None).unwrap();
    let with_storage = common::Fixture { app: trace_api::public_router(std::sync::Arc::new(trace_api::PublicState::new(f.db.clone()).with_storage(Some(storage)))), ..f };
    let f = with_storage;
    call(&f, "POST", "/api/v1/dags", &f.admin, Some(publishing(1))).await;
    call(&f, "POST", "/api/v1/dags?staged=true", &f.admin, Some(publishing(2))).await;
    call(&f, "POST", "/api/v1/dags/prod/cutover", &f.admin, Some(json!({"version": 2}).to_string())).await;

    let (s, versions) = call(&f, "GET", "/api/v1/datasets/facts/versions", &f.admin, None).await;
    assert_eq!(s, 200, "{versions}");
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!((versions[0]["dag_version"].as_i64(), versions[0]["active"].as_bool()), (Some(2), Some(true)));
    assert_eq!((versions[1]["dag_version"].as_i64(), versions[1]["active"].as_bool()), (Some(1), Some(false)));
    let (old, current) = (versions[1]["uuid"].as_str().unwrap().to_owned(), versions[0]["uuid"].as_str().unwrap().to_owned());

    // Private to admins and deployers; another org's admin sees nothing.
    assert_eq!(call(&f, "GET", "/api/v1/datasets/facts/versions", &f.viewer, None).await.0, 404);
    assert_eq!(call(&f, "GET", "/api/v1/datasets/facts/versions", &f.outsider, None).await.0, 404);
    assert_eq!(call(&f, "DELETE", &format!("/api/v1/datasets/facts/versions/{old}"), &f.outsider, None).await.0, 404);
    assert_eq!(call(&f, "DELETE", &format!("/api/v1/datasets/facts/versions/{old}"), &f.dev, None).await.0, 403);
    let (s, e) = call(&f, "DELETE", &format!("/api/v1/datasets/facts/versions/{current}"), &f.admin, None).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("conflict")), "the active version stays: {e}");
    let (s, r) = call(&f, "DELETE", &format!("/api/v1/datasets/facts/versions/{old}"), &f.admin, None).await;
    assert_eq!((s, r["partitions"].as_i64()), (200, Some(0)), "{r}");
    let (_, versions) = call(&f, "GET", "/api/v1/datasets/facts/versions", &f.admin, None).await;
    assert!(versions[1]["purged_at"].is_i64(), "{versions}");
    // Rolling back onto the purged version is refused by name.
    let (s, e) = call(&f, "POST", "/api/v1/dags/prod/rollback", &f.admin, None).await;
    assert_eq!(s, 409);
    assert!(e["detail"].as_str().unwrap().contains("points at a purged dataset version"), "{e}");
}

#[tokio::test]
async fn a_server_without_storage_refuses_purges_by_saying_so() {
    let f = fixture().await;
    call(&f, "POST", "/api/v1/dags", &f.admin, Some(publishing(1))).await;
    let (s, e) = call(&f, "DELETE", "/api/v1/datasets/facts/versions/whatever", &f.admin, None).await;
    assert_eq!((s, e["code"].as_str()), (503, Some("unavailable")));
    assert!(e["detail"].as_str().unwrap().contains("without --storage"), "{e}");
}

/// Every error is `application/problem+json` with a stable code: the
/// handlers' own and what the router answers by itself.
#[tokio::test]
async fn every_error_is_one_problem_shape() {
    let f = fixture().await;
    // (method, uri, token, body, status, code)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<String>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("GET", "/api/v1/whoami", "trc_nope", None, 401, "unauthorized"),
        ("GET", "/api/v1/nowhere", &f.viewer, None, 404, "not_found"),
        ("DELETE", "/api/v1/whoami", &f.viewer, None, 405, "method_not_allowed"),
        ("POST", "/api/v1/dags/pipe/cutover", &f.admin, Some("{not json".into()), 400, "bad_request"),
        ("POST", "/api/v1/dags/pipe/cutover", &f.admin, Some(json!({"version": 1, "extra": true}).to_string()), 422, "bad_request"),
        ("GET", "/api/v1/tasks?limit=0", &f.viewer, None, 400, "bad_request"),
        ("POST", "/api/v1/users", &f.viewer, Some(json!({"name": "x", "role": "viewer"}).to_string()), 403, "forbidden"),
    ];
    for (method, uri, token, body, status, code) in cases {
        let (s, kind, p) = call_raw(&f, method, uri, token, body).await;
        assert_eq!((s, kind.as_str(), p["code"].as_str()), (status, trace_api::PROBLEM_JSON, Some(code)), "{method} {uri}: {p}");
        assert_eq!(p["status"].as_u64(), Some(u64::from(status)));
        assert_eq!(p["type"].as_str(), Some(format!("urn:trace:problem:{code}").as_str()));
        assert!(p["title"].is_string() && !p["detail"].as_str().unwrap().is_empty(), "{p}");
        assert_eq!(p["detail"], p["message"]);
    }
}

/// `GET /api/v1/quota`, and a run refused with 429 naming the limit once
/// the org's hourly starts are used up; another org is not affected.
#[tokio::test]
async fn an_org_over_its_hourly_quota_gets_429_naming_it() {
    use trace_store::{Quotas, Store};
    let f = fixture().await;
    assert_eq!(call(&f, "POST", "/api/v1/dags", &f.dev, Some(DAG.into())).await.0, 200);
    let acme = f.db.org_id("acme").await.unwrap().unwrap();
    let (_, q) = call(&f, "GET", "/api/v1/quota", &f.viewer, None).await;
    assert_eq!((q["max_tasks_per_hour"].is_null(), q["started_this_hour"].as_i64()), (true, Some(0)), "{q}");
    f.db.set_quota(acme, &trace_store::Quota { max_tasks_per_hour: Some(1), max_running: Some(5), ..Default::default() }, "root", trace_store::now_millis()).await.unwrap();
    let run = |id: &str| Some(json!({"run_id": id, "start": 0, "end": 10}).to_string());
    assert_eq!(call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.dev, run("r1")).await.0, 200);
    assert_eq!(f.db.claim(10, trace_store::now_millis()).await.unwrap().len(), 1);
    let (s, e) = call(&f, "POST", "/api/v1/dags/pipe/jobs/src/trigger", &f.dev, run("r2")).await;
    assert_eq!((s, e["code"].as_str()), (429, Some("too_many_requests")), "{e}");
    assert!(e["detail"].as_str().unwrap().contains("max_tasks_per_hour=1 is reached: 1 task attempts started this hour"), "{e}");
    let body = Some(json!({"start": 0, "end": 20, "chunk": 10}).to_string());
    assert_eq!(call(&f, "POST", "/api/v1/dags/pipe/jobs/src/backfill", &f.dev, body).await.0, 429);
    let (_, q) = call(&f, "GET", "/api/v1/quota", &f.viewer, None).await;
    assert_eq!((q["max_tasks_per_hour"].as_u64(), q["max_running"].as_u64(), q["started_this_hour"].as_i64(), q["running"].as_i64()), (Some(1), Some(5), Some(1), Some(1)), "{q}");
    let (_, theirs) = call(&f, "GET", "/api/v1/quota", &f.outsider, None).await;
    assert!(theirs["max_tasks_per_hour"].is_null() && theirs["running"] == 0, "{theirs}");
}
