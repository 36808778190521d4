//! The guest's stdout and stderr: captured into the task's log buffer and
//! charged against `Limits::max_log_bytes`, never written to the host's
//! terminal.

use std::sync::{Arc, Mutex};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::limits::LimitExceeded;

/// Log bytes of one task: `log` lines, stdout and stderr share one budget.
#[derive(Debug)]
pub struct LogBuffer {
    pub bytes: Vec<u8>,
    pub limit: u64,
    /// Set when a write would have crossed the limit.
    pub exceeded: Option<LimitExceeded>,
}

impl LogBuffer {
    pub fn new(limit: u64) -> Self {
        Self { bytes: Vec::new(), limit, exceeded: None }
    }

    /// Append `data`, or record the violation and refuse.
    pub fn append(&mut self, data: &[u8]) -> Result<(), LimitExceeded> {
        let got = self.bytes.len() as u64 + data.len() as u64;
        if got > self.limit {
            let err = LimitExceeded::LogBytes { got, limit: self.limit };
            self.exceeded = Some(err.clone());
            return Err(err);
        }
        self.bytes.extend_from_slice(data);
        Ok(())
    }
}

/// A stdout/stderr stream that appends to a shared [`LogBuffer`].
#[derive(Clone)]
pub struct CapturedOutput(pub Arc<Mutex<LogBuffer>>);

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only the synchronous p2 interfaces are linked; nothing reaches this.
        Box::new(tokio::io::sink())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        let mut log = self.0.lock().expect("log buffer lock poisoned");
        log.append(&bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always grant a write so an overflow reaches `write` and is reported
        // as the log limit rather than as a closed stream.
        Ok(64 << 10)
    }
}
