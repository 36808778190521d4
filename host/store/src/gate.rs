//! The gate every report and mid-task event passes: it must come from the
//! task's current attempt, with that attempt's credential, for a task not
//! yet finished. Judged against a snapshot of the reported tasks read once
//! per batch.

use std::collections::HashMap;

use crate::error::StoreError;
use crate::model::*;

/// A reported task as the snapshot saw it.
pub(crate) struct Seen {
    pub(crate) status: TaskStatus,
    pub(crate) current: i32,
    pub(crate) job: JobId,
    pub(crate) max_attempts: i32,
    pub(crate) outputs: i32,
    pub(crate) org: OrgId,
    pub(crate) attempts: HashMap<i32, SeenAttempt>,
}

pub(crate) struct SeenAttempt {
    pub(crate) id: i64,
    pub(crate) credential: String,
    pub(crate) finished: Option<Millis>,
    pub(crate) outcome: Option<String>,
    pub(crate) slot: Option<i64>,
}

/// An attempt allowed to speak (report or post events).
pub(crate) struct Admitted {
    pub(crate) job: JobId,
    pub(crate) org: OrgId,
    pub(crate) outputs: i32,
    pub(crate) max_attempts: i32,
    pub(crate) attempt_id: i64,
    pub(crate) slot: Option<i64>,
    /// A timed-out attempt reporting after all: its attempt row and slot
    /// were already closed by the reaper.
    pub(crate) late: bool,
}

/// The gate: `auth` must be the task's current attempt, with its credential,
/// and the task must not be finished (a timed-out current attempt may still
/// speak until a newer one starts). `taken`: tasks already reported earlier
/// in the same batch.
pub(crate) fn admit(auth: &AttemptAuth, seen: Option<&Seen>, taken: &HashMap<TaskId, TaskStatus>) -> Result<Admitted, StoreError> {
    let seen = seen.ok_or(StoreError::NoSuchTask(auth.task))?;
    let Some(a) = seen.attempts.get(&auth.attempt) else {
        return Err(StoreError::StaleAttempt { task: auth.task, attempt: auth.attempt, current: seen.current });
    };
    if a.credential != auth.credential {
        return Err(StoreError::BadCredential { task: auth.task, attempt: auth.attempt });
    }
    if auth.attempt < seen.current {
        return Err(StoreError::StaleAttempt { task: auth.task, attempt: auth.attempt, current: seen.current });
    }
    if let Some(status) = taken.get(&auth.task) {
        return Err(StoreError::TaskFinished { task: auth.task, attempt: auth.attempt, status: *status });
    }
    let timed_out = a.outcome.as_deref() == Some("timeout");
    if matches!(seen.status, TaskStatus::Completed | TaskStatus::Canceled) || (a.finished.is_some() && !timed_out) {
        return Err(StoreError::TaskFinished { task: auth.task, attempt: auth.attempt, status: seen.status });
    }
    Ok(Admitted {
        job: seen.job,
        org: seen.org,
        outputs: seen.outputs,
        max_attempts: seen.max_attempts,
        attempt_id: a.id,
        slot: a.slot,
        late: a.finished.is_some(),
    })
}
