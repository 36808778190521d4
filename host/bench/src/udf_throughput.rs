//! Throughput of the example UDF over a batch of rows: in the sandbox
//! (host → guest IPC, decode, filter, encode, guest → host) against the same
//! Rust code compiled natively doing the same decode, filter and encode.

use std::time::Duration;

use arrow_array::RecordBatch;
use trace_core::{InputEvent, TaskContext, VecSource};
use trace_sandbox::{Runtime, RuntimeConfig, Task, World};

use crate::report::best_of;

pub struct Throughput {
    pub rows: usize,
    pub rows_out: usize,
    pub sandboxed: Duration,
    pub native: Duration,
}

impl Throughput {
    pub fn rows_per_sec(&self, d: Duration) -> f64 {
        self.rows as f64 / d.as_secs_f64()
    }

    /// Sandboxed speed as a fraction of native speed.
    pub fn ratio(&self) -> f64 {
        self.native.as_secs_f64() / self.sandboxed.as_secs_f64()
    }
}

/// The input cut into IPC batches of `batch_rows` rows, as a worker gets it.
fn ipc_batches(logs: &RecordBatch, batch_rows: usize) -> Vec<Vec<u8>> {
    (0..logs.num_rows())
        .step_by(batch_rows)
        .map(|at| {
            let n = batch_rows.min(logs.num_rows() - at);
            trace_batches::encode_ipc(&[logs.slice(at, n)]).expect("encode")
        })
        .collect()
}

pub fn measure(component: &str, rows: usize, batch_rows: usize, min_value: u128, rounds: usize) -> Throughput {
    let logs = erc20_logic::synthetic_logs(0, rows, 1);
    let batches = ipc_batches(&logs, batch_rows);
    let config = serde_json::json!({ "min_value": min_value.to_string() });

    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let op = runtime.load_file(component.as_ref(), World::Transform).expect("load");
    let (sandboxed, rows_out) = best_of(rounds, || {
        let task = Task::new(TaskContext::local("bench", config.clone()), InputEvent::default())
            .with_input(VecSource::new(batches.clone()));
        let report = op.run(task).expect("UDF succeeds");
        report.outputs[0].iter().map(|b| trace_batches::decode_ipc(b).unwrap().iter().map(RecordBatch::num_rows).sum::<usize>()).sum::<usize>()
    });

    let (native, native_rows) = best_of(rounds, || {
        let mut out_rows = 0;
        let mut outputs = Vec::new();
        for bytes in batches.clone() {
            for logs in trace_batches::decode_ipc_owned(bytes).expect("decode") {
                let transfers = erc20_logic::filter_transfers(&logs, min_value).expect("filter");
                out_rows += transfers.num_rows();
                outputs.push(trace_batches::encode_ipc(&[transfers]).expect("encode"));
            }
        }
        std::hint::black_box(outputs);
        out_rows
    });
    assert_eq!(rows_out, native_rows, "sandboxed and native outputs differ");
    Throughput { rows, rows_out, sandboxed, native }
}
