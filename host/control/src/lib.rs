//! The control plane's moving parts: the [`dispatcher`] meters claimed tasks
//! onto a [`queue`] as thin messages (task ids), and [`worker`]s fetch each
//! task, run its operator in the sandbox and report back, attempt-gated.
//! [`dev`] runs them all in one process on SQLite: `trace dev`.
//!
//! The worker wrapper is its own crate (`trace-worker`, no database) and the
//! contract between them is `trace-protocol`; both are re-exported here.

pub mod completer;
pub mod dev;
pub mod dispatcher;
pub mod janitor;
pub mod metrics;
pub mod plane;
pub mod queue;
pub mod sink;

pub use trace_worker::{inputs, outputs, stream, worker};
