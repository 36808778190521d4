//! The worker contract. A worker is given a [`TaskPayload`] (the task, its
//! attempt's credential, where its inputs are and where its outputs go) and
//! reports a [`Completion`] (outcome, events, state writes, the files it
//! wrote) to a [`ControlPlane`]; task ids reach it through a [`TaskQueue`].
//! The system database implements the control plane; the worker, the
//! internal API and the queues depend on this crate, not on each other.
//!
//! [`TaskPayload`]: contract::TaskPayload
//! [`Completion`]: contract::Completion
//! [`ControlPlane`]: plane::ControlPlane
//! [`TaskQueue`]: queue::TaskQueue

pub mod buffered;
pub mod contract;
pub mod plane;
pub mod queue;
pub mod rpc;
pub mod wire;
