//! A source task's host-held RPC client: the job's `rpc:` settings, the
//! leased slot's env and secrets (fetched from the control plane for this
//! attempt only), and the process's shared HTTP client. The grant lives in
//! the client on the host; the guest gets replies, never a URL or key.

use std::time::Instant;

use tokio::runtime::Handle;
use trace_protocol::contract::TaskPayload;
use trace_protocol::plane::PlaneError;
use trace_rpc::HttpRpc;
use trace_sandbox::RpcClient;

use crate::context::WorkerContext;
use crate::failure::{error_chain, Failure};

/// The client for `payload`'s task, if its job has `rpc:` settings.
pub async fn client(ctx: &WorkerContext, payload: &TaskPayload) -> Result<Option<SandboxRpc>, Failure> {
    let (Some(settings), Some(auth)) = (&payload.rpc, &payload.attempt) else { return Ok(None) };
    let grant = ctx.plane.slot_grant(auth).await.map_err(|e| Failure {
        retryable: !matches!(e, PlaneError::Refused { .. }),
        message: format!("the worker slot's credentials: {}", error_chain(&e)),
    })?;
    let rpc = HttpRpc::new(settings, &grant, ctx.rpc_http()).map_err(|e| Failure::fatal(format!("the job's rpc settings: {e}")))?;
    // The slot's pacing carries over from its previous task in this process.
    let slot = grant.slot.map_or_else(|| "none".to_owned(), |s| s.to_string());
    let rpc = rpc.with_pacing(ctx.rpc_pacers.get(&format!("{}:{slot}", payload.job), settings.requests_per_second));
    Ok(Some(SandboxRpc::new(rpc)))
}

/// [`HttpRpc`] as the sandbox calls it: from the task's blocking thread.
pub struct SandboxRpc {
    pub rpc: HttpRpc,
    handle: Handle,
}

impl SandboxRpc {
    /// Must be called inside a Tokio runtime: calls block on it.
    pub fn new(rpc: HttpRpc) -> Self {
        Self { rpc, handle: Handle::current() }
    }
}

impl RpcClient for SandboxRpc {
    fn call(&mut self, method: &str, params: &str, deadline: Instant) -> Result<String, String> {
        self.handle.block_on(self.rpc.call(method, params, deadline))
    }

    fn call_batch(&mut self, calls: &[(String, String)], deadline: Instant) -> Result<Vec<Result<String, String>>, String> {
        let calls: Vec<(&str, &str)> = calls.iter().map(|(m, p)| (m.as_str(), p.as_str())).collect();
        self.handle.block_on(self.rpc.call_batch(&calls, deadline))
    }
}
