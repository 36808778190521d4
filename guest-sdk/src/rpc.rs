//! Call the job's RPC endpoint (source operators only). The host holds the
//! endpoint and credentials; a transform that uses this is refused at load.

use crate::bindings::trace::operator::rpc as wit;
use crate::{retryable, OperatorError};

/// Call `method` with JSON `params`; the reply is JSON text. Failures are
/// retryable: endpoints are remote and flaky.
pub fn call(method: &str, params: &str) -> Result<String, OperatorError> {
    wit::call(method, params).map_err(|m| retryable(format!("rpc {method}: {m}")))
}
