//! JavaScript and Python operators, built from this repository's sources with
//! the pinned componentize-qjs and componentize-py, run in the real host:
//! the example UDF gives the same rows in all three languages, and the
//! attacks that can be written in JS and Python are contained.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use arrow_array::RecordBatch;
use serde_json::json;
use trace_core::{InputEvent, Range, TaskContext, VecSource};
use trace_opkit::Built;
use trace_sandbox::{LimitExceeded, Limits, LoadError, Operator, Runtime, RuntimeConfig, Task, TaskError, World};

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime starts"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `operators/<name>` built once per test binary (and reused across runs
/// while its sources are unchanged).
fn built(name: &str) -> Built {
    static BUILT: Mutex<Option<HashMap<String, Built>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(b) = built.get(name) {
        return b.clone();
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("opkit").join(name);
    let b = trace_opkit::build(&repo().join("operators").join(name), Some(&out))
        .unwrap_or_else(|e| panic!("building operators/{name}: {e}"));
    built.insert(name.into(), b.clone());
    b
}

fn load(name: &str) -> Operator {
    let b = built(name);
    runtime().load_file(&b.path, World::Transform).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn task(config: serde_json::Value) -> Task {
    Task::new(TaskContext::local("test-job", config), InputEvent::default())
}

fn ipc_source(batch: &RecordBatch, rows: usize) -> VecSource {
    VecSource::new(trace_batches::encode_ipc_slices(batch, rows).unwrap())
}

fn output_rows(streams: &[Vec<u8>]) -> RecordBatch {
    let batches: Vec<_> = streams.iter().flat_map(|s| trace_batches::decode_ipc(s).unwrap()).collect();
    arrow_select::concat::concat_batches(&erc20_logic::transfers_schema(), &batches).unwrap()
}

#[test]
fn the_example_udf_gives_the_same_rows_in_rust_javascript_and_python() {
    let logs = erc20_logic::synthetic_logs(1_000, 5_000, 7);
    let min_value = 5_000_000u128;
    let expected = erc20_logic::filter_transfers(&logs, min_value).unwrap();
    assert!(expected.num_rows() > 100, "the sample must exercise the filter");
    let event = InputEvent { input: 0, partition_key: "1000_6000".into(), range: Some(Range { start: 1000, end: 6000 }), cursor: None };

    let rust = runtime().load_file(trace_artifacts::ERC20_TRANSFERS.as_ref(), World::Transform).unwrap();
    let js = load("erc20_transfers_js");
    let py = load("erc20_transfers_py");
    let mut reports = Vec::new();
    for (lang, op) in [("rust", &rust), ("js", &js), ("python", &py)] {
        let config = json!({ "min_value": min_value.to_string() });
        let t = Task::new(TaskContext::local("erc20", config), event.clone()).with_input(ipc_source(&logs, 1_024));
        let report = op.run(t).unwrap_or_else(|f| panic!("{lang}: {:?}\n{}", f.error, f.log));
        assert_eq!(output_rows(&report.outputs[0]), expected, "{lang} rows differ from the native filter");
        assert_eq!(report.events.len(), 1, "{lang}");
        assert_eq!(report.events[0].range, event.range, "{lang}");
        assert_eq!(report.events[0].partition_key, event.partition_key, "{lang}");
        reports.push((lang, report));
    }
    let kept = format!("kept {} of {} logs (min_value={min_value})", expected.num_rows(), logs.num_rows());
    for (lang, report) in &reports {
        assert!(report.log.contains(&kept), "{lang} log: {}", report.log);
    }
}

#[test]
fn every_language_keeps_only_the_blocks_of_its_window() {
    // Blocks 1000..1500 in the input; the task's window is [1100, 1300).
    let logs = erc20_logic::synthetic_logs(1_000, 5_000, 7);
    let expected = erc20_logic::filter_transfers_in(&logs, 0, Some((1_100, 1_300))).unwrap();
    assert!(expected.num_rows() > 0 && expected.num_rows() < erc20_logic::filter_transfers(&logs, 0).unwrap().num_rows());
    let event = InputEvent { input: 0, partition_key: "1100_1300".into(), range: Some(Range { start: 1_100, end: 1_300 }), cursor: None };
    let rust = runtime().load_file(trace_artifacts::ERC20_TRANSFERS.as_ref(), World::Transform).unwrap();
    for (lang, op) in [("rust", &rust), ("js", &load("erc20_transfers_js")), ("python", &load("erc20_transfers_py"))] {
        let t = Task::new(TaskContext::local("erc20", json!({})), event.clone()).with_input(ipc_source(&logs, 1_024));
        let report = op.run(t).unwrap_or_else(|f| panic!("{lang}: {:?}\n{}", f.error, f.log));
        assert_eq!(output_rows(&report.outputs[0]), expected, "{lang} kept rows outside its window");
    }
}

/// The message of component `name`'s own fatal error.
fn fatal_message<'a>(name: &str, f: &'a trace_sandbox::TaskFailure) -> &'a str {
    match &f.error {
        TaskError::Operator { retryable: false, message } => message,
        other => panic!("{name}: expected a fatal operator error, got {other:?}"),
    }
}

