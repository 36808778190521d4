//! Everything one task's store holds: its WASI context (deny-by-default), its
//! capability state (inputs, outputs, events, state, log), the counters its
//! limits are charged against, and the first limit it ran into.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use trace_core::{BatchSource, Event};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::{EventSink, RpcClient, StateStore};
use crate::guest_stdio::{CapturedOutput, LogBuffer};
use crate::limits::{LimitExceeded, Limits};
use crate::engine::{MAX_CORE_INSTANCES, MAX_MEMORIES_PER_COMPONENT, MAX_TABLES_PER_COMPONENT};
use crate::state_overlay::StateOverlay;

/// Bytes of randomness one `wasi:random` call may ask for (wasmtime-wasi's
/// own default is 64 MiB, allocated by the host per call).
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// Store data of one task. Never reused: a new task gets a new store.
pub struct TaskState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: Limits,
    pub(crate) inputs: Vec<Box<dyn BatchSource>>,
    pub(crate) outputs: Vec<Vec<Vec<u8>>>,
    pub(crate) output_bytes: u64,
    pub(crate) output_rows: u64,
    pub(crate) output_values: u64,
    pub(crate) output_batches: u32,
    pub(crate) events: Vec<Event>,
    pub(crate) event_sink: Option<Box<dyn EventSink>>,
    pub(crate) state: StateOverlay,
    pub(crate) log: Arc<Mutex<LogBuffer>>,
    pub(crate) rpc: Option<Box<dyn RpcClient>>,
    pub(crate) memory_bytes: usize,
    pub(crate) peak_memory_bytes: usize,
    pub(crate) table_elements: usize,
    /// When the task started, and when its time is up (`started + timeout`).
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    /// The first limit the guest ran into; it explains the trap that follows.
    pub(crate) violation: Option<LimitExceeded>,
}

impl TaskState {
    pub(crate) fn new(
        started: Instant,
        limits: Limits,
        inputs: Vec<Box<dyn BatchSource>>,
        output_count: usize,
        state: Box<dyn StateStore>,
        rpc: Option<Box<dyn RpcClient>>,
    ) -> Self {
        let log = Arc::new(Mutex::new(LogBuffer::new(limits.max_log_bytes)));
        // `WasiCtx::builder()` starts closed: no stdin, no environment, no
        // arguments, no preopened directories, every socket denied. Only
        // stdout/stderr are given, and they go to the task's bounded log.
        let wasi = WasiCtx::builder()
            .stdout(CapturedOutput(log.clone()))
            .stderr(CapturedOutput(log.clone()))
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_host_resources);
        let deadline = started + limits.timeout;
        Self {
            wasi,
            table,
            limits,
            inputs,
            outputs: vec![Vec::new(); output_count],
            output_bytes: 0,
            output_rows: 0,
            output_values: 0,
            output_batches: 0,
            events: Vec::new(),
            event_sink: None,
            state: StateOverlay::new(state),
            log,
            rpc,
            memory_bytes: 0,
            peak_memory_bytes: 0,
            table_elements: 0,
            started,
            deadline,
            violation: None,
        }
    }

    /// Record `err` (keeping the first one) and turn it into a trap.
    pub(crate) fn fail(&mut self, err: LimitExceeded) -> wasmtime::Error {
        let trap = wasmtime::Error::msg(err.to_string());
        self.violation.get_or_insert(err);
        trap
    }
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Charges linear memory and tables against the task's limits. A refused
/// growth traps at once with the limit recorded, rather than letting the
/// guest's allocator report a vague out-of-memory later.
impl ResourceLimiter for TaskState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let requested = self.memory_bytes - current.min(self.memory_bytes) + desired;
        if requested > self.limits.max_memory_bytes {
            let limit = self.limits.max_memory_bytes;
            return Err(self.fail(LimitExceeded::Memory { requested, limit }));
        }
        self.memory_bytes = requested;
        self.peak_memory_bytes = self.peak_memory_bytes.max(requested);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let requested = self.table_elements - current.min(self.table_elements) + desired;
        if requested > self.limits.max_table_elements {
            let limit = self.limits.max_table_elements;
            return Err(self.fail(LimitExceeded::TableElements { requested, limit }));
        }
        self.table_elements = requested;
        Ok(true)
    }

    fn instances(&self) -> usize {
        // Components are bounded at load (`RuntimeConfig::max_core_instances`).
        MAX_CORE_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES_PER_COMPONENT as usize
    }

    fn tables(&self) -> usize {
        MAX_TABLES_PER_COMPONENT as usize
    }
}
