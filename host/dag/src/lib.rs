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

/// Largest DAG file accepted.
pub const MAX_DAG_BYTES: usize = 1 << 20;
/// Deepest nesting of `[`/`{` collections, and the widest indentation, a
/// DAG file may use: a real one needs a handful; a hostile one nested a
/// hundred thousand levels deep took the YAML parser most of a minute.
pub const MAX_NESTING: usize = 64;
pub const MAX_INDENT: usize = 256;

/// Parse and validate a DAG file. `file` names it in error messages.
pub fn parse(file: &str, text: &str) -> Result<Dag, DagError> {
    check_shape(file, text)?;
    let dag: Dag = serde_norway::from_str(text).map_err(|e| DagError::from_yaml(file, e))?;
    validate::validate(&dag).map_err(|problem| problem.locate(file, text))?;
    Ok(dag)
}

/// Refuse, before the YAML parser sees it, a file too large or nested too
/// deep for any DAG.
fn check_shape(file: &str, text: &str) -> Result<(), DagError> {
    let refuse = |line: Option<usize>, message: String| Err(DagError { file: file.to_owned(), line, message });
    if text.len() > MAX_DAG_BYTES {
        return refuse(None, format!("the file is {} bytes, more than a DAG file may be (limit={MAX_DAG_BYTES})", text.len()));
    }
    let mut depth = 0usize;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > MAX_INDENT {
            return refuse(Some(i + 1), format!("indented {indent} columns, more than a DAG file may be (limit={MAX_INDENT})"));
        }
        for c in line.chars() {
            match c {
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return refuse(Some(i + 1), format!("collections nested more than {MAX_NESTING} deep (limit={MAX_NESTING})"));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}
