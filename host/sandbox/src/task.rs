//! What the caller hands the sandbox for one task.

use trace_core::{BatchSource, InputEvent, TaskContext};

use crate::capabilities::{EventSink, MemoryState, RpcClient, StateStore};
use crate::limits::Limits;

/// One task: the context and event the operator is called with, the data it
/// may read, how many outputs it has, its state and its limits.
pub struct Task {
    pub context: TaskContext,
    pub event: InputEvent,
    /// One source per wired input, in `inputs:` order.
    pub inputs: Vec<Box<dyn BatchSource>>,
    pub output_count: usize,
    pub state: Box<dyn StateStore>,
    /// The job's RPC client; only reachable from source operators.
    pub rpc: Option<Box<dyn RpcClient>>,
    /// Where events go as they are emitted (besides the report).
    pub event_sink: Option<Box<dyn EventSink>>,
    pub limits: Limits,
}

impl Task {
    /// A task with no inputs, one output, empty state and default limits.
    pub fn new(context: TaskContext, event: InputEvent) -> Self {
        Self {
            context,
            event,
            inputs: Vec::new(),
            output_count: 1,
            state: Box::new(MemoryState::default()),
            rpc: None,
            event_sink: None,
            limits: Limits::default(),
        }
    }

    pub fn with_input(mut self, source: impl BatchSource + 'static) -> Self {
        self.inputs.push(Box::new(source));
        self
    }

    pub fn with_outputs(mut self, count: usize) -> Self {
        self.output_count = count;
        self
    }

    pub fn with_state(mut self, state: impl StateStore + 'static) -> Self {
        self.state = Box::new(state);
        self
    }

    pub fn with_rpc(mut self, rpc: impl RpcClient + 'static) -> Self {
        self.rpc = Some(Box::new(rpc));
        self
    }

    pub fn with_event_sink(mut self, sink: impl EventSink + 'static) -> Self {
        self.event_sink = Some(Box::new(sink));
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
