//! One task's spans across processes: `trace server` and `trace worker`
//! export over OTLP (HTTP, JSON) to a receiver in this test, and a run's
//! spans, from the API call that triggered it through each task's
//! dispatch, attempt, sandbox and completion, form one trace.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const DAG: &str = r#"name: traced
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
    config: { range_size: 4000 }
    timeout: 5s
"#;

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace: String,
    id: String,
    parent: String,
    attrs: HashMap<String, String>,
}

impl Span {
    fn task(&self) -> Option<i64> {
        self.attrs.get("task")?.parse().ok()
    }
}

/// An OTLP/HTTP receiver on 127.0.0.1 keeping every request body.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(serde_json::from_slice::<Value>(&body).expect("an OTLP JSON body"));
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, bodies)
}

fn value_text(v: &Value) -> String {
    for key in ["stringValue", "intValue", "boolValue", "doubleValue"] {
        if let Some(x) = v.get(key) {
            return x.as_str().map_or_else(|| x.to_string(), str::to_owned);
        }
    }
    v.to_string()
}

fn spans(bodies: &[Value]) -> Vec<Span> {
    let mut out = Vec::new();
    for body in bodies {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            let service = rs["resource"]["attributes"].as_array().into_iter().flatten()
                .find(|a| a["key"] == "service.name").map(|a| value_text(&a["value"])).unwrap_or_default();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let attrs = s["attributes"].as_array().into_iter().flatten().map(|a| (a["key"].as_str().unwrap().to_owned(), value_text(&a["value"]))).collect();
                    let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
                    out.push(Span { service: service.clone(), name: text("name"), trace: text("traceId"), id: text("spanId"), parent: text("parentSpanId"), attrs });
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_runs_spans_form_one_trace_across_server_and_worker() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let moto = trace_testbed::moto();
    let (otlp, bodies) = receiver().await;
    let mut env = cluster_env(trace_testbed::database(), "acme", "traces-test", &moto);
    env.extend([
        ("TRACE_STORAGE", "s3://trace-traces".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
        ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
    ]);
    make_bucket(&moto, "trace-traces").await;
    run_ok(&["user", "add", "root", "--role", "admin"], &env, &cache);
    let root = run_ok(&["token", "create", "root"], &env, &cache).trim().to_owned();

    let (mut server, base) = start_server(&env, &cache);
    let http = reqwest::Client::new();
    let deployed = http.post(format!("{base}/api/v1/dags")).bearer_auth(&root).body(DAG).send().await.unwrap();
    assert_eq!(deployed.status(), 200);
    let mut worker = Proc(
        trace_cmd(&["worker", "--server", &base, "--operators", operators().to_str().unwrap(), "--storage", "s3://trace-traces"], &env, &cache)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let triggered = http.post(format!("{base}/api/v1/dags/traced/jobs/blocks/trigger")).bearer_auth(&root).json(&json!({"run_id": "t1", "start": 0, "end": 4000})).send().await.unwrap();
    assert_eq!(triggered.status(), 200);

    // 1 source task, whose 4 ranges make 4 window tasks.
    let deadline = Instant::now() + Duration::from_secs(120);
    let tasks = loop {
        let tasks: Value = http.get(format!("{base}/api/v1/tasks?limit=100")).bearer_auth(&root).send().await.unwrap().json().await.unwrap();
        let tasks = tasks.as_array().unwrap().clone();
        if tasks.len() == 5 && tasks.iter().all(|t| t["status"] == "completed") {
            break tasks;
        }
        assert!(tasks.iter().all(|t| t["status"] != "failed"), "{tasks:?}");
        assert!(Instant::now() < deadline, "the run did not finish: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Stopped as an orchestrator would, they export their last spans.
    stop(&mut worker);
    stop(&mut server);

    let spans = spans(&bodies.lock().unwrap());
    let id_of = |job: &str| tasks.iter().find(|t| t["job"] == job).unwrap()["id"].as_i64().unwrap();
    let (source, window) = (id_of("blocks"), id_of("windows"));
    let find = |service: &str, name: &str, task: i64| -> Span {
        spans.iter().find(|s| s.service == service && s.name == name && s.task() == Some(task)).cloned()
            .unwrap_or_else(|| panic!("no {name} span of task {task} from {service}: {spans:#?}"))
    };
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.id.as_str(), s)).collect();

    // The run's trace starts at the API call that triggered it.
    let trigger = spans.iter().find(|s| s.service == "trace-server" && s.name == "POST /api/v1/dags/{dag}/jobs/{job}/trigger").expect("the trigger's span");
    assert!(trigger.parent.is_empty(), "{trigger:?}");
    let run = trigger.trace.clone();

    for task in [source, window] {
        let attempt = find("trace-worker", "attempt", task);
        let dispatch = find("trace-server", "dispatch", task);
        // Claim and attempt are siblings under the span that made the task.
        assert_eq!((attempt.trace.as_str(), dispatch.trace.as_str()), (run.as_str(), run.as_str()), "task {task}");
        assert_eq!(attempt.parent, dispatch.parent, "task {task}");
        assert_eq!(attempt.attrs.get("attempt").map(String::as_str), Some("1"));
        // The sandbox's stages are the attempt's children.
        for stage in ["instantiate", "run"] {
            let s = find("trace-worker", stage, task);
            assert_eq!(s.trace, run);
        }
        // The server's handling of the completion is a child of the worker's report.
        let complete = find("trace-server", "POST /internal/task-complete", task);
        let report = by_id.get(complete.parent.as_str()).unwrap_or_else(|| panic!("the completion's parent: {complete:?}"));
        assert_eq!((report.service.as_str(), report.name.as_str(), report.task()), ("trace-worker", "report", Some(task)));
        assert_eq!(complete.trace, run);
    }
    // The window tasks were made by the source's completion, on the server.
    let made_by = by_id[find("trace-worker", "attempt", window).parent.as_str()];
    assert_eq!((made_by.service.as_str(), made_by.name.as_str(), made_by.task()), ("trace-server", "POST /internal/task-complete", Some(source)));
    // Every task of the run is in its trace, from both processes.
    let traced: HashSet<i64> = spans.iter().filter(|s| s.trace == run).filter_map(Span::task).collect();
    assert_eq!(traced.len(), 5, "{traced:?}");
    let services: HashSet<&str> = spans.iter().filter(|s| s.trace == run).map(|s| s.service.as_str()).collect();
    assert_eq!(services, HashSet::from(["trace-server", "trace-worker"]));
}
