//! Per-task limits. Every limit has a safe default, a `with_*` setter, and a
//! typed error that states the limit, the value seen and what was asked.

use std::time::Duration;

/// What one task may consume. `Limits::default()` is safe for untrusted code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole call, enforced by epoch interruption.
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
    /// Events the operator may emit.
    pub max_events: u32,
    /// Bytes of log lines, stdout and stderr together.
    pub max_log_bytes: u64,
    /// Bytes of one state value.
    pub max_state_value_bytes: usize,
    /// Bytes of one state key.
    pub max_state_key_bytes: usize,
    /// Bytes of an event's partition key or cursor.
    pub max_event_field_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            fuel: None,
            max_memory_bytes: 256 << 20,
            max_table_elements: 100_000,
            max_output_bytes: 512 << 20,
            max_events: 10_000,
            max_log_bytes: 1 << 20,
            max_state_value_bytes: 1 << 20,
            max_state_key_bytes: 1024,
            max_event_field_bytes: 1024,
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
    #[error("guest emitted too many events: got={got}, limit={limit}")]
    Events { got: u32, limit: u32 },
    #[error("guest logged too many bytes: got={got}, limit={limit}")]
    LogBytes { got: u64, limit: u64 },
    #[error("guest state value too large: key={key:?}, got={got} bytes, limit={limit} bytes")]
    StateValue { key: String, got: usize, limit: usize },
    #[error("guest state key too large: got={got} bytes, limit={limit} bytes")]
    StateKey { got: usize, limit: usize },
    #[error("guest event {field} too large: got={got} bytes, limit={limit} bytes")]
    EventField { field: &'static str, got: usize, limit: usize },
}
