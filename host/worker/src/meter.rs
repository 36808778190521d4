//! What an attempt used, measured as it runs: wall time from the payload's
//! arrival, the CPU time of the thread that ran the operator and encoded
//! its outputs, the sandbox's own counts (fuel, peak memory, events, log),
//! bytes and rows in and out, and the RPC client's requests. Reported with
//! the attempt's outcome, whatever it was.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trace_protocol::contract::{AttemptUsage, TaskPayload};
use trace_rpc::RpcStats;
use trace_sandbox::Usage;

/// CPU time the calling thread has used so far.
pub fn thread_cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write to; the clock id is a constant
    // Linux (and every POSIX system with thread CPU clocks) knows.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    if ok { Duration::new(t.tv_sec as u64, t.tv_nsec as u32) } else { Duration::ZERO }
}

/// An attempt's usage, filled in stage by stage.
#[derive(Debug)]
pub struct Meter {
    started: Instant,
    pub cpu: Duration,
    pub sandbox: Option<Usage>,
    pub input_bytes: u64,
    pub input_rows: u64,
    pub output_bytes: u64,
    pub output_rows: u64,
    pub rpc: Option<Arc<RpcStats>>,
    /// The end of the operator's log, kept with the attempt.
    pub log: Option<String>,
}

impl Meter {
    /// Started when `payload` arrived; its inputs are what its feeds declare.
    pub fn start(payload: &TaskPayload) -> Self {
        let parts = payload.inputs_from.iter().flat_map(|f| &f.partitions);
        let (input_bytes, input_rows) = parts.fold((0, 0), |(b, r), p| (b + p.bytes, r + p.rows));
        Self { started: Instant::now(), cpu: Duration::ZERO, sandbox: None, input_bytes, input_rows, output_bytes: 0, output_rows: 0, rpc: None, log: None }
    }

    pub fn usage(&self) -> AttemptUsage {
        let sandbox = self.sandbox.clone().unwrap_or_default();
        let rpc = |f: fn(&RpcStats) -> u64| self.rpc.as_deref().map_or(0, f);
        AttemptUsage {
            wall_ms: self.started.elapsed().as_millis() as u64,
            cpu_ms: self.cpu.as_millis() as u64,
            fuel: sandbox.fuel_consumed,
            peak_memory_bytes: sandbox.peak_memory_bytes as u64,
            input_bytes: self.input_bytes,
            input_rows: self.input_rows,
            // Parquet bytes where outputs are stored, else what the guest wrote.
            output_bytes: if self.output_bytes > 0 { self.output_bytes } else { sandbox.output_bytes },
            output_rows: self.output_rows,
            events: u64::from(sandbox.events),
            log_bytes: sandbox.log_bytes,
            rpc_requests: rpc(|s| s.requests.load(Ordering::Relaxed)),
            rpc_bytes: rpc(|s| s.response_bytes.load(Ordering::Relaxed)),
        }
    }
}

/// Count a finished attempt of `job` in the process's metrics.
pub fn record(job: &str, outcome: &trace_protocol::contract::Outcome, usage: Option<&AttemptUsage>) {
    use trace_protocol::contract::Outcome;
    let outcome = match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed { retryable: true, .. } => "failed_retryable",
        Outcome::Failed { retryable: false, .. } => "failed",
        Outcome::Canceled => "canceled",
    };
    let job = job.to_owned();
    metrics::counter!("trace_task_attempts_total", "job" => job.clone(), "outcome" => outcome).increment(1);
    if let Some(u) = usage {
        metrics::histogram!("trace_task_duration_seconds", "job" => job.clone()).record(u.wall_ms as f64 / 1000.0);
        metrics::histogram!("trace_task_peak_memory_bytes", "job" => job.clone()).record(u.peak_memory_bytes as f64);
        metrics::counter!("trace_task_cpu_seconds_total", "job" => job.clone()).increment(u.cpu_ms / 1000);
        metrics::counter!("trace_task_rows_total", "job" => job.clone(), "direction" => "in").increment(u.input_rows);
        metrics::counter!("trace_task_rows_total", "job" => job, "direction" => "out").increment(u.output_rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_grows_with_work() {
        let before = thread_cpu();
        let mut x = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(7));
        }
        std::hint::black_box(x);
        let used = thread_cpu() - before;
        assert!(used >= Duration::from_millis(10) && used <= Duration::from_millis(200), "{used:?}");
    }
}