#[test]
fn a_bad_threshold_is_a_fatal_error_in_every_language() {
    for name in ["erc20_transfers_js", "erc20_transfers_py"] {
        let failure = load(name).run(task(json!({ "min_value": "-5" }))).expect_err("bad config must fail");
        let message = fatal_message(name, &failure);
        assert!(message.contains("config.min_value must be a non-negative integer"), "{name}: {message}")
    }
}

fn attack(name: &str, kind: &str, limits: Limits) -> trace_sandbox::TaskFailure {
    let failure = load(name).run(task(json!({ "attack": kind })).with_limits(limits)).expect_err("the attack must not succeed");
    // The same host, and the same component, serve a normal task afterwards.
    let after = load(name).run(task(json!({ "attack": "none" })));
    assert!(after.is_ok(), "{name}: a normal task failed after {kind}: {:?}", after.err());
    failure
}

fn limit_of(name: &str, f: &trace_sandbox::TaskFailure) -> LimitExceeded {
    match &f.error {
        TaskError::Limit(l) => l.clone(),
        other => panic!("{name}: expected a limit error, got {other:?} (log: {})", f.log),
    }
}

#[test]
fn a_js_or_python_task_never_sees_what_an_earlier_one_left() {
    // Each task bumps a module-level counter and fills a map of 4,096
    // entries, then reports what it found; instances come from the same
    // pool slots, reset in place between tasks.
    for name in ["hostile_js", "hostile_py"] {
        for run in 0..4 {
            let failure = load(name).run(task(json!({ "attack": "remember" }))).expect_err("remember reports through an error");
            let message = fatal_message(name, &failure);
            assert!(message.contains("runs_before=0 marks_before=0"), "{name}, task {run}: {message}")
        }
    }
}

#[test]
fn an_infinite_loop_in_js_or_python_is_stopped_at_the_time_limit() {
    for name in ["hostile_js", "hostile_py"] {
        let f = attack(name, "loop", Limits::default().with_timeout(Duration::from_millis(300)));
        assert!(matches!(limit_of(name, &f), LimitExceeded::Timeout { limit_ms: 300, .. }), "{name}: {:?}", f.error);
    }
}

#[test]
fn a_memory_bomb_in_js_or_python_is_refused_at_the_memory_limit() {
    for name in ["hostile_js", "hostile_py"] {
        let f = attack(name, "memory", Limits::default().with_max_memory_bytes(128 << 20));
        match limit_of(name, &f) {
            LimitExceeded::Memory { requested, limit } => assert!(limit == 128 << 20 && requested > limit),
            other => panic!("{name}: expected the memory limit, got {other}"),
        }
        assert!(f.usage.peak_memory_bytes <= 128 << 20, "{name}");
    }
}

#[test]
fn output_event_and_log_floods_in_js_or_python_are_cut_at_their_limits() {
    for name in ["hostile_js", "hostile_py"] {
        let f = attack(name, "output_flood", Limits::default().with_max_output_bytes(4 << 20));
        assert!(matches!(limit_of(name, &f), LimitExceeded::OutputBytes { limit, got } if limit == 4 << 20 && got > limit));
        let f = attack(name, "event_flood", Limits::default());
        assert_eq!(limit_of(name, &f), LimitExceeded::Events { got: 10_001, limit: 10_000 }, "{name}");
        let f = attack(name, "log_flood", Limits::default().with_max_log_bytes(64 << 10));
        assert!(matches!(limit_of(name, &f), LimitExceeded::LogBytes { limit, .. } if limit == 64 << 10));
    }
}

/// Built with WASI left in (`stub_wasi: false`) and a world that adds a
/// socket and an HTTP client: Python's own runtime then imports
/// `wasi:sockets` too. Either way the host refuses the component.
#[test]
fn js_and_python_components_that_import_sockets_or_http_are_refused_at_load() {
    for name in ["hostile_js_net", "hostile_py_net"] {
        let b = built(name);
        let err = runtime().load_file(&b.path, World::Transform).err().unwrap_or_else(|| panic!("{name} was admitted"));
        match &err {
            LoadError::ForbiddenImport { import, .. } => {
                assert!(import.starts_with("wasi:sockets/") || import.starts_with("wasi:http/"), "{name}: {import}")
            }
            other => panic!("{name}: expected a refused import, got {other}"),
        }
        assert!(err.to_string().contains("network") || err.to_string().contains("HTTP"), "{name}: {err}");
    }
}

