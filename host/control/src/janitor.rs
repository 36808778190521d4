//! The storage janitor: staged files nobody will commit are deleted, and
//! committed files still at their staging key are promoted.
//!
//! An attempt stages its outputs, then reports; a worker killed between the
//! two leaves files under `org/{org}/staging/task/{task}/attempt/{n}/` that
//! no completion will ever name (a later attempt stages its own), and one
//! killed between the commit and the promote leaves a registered partition
//! at its staging key. The janitor finds both. It never touches the files
//! of an attempt that may still commit them: one still running, or its
//! open task's current attempt timed out (a late report is admitted).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use trace_storage::paths::{staged_by, staging_prefix};
use trace_storage::{Storage, StorageError};
use trace_store::{Db, StagedFiles, StoreError};

/// Most staged files one org's sweep looks at (the rest wait for the next).
pub const MAX_SWEPT_PER_ORG: usize = 10_000;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Staged files of attempts that may still commit (running, or timed
    /// out and still current): left alone.
    pub live: usize,
    /// Committed files moved from their staging key to their final key.
    pub promoted: usize,
    /// Staged files no attempt will commit: deleted.
    pub deleted: usize,
}

impl Sweep {
    fn add(&mut self, other: &Sweep) {
        self.live += other.live;
        self.promoted += other.promoted;
        self.deleted += other.deleted;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JanitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Sweep org `org`'s staged files once.
pub async fn sweep_org(db: &Db, storage: &Storage, org: i64) -> Result<Sweep, JanitorError> {
    let mut staged: Vec<_> = storage.list(&staging_prefix(org)).await?;
    staged.truncate(MAX_SWEPT_PER_ORG);
    let mut by_task: HashMap<i64, Vec<(i32, trace_storage::ObjectPath)>> = HashMap::new();
    for (path, _) in staged {
        // Anything else under the prefix is not ours to judge.
        if let Some((task, attempt)) = staged_by(org, &path) {
            by_task.entry(task).or_default().push((attempt, path));
        }
    }
    let tasks: Vec<i64> = by_task.keys().copied().collect();
    // Live attempts first, commits second: see trace_store::StagedFiles.
    let live = db.live_attempts(&tasks).await?;
    let committed: HashMap<String, String> = db.committed_files(&tasks).await?.into_iter().collect();
    let mut sweep = Sweep::default();
    for (task, files) in by_task {
        for (attempt, path) in files {
            if live.contains(&(task, attempt)) {
                sweep.live += 1;
            } else if let Some(object) = committed.get(path.as_ref()) {
                storage.promote(&path, &object.as_str().into()).await?;
                sweep.promoted += 1;
            } else {
                storage.delete(&path).await?;
                sweep.deleted += 1;
            }
        }
    }
    Ok(sweep)
}

/// Sweep every org once.
pub async fn sweep(db: &Db, storage: &Storage) -> Result<Sweep, JanitorError> {
    let mut total = Sweep::default();
    for org in db.org_ids().await? {
        total.add(&sweep_org(db, storage, org).await?);
    }
    Ok(total)
}

/// Sweep every `every` until `stop` turns true; failures are logged and the
/// next sweep tries again.
pub async fn run(db: Arc<Db>, storage: Storage, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match sweep(&db, &storage).await {
            Ok(s) if s.promoted + s.deleted > 0 => {
                metrics::counter!("trace_janitor_files_total", "action" => "deleted").increment(s.deleted as u64);
                metrics::counter!("trace_janitor_files_total", "action" => "promoted").increment(s.promoted as u64);
                tracing::info!(deleted = s.deleted, promoted = s.promoted, live = s.live, "storage janitor swept staged files");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the storage janitor's sweep failed; trying again later"),
        }
    }
}
