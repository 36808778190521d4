//! The dispatcher: reaps timed-out attempts, claims runnable tasks (one
//! attempt and slot lease each, metered per job) and sends them to the
//! queue: their ids, or their full payloads where the queue invokes workers
//! directly. It wakes on a timer or when a worker reports that work finished.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::Instrument;
use trace_store::{now_millis, Db, Store, StoreError};

use crate::queue::{QueueError, TaskQueue};

/// How the dispatcher paces itself.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Most tasks claimed per transaction (512 measured ~10 % more tasks/s
    /// than 256 on PostgreSQL; each claim costs a dozen round trips).
    pub batch: u32,
    /// Longest sleep between rounds when nothing wakes it.
    pub poll: Duration,
    /// How often timed-out attempts are looked for. Reaping takes the write
    /// lock on SQLite, so it runs on its own clock, not every round.
    pub reap_every: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self { batch: 512, poll: Duration::from_millis(50), reap_every: Duration::from_millis(500) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Longest wait between rounds that failed one after another.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Run until `shutdown` turns true. A round that fails (the database
/// restarting, the queue unreachable) is logged and tried again with
/// backoff: a server outlives its database's restarts. Tasks claimed in a
/// round whose sends failed come back when their attempts time out.
pub async fn run(db: Arc<Db>, queue: Arc<dyn TaskQueue>, wake: Arc<Notify>, config: DispatcherConfig, mut shutdown: watch::Receiver<bool>) {
    let mut last_reap = std::time::Instant::now() - config.reap_every;
    let mut gauges = DepthGauges::default();
    let mut backoff = config.poll;
    loop {
        if *shutdown.borrow() {
            // The gauges' last word is the queue as this dispatcher left it
            // (otherwise they keep whatever the last reap tick saw).
            if let Ok(depth) = db.queue_depth(now_millis()).await {
                gauges.show(&depth);
            }
            return;
        }
        let pause = match round(&db, queue.as_ref(), &config, &mut last_reap, &mut gauges).await {
            Ok(claimed) if claimed as u32 == config.batch => {
                backoff = config.poll;
                continue; // more may be waiting
            }
            Ok(_) => {
                backoff = config.poll;
                config.poll
            }
            Err(e) => {
                metrics::counter!("trace_dispatch_errors_total").increment(1);
                tracing::warn!(error = %e, ?backoff, "a dispatch round failed; retrying");
                let pause = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                pause
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One round: reap timed-out attempts (on their own clock), claim what is
/// runnable and hand it to the queue. Returns how many tasks were claimed.
async fn round(db: &Db, queue: &dyn TaskQueue, config: &DispatcherConfig, last_reap: &mut std::time::Instant, gauges: &mut DepthGauges) -> Result<usize, DispatchError> {
    let now = now_millis();
    if last_reap.elapsed() >= config.reap_every {
        db.reap(now).await?;
        // On the reap clock: one small query twice a second, not per round.
        let depth = db.queue_depth(now).await?;
        gauges.show(&depth);
        *last_reap = std::time::Instant::now();
    }
    let started = std::time::Instant::now();
    let claimed = if queue.carries_payloads() {
        let payloads = db.claim_payloads(config.batch, now).await?;
        let n = payloads.len();
        for payload in payloads {
            let span = dispatch_span(payload.task, payload.attempt.as_ref().map_or(0, |a| a.attempt), payload.trace_parent.as_deref());
            queue.send_payload(payload).instrument(span).await?;
        }
        n
    } else {
        let claims = db.claim(config.batch, now).await?;
        for claim in &claims {
            let span = dispatch_span(claim.task, claim.attempt, claim.trace_parent.as_deref());
            queue.send(claim.task).instrument(span).await?;
        }
        claims.len()
    };
    if claimed > 0 {
        metrics::histogram!("trace_claim_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("trace_claims_total").increment(claimed as u64);
        metrics::counter!("trace_queue_messages_total").increment(claimed as u64);
    }
    Ok(claimed)
}

/// Handing one claimed task to the queue, as a span of the task's trace.
/// Only when spans are exported: otherwise a span per task would cost the
/// loop and show nowhere (log lines name the task themselves).
fn dispatch_span(task: i64, attempt: i32, trace_parent: Option<&str>) -> tracing::Span {
    if !trace_telemetry::exporting() {
        return tracing::Span::none();
    }
    let span = tracing::debug_span!("dispatch", task, attempt);
    trace_telemetry::adopt(&span, trace_parent);
    span
}

/// The queue's depth as gauges: `trace_queue_depth{state}` in total and
/// `trace_tasks{job,state}` per job name. A job whose tasks all finished
/// drops to 0 rather than keeping its last value.
#[derive(Default)]
struct DepthGauges {
    jobs: std::collections::HashSet<String>,
}

impl DepthGauges {
    fn show(&mut self, depth: &trace_store::QueueDepth) {
        let states = |d: i64, b: i64, r: i64| [("due", d), ("backing_off", b), ("running", r)];
        for (state, n) in states(depth.due, depth.backing_off, depth.running) {
            metrics::gauge!("trace_queue_depth", "state" => state).set(n as f64);
        }
        let mut now_shown = std::collections::HashSet::with_capacity(depth.by_job.len());
        for j in &depth.by_job {
            for (state, n) in states(j.due, j.backing_off, j.running) {
                metrics::gauge!("trace_tasks", "job" => j.job.clone(), "state" => state).set(n as f64);
            }
            now_shown.insert(j.job.clone());
        }
        for gone in self.jobs.difference(&now_shown) {
            for state in ["due", "backing_off", "running"] {
                metrics::gauge!("trace_tasks", "job" => gone.clone(), "state" => state).set(0.0);
            }
        }
        self.jobs = now_shown;
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;
    use trace_store::{JobDepth, QueueDepth};

    use super::DepthGauges;

    #[test]
    fn a_job_whose_tasks_all_finished_drops_to_zero() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let mut gauges = DepthGauges::default();
        let busy = QueueDepth { due: 2, backing_off: 0, running: 1, by_job: vec![JobDepth { job: "blocks".into(), due: 2, backing_off: 0, running: 1 }] };
        metrics::with_local_recorder(&recorder, || gauges.show(&busy));
        let text = handle.render();
        assert!(text.contains("trace_tasks{job=\"blocks\",state=\"due\"} 2"), "{text}");
        assert!(text.contains("trace_tasks{job=\"blocks\",state=\"running\"} 1"), "{text}");
        assert!(text.contains("trace_queue_depth{state=\"due\"} 2"), "{text}");
        metrics::with_local_recorder(&recorder, || gauges.show(&QueueDepth::default()));
        let text = handle.render();
        assert!(text.contains("trace_tasks{job=\"blocks\",state=\"due\"} 0"), "{text}");
        assert!(text.contains("trace_tasks{job=\"blocks\",state=\"running\"} 0"), "{text}");
    }
}
