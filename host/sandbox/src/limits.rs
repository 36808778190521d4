//! Per-task limits. Every limit has a safe default, a `with_*` setter, and a
//! typed error that states the limit, the value seen and what was asked.
//!
//! Besides time and memory, every quantity a guest controls that the host
//! turns into memory, time, disk or database rows is bounded here: a few
//! bytes of Arrow IPC can stand for a billion rows (a `Null` column), a
//! state key costs a database row, a WASI handle a host allocation.

use std::time::Duration;

/// What one task may consume. `Limits::default()` is safe for untrusted code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole call: guest code (epoch interruption),
    /// blocking WASI calls (`poll`, blocking stream operations) and the RPC
    /// capability (both given the task's deadline).
    pub timeout: Duration,
    /// Deterministic CPU budget in fuel units. Needs an engine built with
    /// `EngineConfig::fuel = true`; `None` means no fuel budget.
    pub fuel: Option<u64>,
    /// Total bytes of linear memory across all of the instance's memories.
    pub max_memory_bytes: usize,
    /// Elements across all of the instance's tables.
    pub max_table_elements: usize,
    /// Bytes of Arrow IPC the operator may write across all outputs.
    pub max_output_bytes: u64,
    /// Rows the operator may write across all outputs.
    pub max_output_rows: u64,
    /// Rows of one output record batch.
    pub max_batch_rows: u64,
    /// Array elements across all outputs, nested ones included: a list or
    /// fixed-size list of `n` values counts its rows plus `n`. Bounds what a
    /// few bytes of IPC expand to (a `FixedSizeList<Null>` of 2^30 per row).
    pub max_output_values: u64,
    /// Record batches (IPC messages) the operator may write across all outputs.
    pub max_output_batches: u32,
    /// Top-level columns of one output batch.
    pub max_output_columns: usize,
    /// Fields of one output schema, nested ones included.
    pub max_output_fields: usize,
    /// Nesting depth of an output type (`List<Struct<…>>` is 2 deep).
    pub max_type_depth: usize,
    /// Events the operator may emit.
    pub max_events: u32,
    /// Bytes of log lines, stdout and stderr together.
    pub max_log_bytes: u64,
    /// Bytes of one state value.
    pub max_state_value_bytes: usize,
    /// Bytes of one state key.
    pub max_state_key_bytes: usize,
    /// Distinct state keys one task may write (put or delete).
    pub max_state_keys: usize,
    /// Bytes (key plus value) of the state one task writes.
    pub max_state_bytes: u64,
    /// Keys of the job's whole state, as it would be after this task.
    pub max_job_state_keys: usize,
    /// Bytes (keys plus values) of the job's whole state, as it would be
    /// after this task. Every task of the job is handed all of it.
    pub max_job_state_bytes: u64,
    /// Bytes of an event's partition key or cursor.
    pub max_event_field_bytes: usize,
    /// Host resources (WASI pollables, streams) a guest may hold at once.
    pub max_host_resources: usize,
    /// Bytes the host may allocate to take one call's arguments from the
    /// guest (strings and lists are copied out of guest memory).
    pub max_call_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            fuel: None,
            max_memory_bytes: 256 << 20,
            max_table_elements: 100_000,
            max_output_bytes: 512 << 20,
            max_output_rows: 16 << 20,
            max_batch_rows: 1 << 20,
            max_output_values: 256 << 20,
            max_output_batches: 65_536,
            max_output_columns: 1_024,
            max_output_fields: 4_096,
            max_type_depth: 16,
            max_events: 10_000,
            max_log_bytes: 1 << 20,
            max_state_value_bytes: 1 << 20,
            max_state_key_bytes: 1024,
            max_state_keys: 100_000,
            max_state_bytes: 32 << 20,
            max_job_state_keys: 1_000_000,
            max_job_state_bytes: 128 << 20,
            max_event_field_bytes: 1024,
            max_host_resources: 10_000,
            max_call_bytes: 128 << 20,
        }
    }
}

