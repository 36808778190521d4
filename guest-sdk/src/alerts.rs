//! Write alerts: rows of the platform's `alert_events` schema, to an output
//! published as `storage: buffered, schema: alert_events`. A detector writes
//! alerts like any output; the platform commits them (an alert key already
//! committed is dropped, so a retried task adds nothing), routing jobs pick
//! destinations, and the Delivery Service sends them.
//!
//! ```ignore
//! alerts::write(0, &[Alert::new(format!("{tx}:{log}"), Severity::Critical, block_time_ms)
//!     .with_payload(serde_json::json!({ "value": value }))])?;
//! ```

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::{fatal, output, OperatorError};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Names this alert for good: the same finding must give the same key
    /// on every run (e.g. a transaction hash and log index).
    pub key: String,
    pub severity: Severity,
    /// When it happened, from the data (e.g. the block's timestamp), in
    /// milliseconds since the Unix epoch. Routing's staleness gate reads it.
    pub event_time_ms: i64,
    pub payload: Option<serde_json::Value>,
}

impl Alert {
    pub fn new(key: impl Into<String>, severity: Severity, event_time_ms: i64) -> Self {
        Self { key: key.into(), severity, event_time_ms, payload: None }
    }

    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = Some(payload);
        self
    }
}

/// The `alert_events` columns as a batch.
pub fn batch(alerts: &[Alert]) -> Result<RecordBatch, OperatorError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("alert_key", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("event_time", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(alerts.iter().map(|a| Some(a.key.as_str())).collect::<StringArray>()),
            Arc::new(alerts.iter().map(|a| Some(a.severity.as_str())).collect::<StringArray>()),
            Arc::new(alerts.iter().map(|a| a.event_time_ms).collect::<Int64Array>()),
            Arc::new(alerts.iter().map(|a| a.payload.as_ref().map(|p| p.to_string())).collect::<StringArray>()),
        ],
    )
    .map_err(|e| fatal(format!("building alerts: {e}")))
}

/// Write `alerts` to output `index` (nothing for none).
pub fn write(index: u32, alerts: &[Alert]) -> Result<(), OperatorError> {
    if alerts.is_empty() {
        return Ok(());
    }
    output::write(index, &batch(alerts)?)
}
