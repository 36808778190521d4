//! A task's inputs, from object storage. The payload names, per wired
//! input, the pinned dataset version's partitions that the task's event
//! covers; they are read before the operator starts (bounded in total
//! size) and streamed to it in bounded batches, partition after partition.

use bytes::Bytes;
use trace_batches::{ParquetSource, SourceError};
use trace_core::{BatchSource, ChainSource, VecSource};
use trace_storage::{ObjectPath, Storage, StorageError};
use trace_protocol::contract::{PartitionView, TaskPayload};

/// Most bytes of Parquet one task reads across all its inputs.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;
/// Rows per batch handed to the guest.
pub const INPUT_BATCH_ROWS: usize = 8_192;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("the task's inputs are too large: got={got} bytes, limit={limit} bytes")]
    TooLarge { got: u64, limit: u64 },
    #[error("reading input {input}")]
    Storage {
        input: u32,
        #[source]
        source: StorageError,
    },
    #[error("input {input}")]
    Parquet {
        input: u32,
        #[source]
        source: SourceError,
    },
}

impl InputError {
    /// Storage trouble may pass; too much or unreadable data will not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, InputError::Storage { .. })
    }
}

/// The Parquet files of each of the task's `p.inputs` inputs, in order.
pub type Fetched = Vec<Vec<(String, Bytes)>>;

/// Read every partition the task's inputs cover.
pub async fn fetch(storage: &Storage, p: &TaskPayload) -> Result<Fetched, InputError> {
    let declared: u64 = p.inputs_from.iter().flat_map(|f| &f.partitions).map(|x| x.bytes).sum();
    if declared > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge { got: declared, limit: MAX_INPUT_BYTES });
    }
    let mut out: Fetched = vec![Vec::new(); p.inputs.max(0) as usize];
    let mut total = 0u64;
    for feed in &p.inputs_from {
        let Some(slot) = out.get_mut(feed.input as usize) else { continue };
        *slot = read_files(storage, &feed.partitions, &mut total).await.map_err(|failure| match failure {
            ReadFailure::TooLarge { got } => InputError::TooLarge { got, limit: MAX_INPUT_BYTES },
            ReadFailure::Storage(source) => InputError::Storage { input: feed.input, source },
        })?;
    }
    Ok(out)
}

/// Why [`read_files`] stopped.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The bytes read so far plus the next file's would pass [`MAX_INPUT_BYTES`].
    TooLarge { got: u64 },
    Storage(StorageError),
}

/// Read `parts`' files in order, adding their sizes to `total`, which may
/// not pass [`MAX_INPUT_BYTES`] (a file's size is checked before it is read).
pub(crate) async fn read_files(storage: &Storage, parts: &[PartitionView], total: &mut u64) -> Result<Vec<(String, Bytes)>, ReadFailure> {
    let mut files = Vec::with_capacity(parts.len());
    for part in parts {
        let path = ObjectPath::from(part.object_key.as_str());
        let limit = MAX_INPUT_BYTES - *total;
        let read = match storage.get(&path, limit).await {
            // Its producer committed and died before moving the file from
            // where it was staged: it is still there, exactly as committed.
            Err(StorageError::NotFound { .. }) if part.staging_key.is_some() => {
                let staged = ObjectPath::from(part.staging_key.as_deref().unwrap_or_default());
                tracing::warn!(object = %path, staged = %staged, "a committed file was never moved from its staging key; reading it there");
                storage.get(&staged, limit).await
            }
            read => read,
        };
        let bytes = read.map_err(|source| match source {
            StorageError::TooLarge { size, .. } => ReadFailure::TooLarge { got: *total + size },
            source => ReadFailure::Storage(source),
        })?;
        *total += bytes.len() as u64;
        files.push((part.object_key.clone(), bytes));
    }
    Ok(files)
}

