//! DAG files. A DAG is YAML: worker pools, jobs wired by index, and a
//! `publish:` map from `{job, output_index}` to dataset names. [`parse`]
//! turns text into a validated [`Dag`] or an error that names the line.
//!
//! ```yaml
//! name: erc20
//! worker_pools:
//!   ingest:
//!     slots:
//!       - env: { RPC_URL: "https://node-1" }
//!         secret_env: { RPC_KEY: "rpc/key-1" }
//! jobs:
//!   - name: blocks
//!     kind: source
//!     operator: operators/block_source.wasm
//!     pool: ingest
//!     scaling: { max_concurrency: 2 }
//!     capabilities: [rpc]
//!   - name: transfers
//!     operator: "sha256:…"
//!     inputs:
//!       - from: { job: blocks, output: 0 }
//!     config: { min_value: "1000000" }
//! publish:
//!   - { job: transfers, output_index: 0, dataset: erc20_transfers }
//! ```

mod error;
mod hash;
mod model;
mod names;
mod validate;

pub use error::DagError;
pub use hash::{lineage_hash, materialization_hash};
pub use model::{
    Capability, Column, ColumnType, Dag, InputSource, Job, JobInput, JobKind, Publish, Scaling, Slot, StorageKind, TableKind, TableSchema,
    UpdateStrategy, WorkerPool,
};
pub use names::{is_valid_dataset_name, is_valid_job_name};

/// Parse and validate a DAG file. `file` names it in error messages.
pub fn parse(file: &str, text: &str) -> Result<Dag, DagError> {
    let dag: Dag = serde_norway::from_str(text).map_err(|e| DagError::from_yaml(file, e))?;
    validate::validate(&dag).map_err(|problem| problem.locate(file, text))?;
    Ok(dag)
}
