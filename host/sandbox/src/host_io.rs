//! `wasi:io/poll` and `wasi:io/streams` with the task's deadline.
//!
//! Epoch interruption stops guest code, but not a guest that waits inside a
//! host call: `std::thread::sleep` on wasip2 is a clock subscription and a
//! `pollable.block`, which the stock synchronous bindings wait out in full.
//! Here every call that can wait (`poll`, `pollable.block`, the `blocking-*`
//! stream operations, a stream's drop) runs under a timer set to the task's
//! deadline; at the deadline the task fails with its time-limit error. Calls
//! that never wait go straight to wasmtime-wasi's own implementation.

use std::future::Future;
use std::time::Instant;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::{StreamError, StreamResult};
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi_io::bindings::wasi::io::poll::{Host as AsyncPoll, HostPollable as AsyncPollable};
use wasmtime_wasi_io::bindings::wasi::io::streams::{HostInputStream as AsyncInput, HostOutputStream as AsyncOutput};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

use crate::limits::LimitExceeded;
use crate::task_state::TaskState;

impl TaskState {
    /// The time-limit error, as of now.
    pub(crate) fn timed_out(&self) -> LimitExceeded {
        LimitExceeded::Timeout {
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            limit_ms: self.limits.timeout.as_millis() as u64,
        }
    }

    /// Fail the task with its time-limit error if the deadline has passed
    /// (after a host call that may have run long).
    pub(crate) fn check_deadline(&mut self) -> wasmtime::Result<()> {
        if Instant::now() > self.deadline {
            let late = self.timed_out();
            return Err(self.fail(late));
        }
        Ok(())
    }

    /// A wait's result, or the time-limit trap if it ran into the deadline.
    fn wait_trap<T>(&mut self, waited: Option<wasmtime::Result<T>>) -> wasmtime::Result<T> {
        waited.unwrap_or_else(|| {
            let late = self.timed_out();
            Err(self.fail(late))
        })
    }

    fn wait_stream<T>(&mut self, waited: Option<StreamResult<T>>) -> StreamResult<T> {
        waited.unwrap_or_else(|| {
            let late = self.timed_out();
            Err(StreamError::Trap(self.fail(late)))
        })
    }
}

/// Run `wait` on wasmtime-wasi's executor until it ends (`Some`) or the
/// deadline passes (`None`), whichever comes first.
fn until<T>(deadline: Instant, wait: impl Future<Output = T>) -> Option<T> {
    let deadline = tokio::time::Instant::from_std(deadline);
    // The timer is made inside the executor, where its clock is.
    in_tokio(async move { tokio::time::timeout_at(deadline, wait).await.ok() })
}

impl poll::Host for TaskState {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move { AsyncPoll::poll(table, pollables).await });
        self.wait_trap(waited)
    }
}

impl poll::HostPollable for TaskState {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        poll::HostPollable::ready(&mut self.table, pollable)
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move { AsyncPollable::block(table, pollable).await });
        self.wait_trap(waited)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(&mut self.table, pollable)
    }
}

impl streams::Host for TaskState {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(&mut self.table, err)
    }
}

impl streams::HostInputStream for TaskState {
    fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move { AsyncInput::drop(table, stream).await });
        self.wait_trap(waited)
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(&mut self.table, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move { AsyncInput::blocking_read(table, stream, len).await });
        self.wait_stream(waited)
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(&mut self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move { AsyncInput::blocking_skip(table, stream, len).await });
        self.wait_stream(waited)
    }

    fn subscribe(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostInputStream::subscribe(&mut self.table, stream)
    }
}

impl streams::HostOutputStream for TaskState {
    fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move { AsyncOutput::drop(table, stream).await });
        self.wait_trap(waited)
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(&mut self.table, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        streams::HostOutputStream::write(&mut self.table, stream, bytes)
    }

    fn blocking_write_and_flush(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        let table = &mut self.table;
        let waited =
            until(self.deadline, async move { AsyncOutput::blocking_write_and_flush(table, stream, bytes).await });
        self.wait_stream(waited)
    }

    fn blocking_write_zeroes_and_flush(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move {
            AsyncOutput::blocking_write_zeroes_and_flush(table, stream, len).await
        });
        self.wait_stream(waited)
    }

    fn subscribe(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostOutputStream::subscribe(&mut self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(&mut self.table, stream, len)
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        streams::HostOutputStream::flush(&mut self.table, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move { AsyncOutput::blocking_flush(table, stream).await });
        self.wait_stream(waited)
    }

    fn splice(&mut self, dst: Resource<DynOutputStream>, src: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        streams::HostOutputStream::splice(&mut self.table, dst, src, len)
    }

    fn blocking_splice(&mut self, dst: Resource<DynOutputStream>, src: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        let table = &mut self.table;
        let waited = until(self.deadline, async move { AsyncOutput::blocking_splice(table, dst, src, len).await });
        self.wait_stream(waited)
    }
}