#[test]
fn inspection_shows_why_a_python_instance_costs_hundreds_of_microseconds() {
    let shape_of = |path: &Path| trace_sandbox::shape(&std::fs::read(path).unwrap()).unwrap();
    let python = shape_of(&built("erc20_transfers_py").path);
    // componentize-py links CPython's shared libraries into dozens of core
    // modules whose table entries sit at an imported base: written per task.
    assert!(python.core_modules >= 20, "{python:?}");
    assert!(python.eager_table_entries > 1_000 && python.lazy_table_entries == 0, "{python:?}");
    assert!(python.is_heavy(), "{python:?}");
    // Its heap snapshot is one module's own memory: mapped, not copied.
    assert!(python.mapped_data_bytes > 1 << 20 && python.copied_data_bytes == 0, "{python:?}");

    let js = shape_of(&built("erc20_transfers_js").path);
    assert!(js.core_modules > 1 && !js.is_heavy(), "{js:?}");
    let rust = shape_of(Path::new(trace_artifacts::ERC20_TRANSFERS));
    assert!(!rust.is_heavy() && rust.copied_data_bytes == 0, "{rust:?}");
    assert!(rust.function_imports + rust.eager_table_entries < python.function_imports + python.eager_table_entries / 10, "{rust:?}");
}

#[test]
fn js_and_python_components_import_nothing_but_trace_interfaces() {
    for name in ["erc20_transfers_js", "erc20_transfers_py"] {
        let b = built(name);
        let inspection = runtime().inspect(&std::fs::read(&b.path).unwrap()).unwrap();
        assert!(!inspection.imports.is_empty());
        for (import, _) in &inspection.imports {
            assert!(import.starts_with("trace:operator/"), "{name} imports {import}");
        }
    }
}

#[test]
fn an_unchanged_project_is_not_rebuilt() {
    let first = built("erc20_transfers_js");
    let out = first.path.parent().unwrap();
    let again = trace_opkit::build(&repo().join("operators/erc20_transfers_js"), Some(out)).unwrap();
    assert!(again.reused, "an unchanged project must reuse its component");
    assert_eq!(again.digest, first.digest);
}

#[test]
fn a_tool_failure_is_reported_with_what_the_tool_said() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("operator.yaml"), "name: broken\nlanguage: js\nentry: operator.js\n").unwrap();
    std::fs::write(dir.path().join("operator.js"), "export const run = (;\n").unwrap();
    let err = trace_opkit::build(dir.path(), None).expect_err("a syntax error must fail the build");
    match &err {
        trace_opkit::OpkitError::ToolFailed { tool, output, .. } => {
            assert!(tool.starts_with("componentize-qjs"), "{tool}");
            assert!(!output.trim().is_empty(), "the tool's own message is kept");
        }
        other => panic!("expected a tool failure, got {other}"),
    }
    assert!(!dir.path().join("build/broken.wasm").exists(), "no component is left behind");
}

/// (alert_key, severity, event_time) of each row of an `alert_events` output.
fn alert_rows(lang: &str, streams: &[Vec<u8>]) -> Vec<(String, String, i64)> {
    use trace_protocol::buffered::TableSchema;
    let rows = trace_batches::rows_of(&TableSchema::alert_events(), streams).unwrap_or_else(|e| panic!("{lang}: the alerts do not fit alert_events: {e}"));
    rows.iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned(), r[2].as_i64().unwrap()))
        .collect()
}

#[test]
fn the_example_detector_writes_the_same_alerts_in_rust_javascript_and_python() {
    let logs = erc20_logic::synthetic_logs(1_000, 5_000, 7);
    let transfers = erc20_logic::filter_transfers(&logs, 1_000_000_000_000).unwrap();
    let min_value = 90_000_000_000_000u128;
    let config = json!({ "min_value": min_value.to_string(), "severity": "critical", "genesis_ms": 1_000_000, "block_ms": 2_000 });
    let rust = runtime().load_file(trace_artifacts::ALERT_LARGE_TRANSFERS.as_ref(), World::Transform).unwrap();
    let mut all = Vec::new();
    for (lang, op) in [("rust", &rust), ("js", &load("alert_large_transfers_js")), ("python", &load("alert_large_transfers_py"))] {
        let t = Task::new(TaskContext::local("detector", config.clone()), InputEvent::default()).with_input(ipc_source(&transfers, 512));
        let report = op.run(t).unwrap_or_else(|f| panic!("{lang}: {:?}\n{}", f.error, f.log));
        assert!(report.events.is_empty(), "{lang}: a buffered output's event is the platform's");
        all.push((lang, alert_rows(lang, &report.outputs[0])));
    }
    let (_, expected) = &all[0];
    assert!(expected.len() > 3, "the sample must raise alerts: {}", expected.len());
    for (block, log) in expected.iter().map(|(k, _, _)| k.split(':').skip(1).map(|n| n.parse::<u64>().unwrap()).collect::<Vec<_>>()).map(|v| (v[0], v[1])) {
        assert!(block >= 1_000 && log < 10);
    }
    assert!(expected.iter().all(|(_, s, t)| s == "critical" && (t - 1_000_000) % 2_000 == 0));
    for (lang, got) in &all[1..] {
        assert_eq!(got, expected, "{lang} alerts differ from Rust's");
    }
}
