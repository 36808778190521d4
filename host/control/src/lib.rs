//! The control plane's moving parts: the [`dispatcher`] meters claimed tasks
//! onto a [`queue`] as thin messages (task ids), and [`worker`]s fetch each
//! task, run its operator in the sandbox and report back, attempt-gated.
//! [`dev`] runs them all in one process on SQLite: `trace dev`.

pub mod completer;
pub mod dev;
pub mod dispatcher;
pub mod inputs;
pub mod outputs;
pub mod plane;
pub mod queue;
pub mod stream;
pub mod worker;
