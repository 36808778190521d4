//! What a task leaves behind: on success its outputs, events and state
//! writes; on failure a typed reason. Both carry what the task used.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use trace_core::Event;
use wasmtime::component::ResourceTableError;
use wasmtime::Trap;

use crate::bindings::OperatorError;
use crate::engine::EngineConfig;
use crate::error::TaskError;
use crate::limits::{LimitExceeded, Limits};
use crate::task_state::TaskState;

/// Resources one task consumed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub elapsed: Duration,
    /// Fuel burned, when the engine counts fuel.
    pub fuel_consumed: Option<u64>,
    pub peak_memory_bytes: usize,
    pub output_bytes: u64,
    pub events: u32,
    pub log_bytes: u64,
}

impl Usage {
    pub(crate) fn measure(state: &TaskState, elapsed: Duration, fuel_consumed: Option<u64>) -> Self {
        let log_bytes = state.log.lock().expect("log buffer lock poisoned").bytes.len() as u64;
        Self {
            elapsed,
            fuel_consumed,
            peak_memory_bytes: state.peak_memory_bytes,
            output_bytes: state.output_bytes,
            events: state.events.len() as u32,
            log_bytes,
        }
    }
}

/// A successful task. Nothing here has been committed anywhere yet: the
/// caller commits outputs, events and state writes together.
#[derive(Debug)]
pub struct TaskReport {
    /// Arrow IPC streams written, per output index.
    pub outputs: Vec<Vec<Vec<u8>>>,
    pub events: Vec<Event>,
    /// State changes to commit with the task (`None` deletes the key).
    pub state_writes: HashMap<String, Option<Vec<u8>>>,
    pub log: String,
    pub usage: Usage,
}

impl TaskReport {
    pub(crate) fn from_state(state: TaskState, usage: Usage) -> Self {
        let log = take_log(&state);
        Self {
            outputs: state.outputs,
            events: state.events,
            state_writes: state.state.into_writes(),
            log,
            usage,
        }
    }
}

/// A failed task: why, what it used, and what it logged. Its outputs, events
/// and state writes are dropped.
#[derive(Debug)]
pub struct TaskFailure {
    pub error: TaskError,
    pub log: String,
    pub usage: Usage,
}

impl TaskFailure {
    pub(crate) fn setup(e: wasmtime::Error, started: Instant) -> Self {
        Self { error: TaskError::Setup(e), log: String::new(), usage: Usage { elapsed: started.elapsed(), ..Usage::default() } }
    }

    pub(crate) fn operator(err: OperatorError, state: TaskState, usage: Usage) -> Self {
        let error = match err {
            OperatorError::Retryable(message) => TaskError::Operator { retryable: true, message },
            OperatorError::Fatal(message) => TaskError::Operator { retryable: false, message },
        };
        Self { error, log: take_log(&state), usage }
    }
}

fn take_log(state: &TaskState) -> String {
    let log = state.log.lock().expect("log buffer lock poisoned");
    String::from_utf8_lossy(&log.bytes).into_owned()
}

/// How wasmtime words running out of hostcall fuel (`Limits::max_call_bytes`);
/// its error type is private.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Name the reason a call trapped: a limit the host recorded first, then
/// wasmtime's own traps, then whatever the guest did.
pub(crate) fn classify_failure(
    err: wasmtime::Error,
    state: TaskState,
    usage: Usage,
    limits: &Limits,
    engine: &EngineConfig,
) -> TaskFailure {
    let log_violation = state.log.lock().expect("log buffer lock poisoned").exceeded.clone();
    let error = if let Some(v) = state.violation.clone().or(log_violation) {
        TaskError::Limit(v)
    } else if let Some(ResourceTableError::Full) = err.downcast_ref::<ResourceTableError>() {
        TaskError::Limit(LimitExceeded::HostResources { limit: limits.max_host_resources })
    } else if err.chain().any(|e| e.to_string().contains(HOSTCALL_FUEL_EXHAUSTED)) {
        TaskError::Limit(LimitExceeded::CallBytes { limit: limits.max_call_bytes })
    } else if let Some(trap) = err.downcast_ref::<Trap>() {
        match trap {
            Trap::Interrupt => TaskError::Limit(LimitExceeded::Timeout {
                elapsed_ms: usage.elapsed.as_millis() as u64,
                limit_ms: limits.timeout.as_millis() as u64,
            }),
            Trap::OutOfFuel => TaskError::Limit(LimitExceeded::Fuel { limit: limits.fuel.unwrap_or(u64::MAX) }),
            Trap::StackOverflow => TaskError::Limit(LimitExceeded::Stack { limit: engine.max_wasm_stack }),
            other => TaskError::Trap { trap: Some(*other), message: chain(&err) },
        }
    } else {
        TaskError::Trap { trap: None, message: chain(&err) }
    };
    TaskFailure { error, log: take_log(&state), usage }
}

fn chain(err: &wasmtime::Error) -> String {
    err.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": ")
}
