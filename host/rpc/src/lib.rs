//! The JSON-RPC client a source job's `rpc` capability calls through. The
//! worker builds one per task from the job's [`RpcSettings`] and the leased
//! slot's [`SlotGrant`]: the URL and headers are rendered from the slot's
//! env and secrets here, on the host, and never reach the guest. What the
//! guest gets back (results and error messages) has every secret value
//! of the slot replaced by `[redacted]`.
//!
//! [`RpcSettings`]: trace_protocol::rpc::RpcSettings
//! [`SlotGrant`]: trace_protocol::rpc::SlotGrant

mod client;
mod jsonrpc;
mod pacing;
mod redact;
mod retry;

pub use client::{http_client, HttpRpc, RpcSetupError, RpcStats, MAX_CALLS};
pub use pacing::{Pacing, SlotPacers, MAX_PACERS};
pub use redact::Redactor;
pub use retry::backoff;
