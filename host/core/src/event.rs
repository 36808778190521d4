//! Dataset events: what operators emit and what creates tasks.

use serde::{Deserialize, Serialize};

/// A half-open cursor range `[start, end)`, e.g. a block range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// An event emitted by an operator for one of its outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Index of the producing job's output this event announces.
    pub output: u32,
    pub partition_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The event a task was created for, as its operator sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputEvent {
    /// Input index (in the job's `inputs:` list) the event arrived on.
    #[serde(default)]
    pub input: u32,
    #[serde(default)]
    pub partition_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}