/// One batch source per input: its partitions, one after another.
pub fn sources(fetched: Fetched) -> Result<Vec<Box<dyn BatchSource>>, InputError> {
    fetched
        .into_iter()
        .enumerate()
        .map(|(input, files)| {
            if files.is_empty() {
                return Ok(Box::new(VecSource::default()) as Box<dyn BatchSource>);
            }
            let parts = files
                .into_iter()
                .map(|(name, bytes)| {
                    ParquetSource::from_bytes(&name, bytes, INPUT_BATCH_ROWS)
                        .map(|s| Box::new(s) as Box<dyn BatchSource>)
                        .map_err(|source| InputError::Parquet { input: input as u32, source })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Box::new(ChainSource::new(parts)) as Box<dyn BatchSource>)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use trace_protocol::contract::{InputFeed, PartitionView, TaskPayload, TaskStatus};

    use super::*;

    /// A task whose one input covers partitions of these sizes (none stored).
    pub(crate) fn payload(partition_bytes: &[u64]) -> TaskPayload {
        let partitions = partition_bytes
            .iter()
            .enumerate()
            .map(|(i, &bytes)| PartitionView { partition_key: i.to_string(), range: None, object_key: format!("p{i}.parquet"), rows: 1, bytes, staging_key: None })
            .collect();
        TaskPayload {
            task: 1,
            job: 1,
            job_name: "j".into(),
            kind: trace_protocol::contract::TaskKind::Transform,
            operator: "op.wasm".into(),
            config: "null".into(),
            outputs: 1,
            inputs: 1,
            status: TaskStatus::Running,
            cancel_requested: false,
            attempt: None,
            deadline: None,
            timeout_ms: 1_000,
            partition_key: String::new(),
            range: None,
            cursor: None,
            org: 1,
            dag: 1,
            state: Vec::new(),
            outputs_to: Vec::new(),
            inputs_from: vec![InputFeed { input: 0, dataset_uuid: "d".into(), version_uuid: "v".into(), partitions, buffered: false }],
            refusal: None,
            trace_parent: None,
            fuel: None,
            rpc: None,
        }
    }

    #[tokio::test]
    async fn inputs_over_the_byte_bound_are_refused_before_any_read() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        // Nothing exists in storage: a read would fail with NotFound instead.
        let err = fetch(&storage, &payload(&[MAX_INPUT_BYTES, 1])).await.unwrap_err();
        assert_eq!(err.to_string(), format!("the task's inputs are too large: got={} bytes, limit={MAX_INPUT_BYTES} bytes", MAX_INPUT_BYTES + 1));
        assert!(!err.is_retryable());
        // Within the bound, the files are read (here: missing, so a retryable storage error).
        let err = fetch(&storage, &payload(&[10])).await.unwrap_err();
        assert!(matches!(err, InputError::Storage { input: 0, .. }) && err.is_retryable(), "{err}");
    }

    #[tokio::test]
    async fn a_committed_file_left_at_its_staging_key_is_read_there() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        let staged = ObjectPath::from("org/1/staging/t7/a1/o0/0_10.parquet");
        storage.put(&staged, Bytes::from_static(b"committed bytes")).await.unwrap();
        let mut part = payload(&[15]).inputs_from.remove(0).partitions.remove(0);
        part.staging_key = Some(staged.to_string());
        let mut total = 0;
        let files = read_files(&storage, &[part.clone()], &mut total).await.unwrap();
        assert_eq!((files[0].1.as_ref(), total), (&b"committed bytes"[..], 15));
        // At neither key it is a storage error, named by its final key.
        part.staging_key = Some("org/1/staging/elsewhere.parquet".into());
        match read_files(&storage, &[part], &mut 0).await {
            Err(ReadFailure::Storage(e)) => assert!(e.to_string().contains("elsewhere") || e.to_string().contains("p0.parquet"), "{e}"),
            other => panic!("{:?}", other.map(|f| f.len())),
        }
    }
}
