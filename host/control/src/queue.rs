//! The task queue is part of the worker contract (`trace-protocol`).

pub use trace_protocol::queue::*;
