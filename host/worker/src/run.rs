//! Stage two: the operator runs in a fresh sandbox, off the async threads,
//! and its outputs are encoded to Parquet (work done on the guest's behalf,
//! so it counts against the task's time limit). Where outputs are
//! discarded, the operator's events stream to the control plane while it
//! runs.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use trace_batches::{rows_of, ParquetFile};
use trace_protocol::buffered::Value;
use trace_protocol::contract::AttemptAuth;
use trace_sandbox::TaskReport;

use crate::context::WorkerContext;
use crate::failure::Failure;
use crate::prepare::Prepared;
use crate::stream::{self, ChannelSink};
use crate::{inputs, outputs};

/// What the operator did: its report, and its outputs as Parquet files
/// (`None` where outputs are discarded).
pub struct Ran {
    pub report: TaskReport,
    pub files: Option<Vec<Option<ParquetFile>>>,
    /// Rows of buffered outputs, checked against their tables' columns.
    pub buffered: Vec<(u32, Vec<Vec<Value>>)>,
}

/// Why the sandbox thread itself failed (not the task).
#[derive(Debug)]
pub struct Panicked;

/// What the sandbox thread measured, however the run ended.
#[derive(Debug, Default)]
pub struct Measured {
    pub cpu: std::time::Duration,
    pub sandbox: Option<trace_sandbox::Usage>,
    /// Rows and bytes of the encoded files and buffered rows.
    pub output_rows: u64,
    pub output_bytes: u64,
    /// What the operator logged, however it ended.
    pub log: String,
}

pub async fn run(ctx: &Arc<WorkerContext>, auth: &AttemptAuth, prepared: Prepared) -> Result<(Result<Ran, Failure>, Measured), Panicked> {
    let Prepared { operator, mut task, inputs: fetched, existing, buffered, rpc_stats: _ } = prepared;
    // Events stream while the task runs only where its outputs are not
    // stored: a downstream task started by a streamed event would otherwise
    // read the producer's dataset before its files commit (with the
    // completion). Stored outputs send every event with the completion.
    let encode = ctx.outputs.storage().is_some();
    let streamer = (!encode).then(|| {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        task.event_sink = Some(Box::new(ChannelSink(events_tx)));
        tokio::spawn(stream::stream(ctx.plane.clone(), auth.clone(), events_rx))
    });
    // The sandbox thread continues the attempt's span (spans follow
    // futures, not threads).
    let span = tracing::Span::current();
    let ran = tokio::task::spawn_blocking(move || {
        let _in = span.enter();
        let cpu = crate::meter::thread_cpu();
        let mut measured = Measured::default();
        let ran = run_in_thread(operator, task, fetched, &existing, &buffered, encode, &mut measured);
        measured.cpu = crate::meter::thread_cpu().saturating_sub(cpu);
        (ran, measured)
    })
    .await
    .map_err(|_| Panicked)?;
    // The sandbox dropped its sink: the streamer stops (no post can race
    // the completion's own events past this point).
    if let Some(streamer) = streamer {
        let _ = streamer.await;
    }
    Ok(ran)
}

/// The operator's run and its outputs' encoding, on the sandbox thread.
fn run_in_thread(
    operator: trace_sandbox::Operator,
    mut task: trace_sandbox::Task,
    fetched: Option<inputs::Fetched>,
    existing: &outputs::Existing,
    buffered: &[(usize, trace_protocol::buffered::TableSchema)],
    encode: bool,
    measured: &mut Measured,
) -> Result<Ran, Failure> {
        if let Some(fetched) = fetched {
            task.inputs = inputs::sources(fetched)?;
        }
        let (started, limit) = (Instant::now(), task.limits.timeout);
        let mut report = match operator.run(task) {
            Ok(report) => report,
            Err(mut failure) => {
                measured.sandbox = Some(failure.usage.clone());
                measured.log = std::mem::take(&mut failure.log);
                metrics::counter!("trace_sandbox_failures_total", "kind" => failure_kind(&failure.error)).increment(1);
                return Err(failure.into());
            }
        };
        measured.sandbox = Some(report.usage.clone());
        measured.log = std::mem::take(&mut report.log);
        // Buffered outputs leave as rows, not files.
        let mut rows = Vec::with_capacity(buffered.len());
        for (output, schema) in buffered {
            let Some(batches) = report.outputs.get_mut(*output) else { continue };
            let written = std::mem::take(batches);
            let values = rows_of(schema, &written).map_err(|e| Failure::fatal(format!("output {output} (a buffered dataset): {e}")))?;
            measured.output_rows += values.len() as u64;
            rows.push((*output as u32, values));
        }
        // A buffered output's event is the sink's, after its rows commit:
        // one from the operator would start readers with nothing to read.
        report.events.retain(|e| !buffered.iter().any(|(o, _)| *o == e.output as usize));
        let files = match encode {
            true => {
                let files = outputs::encode(&report.outputs, existing)?;
                outputs::within_time_limit(started, limit)?;
                for file in files.iter().flatten() {
                    measured.output_rows += file.rows;
                    measured.output_bytes += file.bytes.len() as u64;
                }
                Some(files)
            }
            false => None,
        };
        Ok(Ran { report, files, buffered: rows })
}

/// A low-cardinality name for why the sandbox stopped a task: `limit_` and
/// the limit's name, `trap`, `operator` or `setup`.
fn failure_kind(e: &trace_sandbox::TaskError) -> String {
    match e {
        trace_sandbox::TaskError::Limit(limit) => {
            let name = format!("{limit:?}");
            format!("limit_{}", name.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("other"))
        }
        trace_sandbox::TaskError::Operator { .. } => "operator".to_owned(),
        trace_sandbox::TaskError::Trap { .. } => "trap".to_owned(),
        trace_sandbox::TaskError::Setup(_) => "setup".to_owned(),
    }
}