impl Limits {
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    pub fn with_fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }
    pub fn with_max_memory_bytes(mut self, bytes: usize) -> Self {
        self.max_memory_bytes = bytes;
        self
    }
    pub fn with_max_table_elements(mut self, n: usize) -> Self {
        self.max_table_elements = n;
        self
    }
    pub fn with_max_output_bytes(mut self, bytes: u64) -> Self {
        self.max_output_bytes = bytes;
        self
    }
    pub fn with_max_output_rows(mut self, rows: u64) -> Self {
        self.max_output_rows = rows;
        self
    }
    pub fn with_max_batch_rows(mut self, rows: u64) -> Self {
        self.max_batch_rows = rows;
        self
    }
    pub fn with_max_output_values(mut self, n: u64) -> Self {
        self.max_output_values = n;
        self
    }
    pub fn with_max_output_batches(mut self, n: u32) -> Self {
        self.max_output_batches = n;
        self
    }
    pub fn with_max_output_columns(mut self, n: usize) -> Self {
        self.max_output_columns = n;
        self
    }
    pub fn with_max_events(mut self, n: u32) -> Self {
        self.max_events = n;
        self
    }
    pub fn with_max_log_bytes(mut self, bytes: u64) -> Self {
        self.max_log_bytes = bytes;
        self
    }
    pub fn with_max_state_value_bytes(mut self, bytes: usize) -> Self {
        self.max_state_value_bytes = bytes;
        self
    }
    pub fn with_max_state_keys(mut self, n: usize) -> Self {
        self.max_state_keys = n;
        self
    }
    pub fn with_max_state_bytes(mut self, bytes: u64) -> Self {
        self.max_state_bytes = bytes;
        self
    }
    pub fn with_max_job_state_keys(mut self, n: usize) -> Self {
        self.max_job_state_keys = n;
        self
    }
    pub fn with_max_job_state_bytes(mut self, bytes: u64) -> Self {
        self.max_job_state_bytes = bytes;
        self
    }
    pub fn with_max_host_resources(mut self, n: usize) -> Self {
        self.max_host_resources = n;
        self
    }
    pub fn with_max_call_bytes(mut self, bytes: usize) -> Self {
        self.max_call_bytes = bytes;
        self
    }
}

/// A limit the guest ran into. Display reads like
/// `guest emitted too many events: got=10001, limit=10000`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("guest ran past its time limit: elapsed={elapsed_ms}ms, limit={limit_ms}ms")]
    Timeout { elapsed_ms: u64, limit_ms: u64 },
    #[error("guest ran out of fuel: used all {limit} units, limit={limit}")]
    Fuel { limit: u64 },
    #[error("guest asked for too much linear memory: requested={requested} bytes, limit={limit} bytes")]
    Memory { requested: usize, limit: usize },
    #[error("guest asked for too many table elements: requested={requested}, limit={limit}")]
    TableElements { requested: usize, limit: usize },
    #[error("guest overflowed its stack: max_wasm_stack={limit} bytes")]
    Stack { limit: usize },
    #[error("guest wrote too many output bytes: got={got}, limit={limit}")]
    OutputBytes { got: u64, limit: u64 },
    #[error("guest wrote too many output rows: got={got} (this batch: {batch}), limit={limit}")]
    OutputRows { got: u64, batch: u64, limit: u64 },
    #[error("guest wrote an output batch of too many rows: got={got}, limit={limit}")]
    BatchRows { got: u64, limit: u64 },
    #[error("guest wrote too many output values (array elements, nested ones included): got={got} (this batch: {batch}), limit={limit}")]
    OutputValues { got: u64, batch: u64, limit: u64 },
    #[error("guest wrote too many output batches: got={got}, limit={limit}")]
    OutputBatches { got: u32, limit: u32 },
    #[error("guest wrote an output batch of too many columns: got={got}, limit={limit}")]
    OutputColumns { got: usize, limit: usize },
    #[error("guest wrote an output schema of too many fields (nested ones included): got={got}, limit={limit}")]
    OutputFields { got: usize, limit: usize },
    #[error("guest wrote an output type nested too deep: got={got} levels, limit={limit}")]
    TypeDepth { got: usize, limit: usize },
    #[error("guest emitted too many events: got={got}, limit={limit}")]
    Events { got: u32, limit: u32 },
    #[error("guest logged too many bytes: got={got}, limit={limit}")]
    LogBytes { got: u64, limit: u64 },
    #[error("guest state value too large: key={key:?}, got={got} bytes, limit={limit} bytes")]
    StateValue { key: String, got: usize, limit: usize },
    #[error("guest state key too large: got={got} bytes, limit={limit} bytes")]
    StateKey { got: usize, limit: usize },
    #[error("guest wrote too many state keys in one task: got={got}, limit={limit}")]
    StateKeys { got: usize, limit: usize },
    #[error("guest wrote too many state bytes in one task: got={got}, limit={limit}")]
    StateBytes { got: u64, limit: u64 },
    #[error("the job's state would hold too many keys: got={got}, limit={limit}")]
    JobStateKeys { got: usize, limit: usize },
    #[error("the job's state would hold too many bytes: got={got}, limit={limit}")]
    JobStateBytes { got: u64, limit: u64 },
    #[error("guest event {field} too large: got={got} bytes, limit={limit} bytes")]
    EventField { field: &'static str, got: usize, limit: usize },
    #[error("guest holds too many host resources (WASI pollables and streams): limit={limit}")]
    HostResources { limit: usize },
    #[error("guest passed the host too much data in one call: limit={limit} bytes")]
    CallBytes { limit: usize },
}
