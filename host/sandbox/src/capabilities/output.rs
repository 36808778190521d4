//! `trace:operator/output`: collect output batches, charged against
//! `max_output_bytes`. Nothing is visible outside the task until it succeeds.

use crate::bindings::trace::operator::output::Host;
use crate::limits::LimitExceeded;
use crate::task_state::TaskState;

impl Host for TaskState {
    fn write_batch(&mut self, index: u32, batch: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let count = self.outputs.len();
        if index as usize >= count {
            return Ok(Err(format!("no output {index}: this job has {count} output(s)")));
        }
        let got = self.output_bytes + batch.len() as u64;
        let limit = self.limits.max_output_bytes;
        if got > limit {
            return Err(self.fail(LimitExceeded::OutputBytes { got, limit }));
        }
        self.output_bytes = got;
        self.outputs[index as usize].push(batch);
        Ok(Ok(()))
    }
}
