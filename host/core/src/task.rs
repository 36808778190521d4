//! What a task runs for, as handed to the operator.

use serde::{Deserialize, Serialize};

/// Identity and configuration of one task attempt. Holds no credentials:
/// everything here is visible to guest code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskContext {
    pub task_id: String,
    pub attempt: u32,
    pub job: String,
    pub org: String,
    /// The job's `config:` block.
    pub config: serde_json::Value,
}

impl TaskContext {
    /// A context for running an operator locally, outside any DAG.
    pub fn local(job: &str, config: serde_json::Value) -> Self {
        Self {
            task_id: "local".into(),
            attempt: 1,
            job: job.into(),
            org: "local".into(),
            config,
        }
    }
}
