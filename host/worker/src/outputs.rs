//! A task's outputs on their way to object storage. Each output's batches
//! become one Parquet file per task, staged under the attempt's own key;
//! the completion registers them (visible from that commit on), and only
//! then are they promoted to their final, id-only key — which a retry
//! rewrites, so re-running a task never adds a second file. A refused or
//! failed attempt's staged files are deleted and never registered.
//!
//! An `append` output is different in two ways: each task adds a file of its
//! own (`{start}_{end}.t{task}.parquet`) beside the range's others, and its
//! rows whose `unique_key` those files already hold are dropped first.

use bytes::Bytes;
use trace_batches::{dedupe_output, parquet_bytes, DedupeError, ParquetFile, SinkError};
use trace_storage::paths::{partition_path, staging_path};
use trace_storage::{Partition, Storage, StorageError};
use trace_protocol::contract::{OutputTarget, TaskPayload, WrittenPartition};

use crate::inputs::{read_files, ReadFailure, MAX_INPUT_BYTES};

/// Why outputs could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {output} is not valid Parquet input")]
    Encode {
        output: usize,
        #[source]
        source: SinkError,
    },
    #[error("output {output} has no dataset in this DAG version")]
    NoTarget { output: usize },
    #[error("output {output} (update_strategy append)")]
    Dedupe {
        output: usize,
        #[source]
        source: DedupeError,
    },
    #[error("the committed files output {output} appends to are too large: got={got} bytes, limit={limit} bytes")]
    ExistingTooLarge { output: usize, got: u64, limit: u64 },
    #[error("encoding the outputs ran past the task's time limit: elapsed={elapsed_ms}ms, limit={limit_ms}ms")]
    TimeLimit { elapsed_ms: u64, limit_ms: u64 },
    #[error("staging output {output}")]
    Storage {
        output: usize,
        #[source]
        source: StorageError,
    },
}

impl OutputError {
    /// Storage trouble may pass; bad output will not.
    pub fn is_retryable(&self) -> bool {
        // A time limit may be load, as with the guest's own timeouts.
        matches!(self, OutputError::Storage { .. } | OutputError::TimeLimit { .. })
    }
}

/// The committed files each `append` output adds to: (output, unique key,
/// files), read before the task runs (bounded like its inputs).
pub type Existing = Vec<(usize, Vec<String>, Vec<(String, Bytes)>)>;

/// Read the files the task's `append` outputs add to.
pub async fn fetch_existing(storage: &Storage, p: &TaskPayload) -> Result<Existing, OutputError> {
    let mut out = Existing::new();
    for target in &p.outputs_to {
        let Some(append) = &target.append else { continue };
        let output = target.output as usize;
        let declared: u64 = append.existing.iter().map(|x| x.bytes).sum();
        if declared > MAX_INPUT_BYTES {
            return Err(OutputError::ExistingTooLarge { output, got: declared, limit: MAX_INPUT_BYTES });
        }
        let files = read_files(storage, &append.existing, &mut 0).await.map_err(|failure| match failure {
            ReadFailure::TooLarge { got } => OutputError::ExistingTooLarge { output, got, limit: MAX_INPUT_BYTES },
            ReadFailure::Storage(source) => OutputError::Storage { output, source },
        })?;
        out.push((output, append.unique_key.clone(), files));
    }
    Ok(out)
}

/// Encode each output's IPC batches as Parquet (CPU work: call it on the
/// sandbox's blocking thread), `append` outputs without their already
/// committed keys. `None` for an output with nothing (new) written.
pub fn encode(outputs: &[Vec<Vec<u8>>], existing: &Existing) -> Result<Vec<Option<ParquetFile>>, OutputError> {
    outputs
        .iter()
        .enumerate()
        .map(|(output, batches)| {
            let name = format!("output {output}");
            match existing.iter().find(|(o, _, _)| *o == output) {
                None => parquet_bytes(&name, batches),
                Some((_, unique_key, files)) => {
                    let (kept, _dropped) = dedupe_output(unique_key, files, batches).map_err(|source| OutputError::Dedupe { output, source })?;
                    parquet_bytes(&name, &kept)
                }
            }
            .map_err(|source| OutputError::Encode { output, source })
        })
        .collect()
}

/// `Ok` while a task that started at `started` is within `limit`.
pub fn within_time_limit(started: std::time::Instant, limit: std::time::Duration) -> Result<(), OutputError> {
    let elapsed = started.elapsed();
    if elapsed > limit {
        return Err(OutputError::TimeLimit { elapsed_ms: elapsed.as_millis() as u64, limit_ms: limit.as_millis() as u64 });
    }
    Ok(())
}

/// The partition a task writes to `target`: its input event's range, else
/// its key; for an `append` target, the task's own file of that range or
/// key. Returns the partition, its key and (appended) the key it adds to.
fn partition_of(p: &TaskPayload, target: &OutputTarget) -> (Partition, String, Option<String>) {
    let (base, key) = match p.range {
        Some((start, end)) => (Partition::Range { start, end }, format!("{start}_{end}")),
        None => (Partition::Key(p.partition_key.clone()), p.partition_key.clone()),
    };
    match target.append {
        None => (base, key, None),
        Some(_) => (Partition::Appended { to: Box::new(base), task: p.task }, format!("{key}.t{}", p.task), Some(key)),
    }
}

