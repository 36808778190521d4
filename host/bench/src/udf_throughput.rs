//! Throughput of the example UDF over a batch of rows: in the sandbox
//! (host → guest IPC, decode, filter, encode, guest → host) against the same
//! Rust code compiled natively doing the same decode, filter and encode.

use std::time::Duration;

use trace_core::{InputEvent, TaskContext, VecSource};
use trace_sandbox::{Runtime, RuntimeConfig, Task, World};

use crate::handover_floor::{self, Floor};
use crate::report::best_of_with;

pub struct Throughput {
    pub rows: usize,
    pub rows_out: usize,
    pub sandboxed: Duration,
    pub native: Duration,
    /// Measured only by [`measure_with_boundary`].
    pub boundary: Option<Boundary>,
}

/// What crossing the sandbox boundary costs on the same input.
pub struct Boundary {
    /// The same input handed to an operator that only decodes and counts
    /// it (`row_count`): moving the batches into the sandbox, then decoding.
    pub handover: Duration,
    /// What the copies in and out cost at least (no wasm involved).
    pub floor: Floor,
}

impl Throughput {
    pub fn rows_per_sec(&self, d: Duration) -> f64 {
        self.rows as f64 / d.as_secs_f64()
    }

    /// Sandboxed speed as a fraction of native speed.
    pub fn ratio(&self) -> f64 {
        self.native.as_secs_f64() / self.sandboxed.as_secs_f64()
    }

    /// The best ratio the copies in and out allow: the sandbox run if the
    /// guest's own work cost no more than the native run's.
    pub fn ceiling(&self) -> Option<f64> {
        self.boundary.as_ref().map(|b| b.floor.ceiling(self.native))
    }
}


fn count_rows(ipc: Vec<Vec<u8>>) -> usize {
    ipc.into_iter()
        .flat_map(|b| trace_batches::decode_ipc_owned(b).expect("decode output"))
        .map(|b| b.num_rows())
        .sum()
}

/// Time a whole task of `op` over `batches` (copied before each round,
/// untimed), returning the best round and the last report.
fn run_best(op: &trace_sandbox::Operator, batches: &[Vec<u8>], config: &serde_json::Value, rounds: usize) -> (Duration, trace_sandbox::TaskReport) {
    best_of_with(
        rounds,
        || VecSource::new(batches.to_vec()),
        |source| {
            let task = Task::new(TaskContext::local("bench", config.clone()), InputEvent::default()).with_input(source);
            op.run(task).expect("operator succeeds")
        },
    )
}

/// The UDF `component` in the sandbox against native, over `rows` rows in
/// batches of `batch_rows`, best of `rounds`.
pub fn measure(component: &str, rows: usize, batch_rows: usize, min_value: u128, rounds: usize) -> Throughput {
    run(component, rows, batch_rows, min_value, rounds, false)
}

/// The UDF `component` in the sandbox without and with fuel metering (an
/// engine of each kind), best of `rounds` each.
pub fn fuel_overhead(component: &str, rows: usize, batch_rows: usize, min_value: u128, rounds: usize) -> (Duration, Duration) {
    let logs = erc20_logic::synthetic_logs(0, rows, 1);
    let batches = trace_batches::encode_ipc_slices(&logs, batch_rows).expect("encode");
    let config = serde_json::json!({ "min_value": min_value.to_string() });
    let time = |fuel: bool| {
        let runtime = Runtime::new(RuntimeConfig { engine: trace_sandbox::EngineConfig::default().with_fuel(fuel), ..RuntimeConfig::default() }).expect("runtime");
        let op = runtime.load_file(component.as_ref(), World::Transform).expect("load");
        let (took, report) = run_best(&op, &batches, &config, rounds);
        assert_eq!(report.usage.fuel_consumed.is_some(), fuel);
        took
    };
    (time(false), time(true))
}

/// [`measure`], then what crossing the boundary costs on the same input.
pub fn measure_with_boundary(component: &str, rows: usize, batch_rows: usize, min_value: u128, rounds: usize) -> Throughput {
    run(component, rows, batch_rows, min_value, rounds, true)
}

fn run(component: &str, rows: usize, batch_rows: usize, min_value: u128, rounds: usize, with_boundary: bool) -> Throughput {
    let logs = erc20_logic::synthetic_logs(0, rows, 1);
    let batches = trace_batches::encode_ipc_slices(&logs, batch_rows).expect("encode");
    let config = serde_json::json!({ "min_value": min_value.to_string() });

    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let op = runtime.load_file(component.as_ref(), World::Transform).expect("load");
    // Inputs are copied before each round, untimed: both sides start from
    // encoded batches in host memory, as a worker does after a fetch.
    let (sandboxed, mut report) = run_best(&op, &batches, &config, rounds);
    let output = report.outputs.swap_remove(0);
    let output_bytes = output.iter().map(Vec::len).sum();
    let rows_out = count_rows(output);

    let (native, outputs) = best_of_with(
        rounds,
        || batches.clone(),
        |batches| {
            let mut outputs = Vec::new();
            for bytes in batches {
                for logs in trace_batches::decode_ipc_owned(bytes).expect("decode") {
                    let transfers = erc20_logic::filter_transfers(&logs, min_value).expect("filter");
                    if transfers.num_rows() > 0 {
                        outputs.push(trace_batches::encode_ipc(&[transfers]).expect("encode"));
                    }
                }
            }
            outputs
        },
    );
    let native_rows = count_rows(outputs);
    assert_eq!(rows_out, native_rows, "sandboxed and native outputs differ");
    let boundary = with_boundary.then(|| {
        let counter = runtime.load_file(trace_artifacts::ROW_COUNT.as_ref(), World::Transform).expect("load row_count");
        let (handover, _) = run_best(&counter, &batches, &config, rounds);
        Boundary { handover, floor: handover_floor::measure(&batches, output_bytes, rounds) }
    });
    Throughput { rows, rows_out, sandboxed, native, boundary }
}
