//! Host bindings for the `trace:operator` WIT package, generated once from the
//! repository's `wit/` directory. The `source` world is a superset of
//! `transform`, so one set of bindings serves both; the linker decides which
//! interfaces a given operator actually gets.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "source",
    imports: { default: trappable },
});

pub use trace::operator::types::{
    Event as WitEvent, InputEvent as WitInputEvent, Range as WitRange,
    TaskContext as WitTaskContext,
};

impl From<trace_core::Range> for WitRange {
    fn from(r: trace_core::Range) -> Self {
        Self { start: r.start, end: r.end }
    }
}

impl From<WitRange> for trace_core::Range {
    fn from(r: WitRange) -> Self {
        Self { start: r.start, end: r.end }
    }
}

impl From<&trace_core::InputEvent> for WitInputEvent {
    fn from(e: &trace_core::InputEvent) -> Self {
        Self {
            input: e.input,
            partition_key: e.partition_key.clone(),
            range: e.range.map(Into::into),
            cursor: e.cursor.clone(),
        }
    }
}

impl From<&trace_core::TaskContext> for WitTaskContext {
    fn from(c: &trace_core::TaskContext) -> Self {
        Self {
            task_id: c.task_id.clone(),
            attempt: c.attempt,
            job: c.job.clone(),
            org: c.org.clone(),
            config: c.config.to_string(),
        }
    }
}

impl From<WitEvent> for trace_core::Event {
    fn from(e: WitEvent) -> Self {
        Self {
            output: e.output,
            partition_key: e.partition_key,
            range: e.range.map(Into::into),
            cursor: e.cursor,
        }
    }
}
