//! `trace:operator/rpc`: linked only for source jobs. The host-held client
//! makes the call; the guest never sees an address or a credential.

use crate::bindings::trace::operator::rpc::Host;
use crate::task_state::TaskState;

impl Host for TaskState {
    fn call(&mut self, method: String, params: String) -> wasmtime::Result<Result<String, String>> {
        Ok(match self.rpc.as_mut() {
            Some(client) => client.call(&method, &params),
            None => Err("this job has no rpc endpoint configured".to_owned()),
        })
    }
}

impl crate::bindings::trace::operator::types::Host for TaskState {}
