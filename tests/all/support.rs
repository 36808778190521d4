//! Shared fixtures: one runtime per test binary (components compile once),
//! and helpers to build tasks and inputs.

use std::sync::OnceLock;

use arrow_array::RecordBatch;
use trace_core::{InputEvent, Range, TaskContext, VecSource};
use trace_sandbox::{Operator, Runtime, RuntimeConfig, Task, TaskError, TaskFailure, World};

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime starts"))
}

pub fn load(path: &str) -> Operator {
    runtime().load_file(path.as_ref(), World::Transform).unwrap_or_else(|e| panic!("loading {path}: {e:?}"))
}

pub fn task(config: serde_json::Value) -> Task {
    Task::new(TaskContext::local("test-job", config), InputEvent::default())
}

pub fn range_event(start: u64, end: u64) -> InputEvent {
    InputEvent { input: 0, partition_key: format!("{start}_{end}"), range: Some(Range { start, end }), cursor: None }
}

/// `batch` cut into IPC-encoded slices of `rows` rows, as an input source.
pub fn ipc_source(batch: &RecordBatch, rows: usize) -> VecSource {
    VecSource::new(trace_batches::encode_ipc_slices(batch, rows).unwrap())
}

/// Decode every IPC stream of one output and concatenate the rows.
pub fn decode_output(streams: &[Vec<u8>]) -> Vec<RecordBatch> {
    streams.iter().flat_map(|s| trace_batches::decode_ipc(s).unwrap()).collect()
}

/// The no-op operator still runs on the shared host: proof it stayed healthy.
pub fn assert_host_still_serves() {
    let report = load(trace_artifacts::NOOP).run(task(serde_json::json!({})));
    assert!(report.is_ok(), "a normal task failed after an attack: {:?}", report.err());
}

/// The message of a guest's own fatal error (how hostile guests report what
/// they saw).
pub fn fatal_message(f: &TaskFailure) -> &str {
    match &f.error {
        TaskError::Operator { retryable: false, message } => message,
        other => panic!("expected the guest's own fatal error, got {other:?}"),
    }
}

/// Run the hostile operator's attack `name` under `limits`; it must fail,
/// and a normal task must run on the same host afterwards.
pub fn attack(name: &str, limits: trace_sandbox::Limits) -> TaskFailure {
    attack_with(task(serde_json::json!({ "attack": name })).with_limits(limits))
}

/// [`attack`] with a task of the caller's making (state, outputs).
pub fn attack_with(task: Task) -> TaskFailure {
    let op = load(trace_artifacts::HOSTILE);
    let failure = op.run(task).expect_err("the attack must not succeed");
    assert_host_still_serves();
    failure
}

/// The limit a failed task ran into.
pub fn limit_of(f: &TaskFailure) -> &trace_sandbox::LimitExceeded {
    match &f.error {
        TaskError::Limit(l) => l,
        other => panic!("expected a limit error, got {other:?} (log: {})", f.log),
    }
}
