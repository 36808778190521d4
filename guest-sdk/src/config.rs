//! The job's `config:` block, as JSON.

use crate::{fatal, OperatorError, TaskContext};

/// Parse the task's config. An unparsable config is a fatal error.
pub fn parse(ctx: &TaskContext) -> Result<serde_json::Value, OperatorError> {
    serde_json::from_str(&ctx.config).map_err(|e| fatal(format!("config is not valid JSON: {e}")))
}

/// A required unsigned integer field.
pub fn u64_field(config: &serde_json::Value, key: &str) -> Result<u64, OperatorError> {
    config
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| fatal(format!("config.{key} must be an unsigned integer")))
}

/// An optional string field.
pub fn str_field<'a>(config: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    config.get(key).and_then(serde_json::Value::as_str)
}
