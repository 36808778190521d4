//! The materialization hash: a digest of exactly the fields that change what
//! a job produces. A deploy compares it per job to decide what to rematerialize;
//! editing `pool`, `scaling`, `max_attempts`, `timeout` or `capabilities`
//! leaves it unchanged.

use sha2::{Digest, Sha256};

use crate::model::Job;

/// `sha256:<hex>` over the canonical JSON of the job's
/// materialization-affecting fields (object keys sorted).
pub fn materialization_hash(job: &Job) -> String {
    let affecting = serde_json::json!({
        "kind": job.kind,
        "operator": job.operator,
        "inputs": job.inputs,
        "outputs": job.outputs,
        "config": job.config,
        "update_strategy": job.update_strategy,
        "unique_key": job.unique_key,
    });
    let text = canonical(&affecting).to_string();
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// `v` with every object's keys inserted in sorted order, so the JSON text is
/// the same however the map type orders them.
fn canonical(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// What a job's output depends on: its own materialization hash and those of
/// every job upstream of it in `dag`, as `sha256:<hex>`. Two DAG versions
/// whose producer of a dataset has the same lineage hash compute the same
/// data, so the dataset keeps its version across the deploy; any edit
/// upstream changes it. Shared reads (`from: {dataset}`) count by name.
pub fn lineage_hash(dag: &crate::Dag, job: &str) -> String {
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut datasets: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut stack = vec![job.to_owned()];
    while let Some(name) = stack.pop() {
        let Some(j) = dag.job(&name) else { continue };
        if seen.insert(name.clone(), materialization_hash(j)).is_some() {
            continue;
        }
        for input in &j.inputs {
            match &input.from {
                crate::InputSource::Job { job, .. } => stack.push(job.clone()),
                crate::InputSource::Dataset { dataset } => {
                    datasets.insert(dataset.clone());
                }
            }
        }
    }
    let text = serde_json::json!({ "jobs": seen, "datasets": datasets }).to_string();
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}
