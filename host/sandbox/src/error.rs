//! Typed errors of the sandbox: refusing a component at load, and failing a
//! task at run time. Each says what happened and, where it helps, what to do.

use trace_core::Digest;

use crate::limits::LimitExceeded;

/// Why a component was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read component {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("component is too large: got={got} bytes, limit={limit} bytes")]
    TooLarge { got: usize, limit: usize },
    #[error("{digest} is not a valid WebAssembly component")]
    Compile {
        digest: Digest,
        #[source]
        source: wasmtime::Error,
    },
    #[error("component {digest} imports `{import}`, which Trace does not provide: {hint}")]
    ForbiddenImport {
        digest: Digest,
        import: String,
        hint: String,
    },
    #[error("component {digest} has too many core instances: got={got}, limit={limit}")]
    TooManyInstances { digest: Digest, got: usize, limit: usize },
    #[error("component {digest} does not export `run` with the trace:operator signature")]
    MissingExport {
        digest: Digest,
        #[source]
        source: wasmtime::Error,
    },
    #[error("component {digest} cannot be linked against the {world} world")]
    Link {
        digest: Digest,
        world: &'static str,
        #[source]
        source: wasmtime::Error,
    },
    #[error("compiled-component cache at {path}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a task did not succeed. The host stays healthy after every variant.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The guest ran into one of its limits.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// The operator returned an error of its own.
    #[error("operator failed ({}): {message}", if *.retryable { "retryable" } else { "fatal" })]
    Operator { retryable: bool, message: String },
    /// The guest trapped (panic, unreachable, bad memory access …). An
    /// out-of-bounds access from a Rust guest is almost always its shadow
    /// stack (1 MiB, in linear memory) overflowing.
    #[error("guest trapped: {message}")]
    Trap {
        /// wasmtime's trap code, when the guest hit one.
        trap: Option<wasmtime::Trap>,
        message: String,
    },
    /// The sandbox could not set the task up; not the guest's fault.
    #[error("sandbox could not start the task")]
    Setup(#[source] wasmtime::Error),
}

impl TaskError {
    /// Whether the platform should retry the attempt.
    pub fn is_retryable(&self) -> bool {
        match self {
            TaskError::Operator { retryable, .. } => *retryable,
            // Timeouts may be load; other limits and traps are deterministic.
            TaskError::Limit(LimitExceeded::Timeout { .. }) => true,
            TaskError::Setup(_) => true,
            TaskError::Limit(_) | TaskError::Trap { .. } => false,
        }
    }
}
