//! `trace:operator/rpc`: linked only for source jobs. The host-held client
//! makes the call, given the task's deadline; the guest never sees an address
//! or a credential. A call that returns past the deadline fails the task with
//! its time-limit error.

use crate::bindings::trace::operator::rpc::Host;
use crate::task_state::TaskState;

impl Host for TaskState {
    fn call(&mut self, method: String, params: String) -> wasmtime::Result<Result<String, String>> {
        self.check_deadline()?;
        let deadline = self.deadline;
        let answer = match self.rpc.as_mut() {
            Some(client) => client.call(&method, &params, deadline),
            None => Err("this job has no rpc endpoint configured".to_owned()),
        };
        self.check_deadline()?;
        Ok(answer)
    }

    fn call_batch(&mut self, calls: Vec<(String, String)>) -> wasmtime::Result<Result<Vec<Result<String, String>>, String>> {
        self.check_deadline()?;
        let deadline = self.deadline;
        let answer = match self.rpc.as_mut() {
            Some(client) => client.call_batch(&calls, deadline),
            None => Err("this job has no rpc endpoint configured".to_owned()),
        };
        self.check_deadline()?;
        Ok(answer)
    }
}

impl crate::bindings::trace::operator::types::Host for TaskState {}
