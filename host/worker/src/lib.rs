//! The worker wrapper: takes task ids from a queue, fetches each task from
//! the control plane, runs its operator in the sandbox over its inputs, writes
//! its outputs to storage and reports the attempt. It never sees the system
//! database: everything it knows comes through the worker contract
//! (`trace-protocol`).

mod context;
mod error;
pub mod failure;
pub mod inputs;
pub mod meter;
pub mod outputs;
mod persist;
pub mod remote;
pub mod rpc;
pub mod prepare;
mod report;
mod run;
pub mod stream;
pub mod worker;
