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
