//! The bundled example data is what the synthetic generator says it is.
//! Regenerate with `TRACE_REGENERATE_EXAMPLES=1 cargo test examples`.

use std::path::PathBuf;

use arrow_array::RecordBatch;
use trace_core::BatchSource;

/// Blocks 17,000,000..17,000,500, ten logs each.
const START_BLOCK: u64 = 17_000_000;
const ROWS: usize = 5_000;
const SEED: u64 = 2024;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/erc20_logs.parquet")
}

#[test]
fn bundled_logs_match_the_generator() {
    let expected = erc20_logic::synthetic_logs(START_BLOCK, ROWS, SEED);
    if std::env::var_os("TRACE_REGENERATE_EXAMPLES").is_some() {
        let ipc = trace_batches::encode_ipc(std::slice::from_ref(&expected)).unwrap();
        trace_batches::write_parquet(&path(), &[ipc]).unwrap();
    }
    let mut source = trace_batches::ParquetSource::open(&path(), ROWS).unwrap();
    let mut got: Vec<RecordBatch> = Vec::new();
    while let Some(bytes) = source.next_batch().unwrap() {
        got.extend(trace_batches::decode_ipc(&bytes).unwrap());
    }
    let got = arrow_select::concat::concat_batches(&erc20_logic::logs_schema(), &got).unwrap();
    assert_eq!(got, expected, "examples/data/erc20_logs.parquet is stale; regenerate it");
}
