//! One mapping from everything that can end an attempt early to the
//! outcome the worker reports: a message (the error and its causes) and
//! whether trying again could help.

use trace_protocol::contract::Outcome;

use crate::inputs::InputError;
use crate::outputs::OutputError;

/// Why an attempt failed, as reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub retryable: bool,
    pub message: String,
}

impl Failure {
    /// A failure no retry can mend (a bad component, a bad config).
    pub fn fatal(message: impl Into<String>) -> Self {
        Failure { retryable: false, message: message.into() }
    }

    pub fn outcome(self) -> Outcome {
        Outcome::Failed { retryable: self.retryable, message: self.message }
    }
}

pub use trace_core::error_chain;

impl From<InputError> for Failure {
    fn from(e: InputError) -> Self {
        Failure { retryable: e.is_retryable(), message: error_chain(&e) }
    }
}

impl From<OutputError> for Failure {
    fn from(e: OutputError) -> Self {
        Failure { retryable: e.is_retryable(), message: error_chain(&e) }
    }
}

impl From<trace_sandbox::TaskFailure> for Failure {
    fn from(f: trace_sandbox::TaskFailure) -> Self {
        Failure { retryable: f.error.is_retryable(), message: f.error.to_string() }
    }
}
