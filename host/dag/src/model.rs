//! The DAG file's shape. Unknown keys are errors everywhere (a typo must not
//! silently change what runs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
pub use trace_protocol::buffered::{Column, ColumnType, TableKind, TableSchema};
pub use trace_protocol::rpc::RpcSettings;

/// A DAG file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dag {
    pub name: String,
    #[serde(default)]
    pub worker_pools: BTreeMap<String, WorkerPool>,
    pub jobs: Vec<Job>,
    #[serde(default)]
    pub publish: Vec<Publish>,
}

/// A named set of worker slots. Each running task leases one slot; its `env`
/// is injected by the worker wrapper, its `secret_env` resolved host-side and
/// never handed to guest code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerPool {
    pub slots: Vec<Slot>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment name → secret reference.
    #[serde(default)]
    pub secret_env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Source,
    #[default]
    Transform,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStrategy {
    /// Rewriting a range replaces it and invalidates it downstream.
    #[default]
    Replace,
    /// Rows are inserted and deduplicated by `unique_key`.
    Append,
}

impl UpdateStrategy {
    /// The name the DAG file and the system database use.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStrategy::Replace => "replace",
            UpdateStrategy::Append => "append",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// The host-held RPC endpoint (sources only).
    Rpc,
}

/// One job. Fields are either materialization-affecting (they change what a
/// job produces: editing them rematerializes the job and its downstream) or
/// execution-only (how and where it runs); see [`crate::materialization_hash`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub name: String,
    // --- materialization-affecting ---
    #[serde(default)]
    pub kind: JobKind,
    /// A component digest (`sha256:…`) or a path to a `.wasm` file.
    pub operator: String,
    #[serde(default)]
    pub inputs: Vec<JobInput>,
    /// Number of outputs, addressed by index.
    #[serde(default = "one")]
    pub outputs: u32,
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default)]
    pub update_strategy: UpdateStrategy,
    #[serde(default)]
    pub unique_key: Vec<String>,
    // --- execution-only ---
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default)]
    pub scaling: Scaling,
    #[serde(default = "three")]
    pub max_attempts: u32,
    /// Per-attempt time limit, e.g. `60s`.
    #[serde(default = "sixty_seconds")]
    pub timeout: String,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// How the host reaches the job's RPC endpoint (with `capabilities: [rpc]`):
    /// URL and header templates over the leased slot's env and secrets,
    /// allowed methods, rate, concurrency, timeouts and retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc: Option<RpcSettings>,
    /// Present only to be refused with a clear message: batching is modelled
    /// with range_aggregator/range_splitter, never by the dispatcher.
    #[serde(default, skip_serializing)]
    pub execution_strategy: Option<String>,
}

fn one() -> u32 {
    1
}

fn three() -> u32 {
    3
}

fn sixty_seconds() -> String {
    "60s".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// Most tasks of this job running at once; the effective limit is
    /// `min(max_concurrency, pool size)`.
    #[serde(default = "one")]
    pub max_concurrency: u32,
}

impl Default for Scaling {
    fn default() -> Self {
        Self { max_concurrency: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobInput {
    pub from: InputSource,
}

/// Where an input comes from: another job's output in this DAG, or a
/// published dataset (a shared read, gated by its `read_roles`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum InputSource {
    Job { job: String, output: u32 },
    Dataset { dataset: String },
}

/// `{job, output_index} → dataset` (metadata only), and where the
/// dataset's rows live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub job: String,
    pub output_index: u32,
    pub dataset: String,
    #[serde(default)]
    pub storage: StorageKind,
    /// Buffered only: a platform schema (`alert_events`, `alert_deliveries`)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// ...or the dataset's own columns, with `unique_key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_key: Vec<String>,
}

/// Where a published dataset's rows live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    /// Versioned Parquet files in object storage, one per task and range.
    #[default]
    Parquet,
    /// Rows in the system database, written through a buffer; unversioned,
    /// deduplicated by the unique key, and writable by several jobs of one DAG.
    Buffered,
}

impl Publish {
    pub fn is_buffered(&self) -> bool {
        self.storage == StorageKind::Buffered
    }

    /// A buffered publish's table schema (`None` for Parquet). The DAG's
    /// validation has checked it, so an error here names what is wrong.
    pub fn table_schema(&self) -> Option<Result<TableSchema, String>> {
        if !self.is_buffered() {
            return None;
        }
        Some(match (self.schema.as_deref(), self.columns.is_empty()) {
            (Some("alert_events"), true) if self.unique_key.is_empty() => Ok(TableSchema::alert_events()),
            (Some("alert_deliveries"), true) if self.unique_key.is_empty() => Ok(TableSchema::alert_deliveries()),
            (Some(s @ ("alert_events" | "alert_deliveries")), _) => Err(format!("schema `{s}` fixes its columns and unique key; do not list them")),
            (Some(other), _) => Err(format!("schema {other:?} is not a platform schema (alert_events, alert_deliveries)")),
            (None, true) => Err("a buffered dataset needs `schema:` or `columns:` with `unique_key:`".into()),
            (None, false) => Ok(TableSchema { kind: TableKind::Rows, columns: self.columns.clone(), unique_key: self.unique_key.clone() }),
        })
    }
}

impl Dag {
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

impl Job {
    /// Effective concurrency: `min(max_concurrency, pool size)`; without a
    /// pool, `max_concurrency` alone.
    pub fn effective_concurrency(&self, dag: &Dag) -> u32 {
        let pool = self.pool.as_ref().and_then(|p| dag.worker_pools.get(p));
        match pool {
            Some(p) => self.scaling.max_concurrency.min(p.slots.len() as u32),
            None => self.scaling.max_concurrency,
        }
    }
}
