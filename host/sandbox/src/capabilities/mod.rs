//! The host side of each `trace:operator` interface, one module per
//! capability. Each implementation treats what the guest passes as untrusted:
//! sizes and counts are charged against the task's [`crate::Limits`].

pub(crate) mod columns;
mod events;
mod input;
mod log;
mod output;
mod rpc;
mod state;

use std::collections::HashMap;


/// Told of each event as the guest emits it (after its checks), so the
/// caller can stream events while the task still runs. The report still
/// carries every event.
pub trait EventSink: Send {
    fn emitted(&mut self, event: &trace_core::Event);
}

/// Durable operator state underneath a task, scoped by the caller to one
/// `(org, job)`. The sandbox only reads from it; writes come back in the
/// task report and are committed with the task's completion.
pub trait StateStore: Send {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Bytes of `key`'s value, if it has one.
    fn value_len(&self, key: &str) -> Option<usize>;
    /// The whole state's keys and bytes (keys plus values), which the job's
    /// state limits are charged against.
    fn totals(&self) -> StateTotals;
}

/// How much state a job holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateTotals {
    pub keys: usize,
    pub bytes: u64,
}

/// State held in memory (local runs and tests).
#[derive(Debug, Clone, Default)]
pub struct MemoryState(pub HashMap<String, Vec<u8>>);

impl StateStore for MemoryState {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.get(key).cloned()
    }

    fn value_len(&self, key: &str) -> Option<usize> {
        self.0.get(key).map(Vec::len)
    }

    fn totals(&self) -> StateTotals {
        let bytes = self.0.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
        StateTotals { keys: self.0.len(), bytes }
    }
}

impl MemoryState {
    /// Apply a task's state writes (`None` deletes).
    pub fn apply(&mut self, writes: HashMap<String, Option<Vec<u8>>>) {
        for (k, v) in writes {
            match v {
                Some(v) => {
                    self.0.insert(k, v);
                }
                None => {
                    self.0.remove(&k);
                }
            }
        }
    }
}

/// The RPC endpoint of a source job. The host holds the endpoint and its
/// credentials; the guest only names a method and passes JSON parameters.
///
/// The call is given the task's deadline and must return by it (with an
/// error if need be); the sandbox fails the task with its time-limit error
/// if it does not.
pub trait RpcClient: Send {
    fn call(&mut self, method: &str, params: &str, deadline: std::time::Instant) -> Result<String, String>;

    /// Several calls; each one's result or error, in order. By default one
    /// after another.
    fn call_batch(&mut self, calls: &[(String, String)], deadline: std::time::Instant) -> Result<Vec<Result<String, String>>, String> {
        Ok(calls.iter().map(|(method, params)| self.call(method, params, deadline)).collect())
    }
}
