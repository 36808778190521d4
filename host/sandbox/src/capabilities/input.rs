//! `trace:operator/input`: stream input batches from host-side sources.

use crate::bindings::trace::operator::input::Host;
use crate::task_state::TaskState;

impl Host for TaskState {
    fn input_count(&mut self) -> wasmtime::Result<u32> {
        Ok(self.inputs.len() as u32)
    }

    fn read_batch(&mut self, index: u32) -> wasmtime::Result<Result<Option<Vec<u8>>, String>> {
        let count = self.inputs.len();
        let Some(source) = self.inputs.get_mut(index as usize) else {
            return Ok(Err(format!("no input {index}: this job has {count} input(s)")));
        };
        Ok(source.next_batch())
    }
}
