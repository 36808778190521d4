//! Benchmarks of Trace's hot paths. Each measures Trace and a baseline in the
//! same process and reports the ratio, so figures compare across machines.
//! Run with `cargo bench -p trace-bench`.

pub mod bare;
pub mod control_loop;
pub mod per_task;
pub mod pipeline;
pub mod report;
pub mod udf_throughput;
