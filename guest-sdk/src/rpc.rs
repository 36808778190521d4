//! Call the job's RPC endpoint (source operators only). The host holds the
//! endpoint and credentials; a transform that uses this is refused at load.

use crate::bindings::trace::operator::rpc as wit;
use crate::{retryable, OperatorError};

/// Call `method` with JSON `params`; the reply is JSON text. Failures are
/// retryable: endpoints are remote and flaky.
pub fn call(method: &str, params: &str) -> Result<String, OperatorError> {
    wit::call(method, params).map_err(|m| retryable(format!("rpc {method}: {m}")))
}

/// Call several methods at once (the host sends them as JSON-RPC batches,
/// some in parallel): each call's JSON reply or error message, in order.
/// The outer error (retryable) means none could be made.
pub fn call_batch(calls: &[(String, String)]) -> Result<Vec<Result<String, String>>, OperatorError> {
    let label = calls.first().map_or("", |(m, _)| m.as_str());
    wit::call_batch(calls).map_err(|m| retryable(format!("rpc batch ({label}…): {m}")))
}