/// Put each file under the attempt's staging key; returns what the
/// completion registers.
pub async fn stage(storage: &Storage, p: &TaskPayload, files: Vec<Option<ParquetFile>>) -> Result<Vec<WrittenPartition>, OutputError> {
    let attempt = p.attempt.as_ref().map_or(0, |a| a.attempt);
    let mut written = Vec::new();
    for (output, file) in files.into_iter().enumerate() {
        let Some(file) = file else { continue };
        let target = p.outputs_to.iter().find(|t| t.output as usize == output).ok_or(OutputError::NoTarget { output })?;
        let (partition, partition_key, scope) = partition_of(p, target);
        let object = partition_path(p.org, &target.dataset_uuid, &target.version_uuid, &partition)
            .map_err(|source| OutputError::Storage { output, source })?;
        let staging = staging_path(p.org, p.task, attempt, output as u32, &partition);
        let bytes = file.bytes.len() as u64;
        storage.put(&staging, Bytes::from(file.bytes)).await.map_err(|source| OutputError::Storage { output, source })?;
        written.push(WrittenPartition {
            output: output as u32,
            version_uuid: target.version_uuid.clone(),
            partition_key,
            range: p.range,
            deduped_against: target.append.iter().flat_map(|a| &a.existing).map(|x| x.object_key.clone()).collect(),
            scope,
            object_key: object.to_string(),
            staging_key: staging.to_string(),
            rows: file.rows,
            bytes,
        });
    }
    Ok(written)
}

/// After the completion was accepted: move staged files to their final keys.
/// A failure here leaves a registered partition whose file is still at its
/// recorded staging key; it is logged for repair, not lost.
pub async fn promote(storage: &Storage, written: &[WrittenPartition]) {
    for w in written {
        if let Err(e) = storage.promote(&w.staging_key.as_str().into(), &w.object_key.as_str().into()).await {
            tracing::error!(error = %e, staging = %w.staging_key, object = %w.object_key, "promoting a committed partition failed");
        }
    }
}

/// After the completion was refused or failed: drop the staged files.
pub async fn discard(storage: &Storage, written: &[WrittenPartition]) {
    for w in written {
        if let Err(e) = storage.delete(&w.staging_key.as_str().into()).await {
            tracing::warn!(error = %e, staging = %w.staging_key, "deleting a staged file failed");
        }
    }
}

/// What [`repair`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repair {
    /// Committed files already at their final key.
    pub in_place: usize,
    /// Committed files found at their staging key and promoted now (a worker
    /// died between the commit and the promote).
    pub promoted: usize,
    /// Committed files at neither key.
    pub lost: Vec<String>,
}

/// Make every committed partition's file be at its final key.
pub async fn repair(storage: &Storage, files: &[(String, String)]) -> Result<Repair, StorageError> {
    let mut r = Repair::default();
    for (object, staging) in files {
        let (object, staging) = (object.as_str().into(), staging.as_str().into());
        if storage.exists(&object).await? {
            r.in_place += 1;
        } else if storage.exists(&staging).await? {
            storage.promote(&staging, &object).await?;
            r.promoted += 1;
        } else {
            r.lost.push(object.to_string());
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoding_past_the_time_limit_fails_the_attempt_retryably() {
        use std::time::{Duration, Instant};
        let started = Instant::now() - Duration::from_millis(1_500);
        assert!(super::within_time_limit(started, Duration::from_secs(60)).is_ok());
        let err = super::within_time_limit(started, Duration::from_secs(1)).unwrap_err();
        assert!(err.is_retryable());
        assert!(err.to_string().starts_with("encoding the outputs ran past the task's time limit: elapsed=15"), "{err}");
        assert!(err.to_string().ends_with("limit=1000ms"), "{err}");
    }

    use trace_protocol::contract::{AppendTarget, OutputTarget};

    use super::*;

    #[tokio::test]
    async fn files_an_append_adds_to_are_bounded_like_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        let mut p = crate::inputs::tests::payload(&[]);
        let existing = std::mem::take(&mut crate::inputs::tests::payload(&[MAX_INPUT_BYTES, 1]).inputs_from[0].partitions);
        p.outputs_to.push(OutputTarget {
            output: 0,
            dataset_uuid: "d".into(),
            version_uuid: "v".into(),
            append: Some(AppendTarget { unique_key: vec!["id".into()], existing }),
            buffered: None,
        });
        // Nothing exists in storage: a read would fail with NotFound instead.
        let err = fetch_existing(&storage, &p).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the committed files output 0 appends to are too large: got={} bytes, limit={MAX_INPUT_BYTES} bytes", MAX_INPUT_BYTES + 1)
        );
        assert!(!err.is_retryable());
        // Within the bound the files are read (here: missing, a retryable storage error).
        p.outputs_to[0].append.as_mut().unwrap().existing.truncate(1);
        p.outputs_to[0].append.as_mut().unwrap().existing[0].bytes = 10;
        let err = fetch_existing(&storage, &p).await.unwrap_err();
        assert!(matches!(err, OutputError::Storage { output: 0, .. }) && err.is_retryable(), "{err}");
    }
}
