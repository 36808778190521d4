//! Stage four: report the attempt. On acceptance its staged files become
//! final, on refusal they are dropped. When the answer never came (the call
//! failed after its retries) the commit may have happened: the files stay
//! where they were staged, where readers and `trace dataset repair` find
//! them.

use trace_protocol::contract::{Completion, Outcome, TaskStatus};
use trace_protocol::plane::{PlaneError, Refusal};

use crate::context::WorkerContext;
use crate::outputs;
use crate::error::WorkerError;

pub async fn report(ctx: &WorkerContext, completion: Completion) -> Result<(), WorkerError> {
    // Only a success carries files.
    let written = completion.partitions.clone();
    let accepted = submit(ctx, completion).await;
    if let Some(storage) = ctx.outputs.storage().filter(|_| !written.is_empty()) {
        match accepted {
            Ok(true) => outputs::promote(storage, &written).await,
            Ok(false) => outputs::discard(storage, &written).await,
            Err(_) => tracing::warn!(files = written.len(), "the completion's fate is unknown; its staged files are kept"),
        }
    }
    accepted.map(drop)
}

/// `Ok(true)` when the report itself was accepted as a success (its files
/// registered; an append that raced another becomes a retry instead).
async fn submit(ctx: &WorkerContext, completion: Completion) -> Result<bool, WorkerError> {
    let auth = completion.auth.clone();
    let refused = match ctx.plane.complete(completion).await {
        Ok(status) => return Ok(status == TaskStatus::Completed),
        // Superseded or already finished: the platform has moved on, and the
        // attempt's results are rightly dropped.
        Err(e @ PlaneError::Refused { reason: Refusal::Superseded, .. }) => {
            // A retried call whose first try committed finds the task
            // finished: by this very attempt, whose files must then stay.
            let ours = ctx.plane.fetch(auth.task).await.is_ok_and(|p| {
                p.status == TaskStatus::Completed && p.attempt.as_ref().is_some_and(|a| a.attempt == auth.attempt)
            });
            tracing::info!(error = %e, committed_by_this_attempt = ours, "completion refused");
            return Ok(ours);
        }
        // The report itself is invalid (an event for an output the job does
        // not have): fail the attempt, fatally, rather than the worker.
        Err(PlaneError::Refused { reason: Refusal::Invalid, message }) => message,
        Err(e) => return Err(e.into()),
    };
    let outcome = Outcome::Failed { retryable: false, message: format!("the operator's report was refused: {refused}") };
    let retry = Completion { usage: None, log: None, auth: auth.clone(), outcome, events: Vec::new(), state: Vec::new(), partitions: Vec::new() };
    match ctx.plane.complete(retry).await {
        Ok(_) | Err(PlaneError::Refused { reason: Refusal::Superseded, .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
