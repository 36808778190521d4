//! `trace:operator/state`: durable per-(org, job) operator state with bounded
//! keys and values, and bounded in what a task writes and the job holds
//! (charged by [`crate::state_overlay`]).

use crate::bindings::trace::operator::state::Host;
use crate::limits::LimitExceeded;
use crate::task_state::TaskState;

impl TaskState {
    fn check_key(&mut self, key: &str) -> wasmtime::Result<()> {
        let limit = self.limits.max_state_key_bytes;
        if key.len() > limit {
            return Err(self.fail(LimitExceeded::StateKey { got: key.len(), limit }));
        }
        Ok(())
    }
}

impl Host for TaskState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.check_key(&key)?;
        Ok(self.state.get(&key))
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        self.check_key(&key)?;
        let limit = self.limits.max_state_value_bytes;
        if value.len() > limit {
            return Err(self.fail(LimitExceeded::StateValue { key, got: value.len(), limit }));
        }
        let charged = self.state.put(key, value, &self.limits);
        charged.map_err(|e| self.fail(e))?;
        Ok(Ok(()))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.check_key(&key)?;
        let charged = self.state.delete(key, &self.limits);
        charged.map_err(|e| self.fail(e))
    }
}
