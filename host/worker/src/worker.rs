//! The worker wrapper: the protection boundary around operator code. It
//! receives a task id, fetches the task (and the attempt credential, which it
//! keeps to itself), runs the operator in a fresh sandbox, and reports the
//! outcome with the operator's events and state writes as one completion.
//! A task marked canceled is reported without running any operator code.
//!
//! An attempt goes through four stages, each its own module: [`prepare`]
//! (operator, config, inputs), [`run`](crate::run) (the sandbox, encoding
//! outputs), [`persist`](crate::persist) (staging files) and
//! [`report`](crate::report). Any stage may end the attempt with a
//! [`Failure`], which becomes its outcome.

use std::sync::Arc;

use tokio::task::JoinSet;
use tracing::Instrument;
use trace_protocol::contract::{AttemptAuth, Completion, Outcome, StateWrites, TaskId, TaskPayload};
use trace_protocol::plane::PlaneError;

pub use crate::context::{OperatorDir, Outputs, WorkerContext};
pub use crate::error::WorkerError;
use crate::failure::Failure;
use crate::meter::Meter;
use crate::prepare::prepare;
use crate::report::report;
use crate::{persist, run as sandbox, stream};

/// Serve tasks until the queue closes. A message is acknowledged only after
/// its task was reported, so a worker that dies leaves it to be redelivered.
///
/// Reports are pipelined: while one task's report waits for its batch to
/// commit, the worker already runs the next task (the wait is a commit, the
/// run is CPU). In-flight reports are bounded by the jobs' concurrency:
/// nothing new is claimed for a job until its running tasks report.
pub async fn run(ctx: Arc<WorkerContext>) -> Result<(), WorkerError> {
    let mut reports: JoinSet<Result<(), WorkerError>> = JoinSet::new();
    let mut outage = Outage::default();
    while let Some(mut delivery) = ctx.queue.recv().await? {
        let payload = match delivery.payload.take() {
            Some(payload) => Some(*payload),
            None => match fetch(&ctx, delivery.task).await {
                Ok(payload) => {
                    outage.over();
                    payload
                }
                // The control plane is unreachable (restarting, its database
                // down): the message stays unacknowledged and comes back;
                // the worker waits and carries on rather than exiting.
                Err(WorkerError::Plane(e @ PlaneError::Remote { .. })) => {
                    outage.wait(delivery.task, &e).await;
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let (completion, span) = match payload {
            Some(payload) => {
                let span = attempt_span(&payload);
                (execute_counted(&ctx, payload, &span).await?, span)
            }
            None => (None, tracing::Span::none()),
        };
        let ctx = ctx.clone();
        let reporting = tracing::debug_span!(parent: &span, "report", task = delivery.task, attempt = tracing::field::Empty);
        if let Some(c) = &completion {
            reporting.record("attempt", c.auth.attempt);
        }
        reports.spawn(
            async move {
                if let Some(completion) = completion {
                    match report(&ctx, completion).await {
                        Ok(()) => {}
                        // The report never reached the control plane: the
                        // message is left for redelivery (the attempt, not
                        // reported, times out and is retried).
                        Err(WorkerError::Plane(e @ PlaneError::Remote { .. })) => {
                            tracing::warn!(error = %crate::failure::error_chain(&e), "the report did not reach the control plane; the task's message is left to come back");
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    }
                }
                ctx.queue.ack(&delivery).await?;
                ctx.wake.notify_one();
                Ok(())
            }
            .instrument(reporting),
        );
        while let Some(done) = reports.try_join_next() {
            done.map_err(|_| WorkerError::ReportPanicked)??;
        }
    }
    while let Some(done) = reports.join_next().await {
        done.map_err(|_| WorkerError::ReportPanicked)??;
    }
    Ok(())
}

/// Pacing while the control plane is unreachable: a growing pause between
/// messages (up to [`MAX_OUTAGE_PAUSE`]), one warning per outage.
#[derive(Default)]
struct Outage {
    pause: Option<std::time::Duration>,
}

/// Longest pause between fetches while the control plane is unreachable.
pub const MAX_OUTAGE_PAUSE: std::time::Duration = std::time::Duration::from_secs(5);

impl Outage {
    async fn wait(&mut self, task: TaskId, e: &PlaneError) {
        let pause = match self.pause {
            None => {
                tracing::warn!(task, error = %crate::failure::error_chain(e), "the control plane is unreachable; waiting for it (messages come back)");
                std::time::Duration::from_millis(200)
            }
            Some(p) => (p * 2).min(MAX_OUTAGE_PAUSE),
        };
        self.pause = Some(pause);
        metrics::counter!("trace_worker_control_plane_outages_total").increment(1);
        tokio::time::sleep(pause).await;
    }

    fn over(&mut self) {
        if self.pause.take().is_some() {
            tracing::info!("the control plane answers again");
        }
    }
}

/// The task's payload, or `None` if there is nothing to run: it no longer
/// exists, or another worker took its attempt (the message came twice).
async fn fetch(ctx: &WorkerContext, task: TaskId) -> Result<Option<TaskPayload>, WorkerError> {
    match ctx.plane.take(task).await {
        Ok(payload) => Ok(Some(payload)),
        Err(e @ PlaneError::AlreadyTaken(_)) => {
            metrics::counter!("trace_worker_duplicate_deliveries_total").increment(1);
            tracing::info!(task, "{e}; dropping the message");
            Ok(None)
        }
        // Deleted (purged) since it was queued: nothing to run.
        Err(PlaneError::NoSuchTask(_)) => {
            tracing::warn!(task, "received a task that does not exist; dropping the message");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Run the task's attempt through the stages and say how it ended; `None`
/// for a task that was never claimed.
async fn execute(ctx: &Arc<WorkerContext>, payload: TaskPayload) -> Result<Option<Completion>, WorkerError> {
    let Some(auth) = payload.attempt.clone() else {
        tracing::warn!(task = payload.task, "received a task that was never claimed; dropping the message");
        return Ok(None);
    };
    if payload.is_canceled() {
        return Ok(Some(ended(&auth, Outcome::Canceled)));
    }
    if let Some(why) = &payload.refusal {
        return Ok(Some(ended(&auth, Failure::fatal(why.clone()).outcome())));
    }
    let mut meter = Meter::start(&payload);
    let ended = |meter: &Meter, outcome: Outcome| Some(Completion { usage: Some(meter.usage()), log: meter.log.clone(), ..ended(&auth, outcome) });
    let (task, attempt) = (auth.task, auth.attempt);
    let prepared = match prepare(ctx, &payload).instrument(tracing::debug_span!("prepare", task, attempt)).await {
        Ok(p) => p,
        Err(failure) => return Ok(ended(&meter, failure.outcome())),
    };
    meter.rpc = prepared.rpc_stats.clone();
    let (ran, measured) = sandbox::run(ctx, &auth, prepared).await.map_err(|_| WorkerError::Panicked(payload.task))?;
    (meter.cpu, meter.sandbox, meter.output_rows, meter.output_bytes) = (measured.cpu, measured.sandbox, measured.output_rows, measured.output_bytes);
    meter.log = trace_protocol::contract::log_tail(&measured.log);
    let ran = match ran {
        Ok(ran) => ran,
        Err(failure) => return Ok(ended(&meter, failure.outcome())),
    };
    // Rows reach the buffer before the completion: a retry after this
    // point writes the same unique keys again, which the sink drops.
    let persisting = tracing::debug_span!("persist", task, attempt);
    if let Err(failure) = persist::buffer(ctx, &auth, ran.buffered).instrument(persisting.clone()).await {
        return Ok(ended(&meter, failure.outcome()));
    }
    let partitions = match persist::persist(ctx, &payload, ran.files).instrument(persisting).await {
        Ok(p) => p,
        Err(failure) => return Ok(ended(&meter, failure.outcome())),
    };
    let events = ran.report.events.into_iter().map(stream::emitted).collect();
    let state: StateWrites = ran.report.state_writes.into_iter().collect();
    Ok(Some(Completion { usage: Some(meter.usage()), log: meter.log, auth, outcome: Outcome::Succeeded, events, state, partitions }))
}

/// The span of an attempt, naming the task, its attempt and job (every log
/// line of the attempt carries them); a child of the span that created the
/// task when spans are exported.
fn attempt_span(payload: &TaskPayload) -> tracing::Span {
    let attempt = payload.attempt.as_ref().map_or(0, |a| a.attempt);
    let span = tracing::info_span!("attempt", task = payload.task, attempt, job = %payload.job_name, org = payload.org);
    trace_telemetry::adopt(&span, payload.trace_parent.as_deref());
    span
}

/// [`execute`] in the attempt's span, with the attempt counted in the
/// process's metrics.
async fn execute_counted(ctx: &Arc<WorkerContext>, payload: TaskPayload, span: &tracing::Span) -> Result<Option<Completion>, WorkerError> {
    let job = payload.job_name.clone();
    let done = execute(ctx, payload).instrument(span.clone()).await?;
    if let Some(c) = &done {
        crate::meter::record(&job, &c.outcome, c.usage.as_ref());
        let _in = span.enter();
        let outcome = match &c.outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed { .. } => "failed",
            Outcome::Canceled => "canceled",
        };
        let u = c.usage.unwrap_or_default();
        tracing::debug!(outcome, wall_ms = u.wall_ms, cpu_ms = u.cpu_ms, peak_memory_bytes = u.peak_memory_bytes, rows_out = u.output_rows, "attempt finished");
    }
    Ok(done)
}

/// An attempt that ended without results.
fn ended(auth: &AttemptAuth, outcome: Outcome) -> Completion {
    Completion { usage: None, log: None, auth: auth.clone(), outcome, events: Vec::new(), state: Vec::new(), partitions: Vec::new() }
}
