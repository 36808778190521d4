//! Benchmarks of Trace's hot paths. Each measures Trace and a baseline in the
//! same process and reports the ratio, so figures compare across machines.
//! Run with `cargo bench -p trace-bench`.

/// The allocator the `trace` binary runs with (see host/cli/src/main.rs), so
/// that Trace and its baselines are measured as the worker runs them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod bare;
pub mod control_loop;
pub mod handover_floor;
pub mod per_task;
pub mod pipeline;
pub mod report;
pub mod udf_throughput;
