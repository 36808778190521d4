//! What can go wrong while scaffolding or building an operator.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OpkitError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an operator manifest: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{dir} is not an operator project: it has no operator.yaml (or Cargo.toml for a Rust operator); create one with `trace op new`")]
    NotAProject { dir: PathBuf },
    #[error("{tool} is not installed (looked in {looked}); install it with `{install}`")]
    ToolMissing { tool: &'static str, looked: String, install: String },
    #[error("{tool} failed ({status}):\n{output}")]
    ToolFailed { tool: String, status: String, output: String },
    #[error("{tool} did not produce a component{detail}")]
    NoComponent { tool: String, detail: String },
    #[error("operator name `{name}` is not valid: use lowercase letters, digits and `_`, starting with a letter (at most 64)")]
    BadName { name: String },
    #[error("{path} already exists; pick another name or directory")]
    Exists { path: PathBuf },
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> OpkitError {
    let path = path.into();
    move |source| OpkitError::Io { path, source }
}
