//! `trace:operator/events`: collect emitted events, bounded in count and in
//! the size of their fields.

use crate::bindings::trace::operator::events::Host;
use crate::bindings::WitEvent;
use crate::limits::LimitExceeded;
use crate::task_state::TaskState;

impl Host for TaskState {
    fn emit(&mut self, event: WitEvent) -> wasmtime::Result<Result<(), String>> {
        let got = self.events.len() as u32 + 1;
        let limit = self.limits.max_events;
        if got > limit {
            return Err(self.fail(LimitExceeded::Events { got, limit }));
        }
        let field_limit = self.limits.max_event_field_bytes;
        let fields = [
            ("partition-key", event.partition_key.len()),
            ("cursor", event.cursor.as_ref().map_or(0, String::len)),
        ];
        for (field, got) in fields {
            if got > field_limit {
                return Err(self.fail(LimitExceeded::EventField { field, got, limit: field_limit }));
            }
        }
        if event.output as usize >= self.outputs.len() {
            let count = self.outputs.len();
            return Ok(Err(format!("no output {}: this job has {count} output(s)", event.output)));
        }
        if let Some(r) = &event.range
            && r.start > r.end {
                return Ok(Err(format!("event range is backwards: start={} > end={}", r.start, r.end)));
            }
        let event = event.into();
        if let Some(sink) = self.event_sink.as_mut() {
            sink.emitted(&event);
        }
        self.events.push(event);
        Ok(Ok(()))
    }
}
