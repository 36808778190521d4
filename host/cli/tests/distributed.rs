//! `trace server` and `trace worker` as separate processes, the way they
//! are deployed: PostgreSQL as the system database, SQS (moto on 127.0.0.1)
//! as the queue, workers reaching the control plane only over HTTP, users
//! acting through the public API with API tokens.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const DAG: &str = r#"name: blocks_pipeline
jobs:
  - name: blocks
    kind: source
    operator: op_range_splitter.wasm
    config: { range_size: 1000 }
    timeout: 5s
  - name: windows
    operator: op_range_aggregator.wasm
    inputs:
      - from: { job: blocks, output: 0 }
    config: { range_size: 10000 }
    timeout: 5s
  - name: transfers
    operator: op_erc20_transfers.wasm
    inputs:
      - from: { job: windows, output: 0 }
    config: { min_value: "1000000" }
    timeout: 5s
publish:
  - { job: transfers, output_index: 0, dataset: erc20_transfers }
"#;

const WRITES: &str = include_str!("../../../tests/dags/writes.yaml");


struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body)).await
    }

    async fn deploy(&self, token: &str, yaml: &str) -> (u16, Value) {
        let resp = self.http.post(format!("{}/api/v1/dags", self.base)).bearer_auth(token).body(yaml.to_owned()).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_workers_run_a_dag_over_http_and_sqs() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let moto = trace_testbed::moto();
    let db = trace_testbed::database();
    let mut env = cluster_env(db.clone(), "acme", "distributed-test", &moto);
    env.extend([
        // The server's Query Service reads the same bucket the workers write.
        ("TRACE_STORAGE", "s3://trace-data".to_owned()),
    ]);
    // moto's S3 needs its bucket made with a plain PUT.
    make_bucket(&moto, "trace-data").await;

    // Bootstrap: the first admin and their token, straight on the database.
    run_ok(&["user", "add", "root", "--role", "admin"], &env, &cache);
    let root = run_ok(&["token", "create", "root"], &env, &cache).trim().to_owned();
    run_ok(&["user", "add", "zed", "--role", "admin", "--org", "globex"], &env, &cache);
    let zed = run_ok(&["token", "create", "zed", "--org", "globex"], &env, &cache).trim().to_owned();

    // A worker token too short to guard task payloads is refused up front.
    let short = trace_cmd(&["server", "--worker-token", "short"], &env, &cache).output().unwrap();
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 32 characters, got 5"));

    let (server, base) = start_server(&env, &cache);
    let api = Api { base: base.clone(), http: reqwest::Client::new() };

    // Roles: an admin makes a viewer; a viewer may read but not deploy.
    let (status, _) = api.post("/api/v1/users", &root, json!({"name": "vic", "role": "viewer"})).await;
    assert_eq!(status, 200);
    let (status, body) = api.post("/api/v1/users/vic/tokens", &root, json!({"label": "laptop"})).await;
    assert_eq!(status, 200);
    let vic = body["token"].as_str().unwrap().to_owned();
    let (status, body) = api.deploy(&vic, DAG).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, body) = api.call(reqwest::Method::GET, "/api/v1/tasks", None, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, body) = api.deploy(&root, "name: broken\njobs:\n  - name: a\n    kind: source\n    operator: x.wasm\n    colour: red\n").await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("request body:6: jobs[0]: unknown field `colour`"), "{body}");

    let (status, body) = api.deploy(&root, DAG).await;
    assert_eq!((status, body["version"].as_i64()), (200, Some(1)), "{body}");

    let worker_args = [
        "worker", "--server", &base, "--operators", operators().to_str().unwrap(), "--concurrency", "2", "--visibility", "3s",
        "--storage", "s3://trace-data",
    ];
    let mut doomed = Proc(trace_cmd(&worker_args, &env, &cache).stdout(std::process::Stdio::null()).spawn().unwrap());
    let _survivor = Proc(trace_cmd(&worker_args, &env, &cache).stdout(std::process::Stdio::null()).spawn().unwrap());

    let (status, body) = api.post("/api/v1/dags/blocks_pipeline/jobs/blocks/trigger", &root, json!({"run_id": "r1", "start": 0, "end": 35000})).await;
    assert_eq!((status, body["duplicate"].as_bool()), (200, Some(false)), "{body}");
    let (_, again) = api.post("/api/v1/dags/blocks_pipeline/jobs/blocks/trigger", &root, json!({"run_id": "r1", "start": 0, "end": 35000})).await;
    assert_eq!(again["duplicate"].as_bool(), Some(true), "the same run id is the same run");

    // One worker dies abruptly once work is flowing; the other finishes the
    // run (a task it held comes back through its attempt's timeout).
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut killed = false;
    let tasks = loop {
        let (status, tasks) = api.get("/api/v1/tasks?limit=1000", &vic).await;
        assert_eq!(status, 200);
        let tasks = tasks.as_array().unwrap().clone();
        let done = tasks.iter().filter(|t| t["status"] == "completed").count();
        if !killed && done >= 3 {
            doomed.0.kill().unwrap();
            killed = true;
        }
        if tasks.len() == 39 && done == 39 {
            break tasks;
        }
        assert!(tasks.iter().all(|t| t["status"] != "failed"), "{tasks:?}");
        assert!(Instant::now() < deadline, "the run did not finish: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(killed);
    // Exactly one task per event: 1 source, 35 ranges, 3 windows.
    let count = |job: &str| tasks.iter().filter(|t| t["job"] == job).count();
    assert_eq!((count("blocks"), count("windows"), count("transfers")), (1, 35, 3));

    // A task and its attempts; another org cannot see it at all.
    let id = tasks[0]["id"].as_i64().unwrap();
    let (status, detail) = api.get(&format!("/api/v1/tasks/{id}"), &vic).await;
    assert_eq!(status, 200);
    assert!(!detail["attempts"].as_array().unwrap().is_empty());
    let (status, body) = api.get(&format!("/api/v1/tasks/{id}"), &zed).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    // Datasets: private by default, then opened to viewers by an admin.
    let (_, mine) = api.get("/api/v1/datasets", &root).await;
    assert_eq!(mine[0]["name"], "erc20_transfers");
    assert_eq!(mine[0]["uuid"].as_str().unwrap().len(), 36);
    let (_, seen) = api.get("/api/v1/datasets", &vic).await;
    assert_eq!(seen, json!([]));
    let resp = api.http.put(format!("{base}/api/v1/datasets/erc20_transfers/read_roles")).bearer_auth(&root)
        .json(&json!({"read_roles": ["viewer"]})).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, seen) = api.get("/api/v1/datasets", &vic).await;
    assert_eq!(seen[0]["name"], "erc20_transfers");
    let (_, theirs) = api.get("/api/v1/datasets", &zed).await;
    assert_eq!(theirs, json!([]), "datasets are per org");

    // Data: a DAG whose outputs the workers write to S3 (moto) and whose
    // second job reads them back from there.
    let (status, body) = api.deploy(&root, WRITES).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = api.post("/api/v1/dags/writes/jobs/units/trigger", &root, json!({"run_id": "w1", "start": 10, "end": 13})).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(120);
    let counts = loop {
        let (_, parts) = api.get("/api/v1/datasets/counts/partitions", &root).await;
        if parts.as_array().is_some_and(|p| p.len() == 3) {
            break parts;
        }
        assert!(Instant::now() < deadline, "the writes DAG did not finish: {parts}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, units) = api.get("/api/v1/datasets/units/partitions", &root).await;
    assert_eq!((units[0]["partition_key"].as_str(), units[0]["rows"].as_u64()), (Some("10_13"), Some(3)), "{units}");
    let bucket = trace_storage::Storage::s3("trace-data", &s3_config(&moto)).unwrap();
    for part in units.as_array().unwrap().iter().chain(counts.as_array().unwrap()) {
        let key = trace_storage::ObjectPath::from(part["object_key"].as_str().unwrap());
        assert!(bucket.exists(&key).await.unwrap(), "{key} is in S3");
    }
    let (status, _) = api.get("/api/v1/datasets/units/partitions", &vic).await;
    assert_eq!(status, 404, "private datasets' partitions are not listed to others");

    // A backfill: chunks run by the workers, progress until done; the same
    // command again resumes (nothing new to trigger).
    let backfill = ["backfill", "writes", "units", "--range", "100..150", "--chunk", "10", "--every", "200ms"];
    let out = run_ok(&backfill, &env, &cache);
    assert!(out.contains("5 chunk(s) of 10, 5 new, 0 already triggered"), "{out}");
    let settled = out.lines().find(|l| l.contains("chunks 5/5 done")).unwrap_or_default();
    assert!(settled.contains("chunks 5/5 done, 0 running, 0 pending, 0 failed | rows 50 |") && settled.ends_with("done"), "{out}");
    let verdict = "backfill `100-150-10`: all 5 chunk(s) and the tasks they started downstream completed";
    assert_eq!(out.lines().last(), Some(verdict), "{out}");
    let out = run_ok(&backfill, &env, &cache);
    assert!(out.contains("0 new, 5 already triggered") && out.contains("chunks 5/5 done"), "{out}");
    assert_eq!(out.lines().last(), Some(verdict), "{out}");

    // Queries through the server, whose Query Service fetches the files from
    // S3 into its cache: the CLI with a token, exactly the registered rows.
    let query = |token: &str, args: &[&str]| {
        let mut all = vec!["query", "--server", &base, "--token", token];
        all.extend_from_slice(args);
        trace_cmd(&all, &env, &cache).output().unwrap()
    };
    let registered: u64 = api.get("/api/v1/datasets/units/partitions", &root).await.1.as_array().unwrap().iter().map(|p| p["rows"].as_u64().unwrap()).sum();
    let out = query(&root, &["--format", "csv", "SELECT count(*) AS n FROM units"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("n\n{registered}\n"));
    // Hidden from a viewer it is not opened to and from another org, in
    // the words used for a name nobody uses.
    for token in [&vic, &zed] {
        let out = query(token, &["SELECT count(*) FROM units"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("error: no such dataset: units (not_found, HTTP 404 Not Found)"), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // The schema listing, and a batch query downloaded as Parquet.
    let out = run_ok(&["datasets", "--schema", "--server", &base, "--token", &root], &env, &cache);
    assert!(out.contains("units  version ") && out.contains(&format!("{registered} row(s)")), "{out}");
    let parquet = dir.path().join("units.parquet");
    let out = query(&root, &["--batch", "--output", parquet.to_str().unwrap(), "SELECT * FROM units ORDER BY ALL"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains(&format!(": {registered} row(s), ")), "{stderr}");
    let file = std::fs::read(&parquet).unwrap();
    assert!(file.starts_with(b"PAR1") && stderr.contains(&format!("{} bytes of Parquet", file.len())), "{stderr}");

    // SIGTERM stops the server cleanly.
    let mut server = server;
    let status = stop(&mut server);
    assert!(status.success(), "{status:?}");
}
