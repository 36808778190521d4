//! The data path end to end: source partitions in object storage → the
//! example UDF → Parquet partitions in object storage, per 10,000-block
//! window, as a worker does it (read the window's files, stream them to the
//! operator in 8,192-row batches, encode its output, write it). Beside it
//! the same pipeline with the UDF called natively: same files, same reads
//! and writes, the filter as plain Rust on decoded batches.

use std::time::{Duration, Instant};

use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use trace_core::{InputEvent, Range, TaskContext};
use trace_sandbox::{Runtime, RuntimeConfig, Task, World};
use trace_storage::paths::partition_path;
use trace_storage::{Partition, Storage};

/// Blocks per source file and per window (ten logs per block).
pub const FILE_BLOCKS: u64 = 1_000;
pub const WINDOW_BLOCKS: u64 = 10_000;
const DATASET: &str = "0b5e6a1c-3f4d-4e2a-9c8b-7d6e5f4a3b2c";
const SOURCE: &str = "11111111-2222-4333-8444-555555555555";
const SANDBOXED: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";
const NATIVE: &str = "77777777-8888-4999-aaaa-bbbbbbbbbbbb";

pub struct PipelineRun {
    pub rows: u64,
    pub rows_out: u64,
    pub sandboxed: Duration,
    pub native: Duration,
}

impl PipelineRun {
    pub fn rows_per_sec(&self, d: Duration) -> f64 {
        self.rows as f64 / d.as_secs_f64()
    }

    pub fn ratio(&self) -> f64 {
        self.native.as_secs_f64() / self.sandboxed.as_secs_f64()
    }
}

/// Write `blocks` blocks of synthetic logs as 1,000-block source files.
async fn write_source(storage: &Storage, blocks: u64) {
    for lo in (0..blocks).step_by(FILE_BLOCKS as usize) {
        let logs = erc20_logic::synthetic_logs(lo, (FILE_BLOCKS * 10) as usize, lo);
        let mut w = ArrowWriter::try_new(Vec::new(), logs.schema(), None).expect("writer");
        w.write(&logs).expect("write");
        let bytes = w.into_inner().expect("finish");
        let path = partition_path(1, DATASET, SOURCE, &Partition::Range { start: lo, end: lo + FILE_BLOCKS }).expect("path");
        storage.put(&path, Bytes::from(bytes)).await.expect("put");
    }
}

/// The source files of window `[lo, lo + WINDOW_BLOCKS)`.
async fn read_window(storage: &Storage, lo: u64) -> Vec<(String, Bytes)> {
    let mut files = Vec::new();
    for start in (lo..lo + WINDOW_BLOCKS).step_by(FILE_BLOCKS as usize) {
        let path = partition_path(1, DATASET, SOURCE, &Partition::Range { start, end: start + FILE_BLOCKS }).expect("path");
        files.push((path.to_string(), storage.get(&path, 1 << 30).await.expect("get")));
    }
    files
}

async fn sandboxed(storage: &Storage, blocks: u64, component: &str, min_value: u128) -> (Duration, u64) {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let op = runtime.load_file(component.as_ref(), World::Transform).expect("load");
    let config = serde_json::json!({ "min_value": min_value.to_string() });
    let started = Instant::now();
    let mut rows_out = 0;
    for lo in (0..blocks).step_by(WINDOW_BLOCKS as usize) {
        let files = read_window(storage, lo).await;
        let inputs = trace_control::inputs::sources(vec![files]).expect("sources");
        let context = TaskContext { task_id: lo.to_string(), attempt: 1, job: "transfers".into(), org: "1".into(), config: config.clone() };
        let event = InputEvent { input: 0, partition_key: String::new(), range: Some(Range { start: lo, end: lo + WINDOW_BLOCKS }), cursor: None };
        let mut task = Task::new(context, event);
        task.inputs = inputs;
        let op = op.clone();
        #[allow(clippy::result_large_err, reason = "the closure passes on Operator::run's result")]
        let report = tokio::task::spawn_blocking(move || op.run(task)).await.expect("join").expect("the UDF runs");
        let encoded = trace_control::outputs::encode(&report.outputs, &Vec::new()).expect("encode");
        if let Some(Some(out)) = encoded.into_iter().next() {
            rows_out += out.rows;
            let path = partition_path(1, DATASET, SANDBOXED, &Partition::Range { start: lo, end: lo + WINDOW_BLOCKS }).expect("path");
            storage.put(&path, Bytes::from(out.bytes)).await.expect("put");
        }
    }
    (started.elapsed(), rows_out)
}

async fn native(storage: &Storage, blocks: u64, min_value: u128) -> (Duration, u64) {
    let started = Instant::now();
    let mut rows_out = 0;
    for lo in (0..blocks).step_by(WINDOW_BLOCKS as usize) {
        let files = read_window(storage, lo).await;
        let mut writer: Option<ArrowWriter<Vec<u8>>> = None;
        for (_, bytes) in files {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).and_then(|b| b.with_batch_size(8_192).build()).expect("reader");
            for batch in reader {
                let transfers = erc20_logic::filter_transfers(&batch.expect("batch"), min_value).expect("filter");
                if transfers.num_rows() == 0 {
                    continue;
                }
                rows_out += transfers.num_rows() as u64;
                let w = writer.get_or_insert_with(|| ArrowWriter::try_new(Vec::new(), transfers.schema(), None).expect("writer"));
                w.write(&transfers).expect("write");
            }
        }
        if let Some(w) = writer {
            let path = partition_path(1, DATASET, NATIVE, &Partition::Range { start: lo, end: lo + WINDOW_BLOCKS }).expect("path");
            storage.put(&path, Bytes::from(w.into_inner().expect("finish"))).await.expect("put");
        }
    }
    (started.elapsed(), rows_out)
}

/// `rows` rows (a multiple of 100,000) through both pipelines on local
/// object storage under `dir`; best of `rounds` each.
pub async fn measure(dir: &std::path::Path, component: &str, rows: u64, min_value: u128, rounds: usize) -> PipelineRun {
    let blocks = rows / 10;
    assert_eq!(blocks % WINDOW_BLOCKS, 0, "rows must fill whole windows");
    let storage = Storage::local(dir).expect("storage");
    write_source(&storage, blocks).await;
    let (mut best_s, mut best_n) = (Duration::MAX, Duration::MAX);
    let (mut out_s, mut out_n) = (0, 0);
    for _ in 0..rounds.max(1) {
        let (t, n) = sandboxed(&storage, blocks, component, min_value).await;
        (best_s, out_s) = (best_s.min(t), n);
        let (t, n) = native(&storage, blocks, min_value).await;
        (best_n, out_n) = (best_n.min(t), n);
    }
    assert_eq!(out_s, out_n, "both pipelines keep the same rows");
    PipelineRun { rows, rows_out: out_s, sandboxed: best_s, native: best_n }
}
