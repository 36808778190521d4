//! Mid-task events. The sandbox tells a [`ChannelSink`] of each event as the
//! guest emits it; [`stream`] posts them to the control plane while the task
//! runs, so downstream tasks start before a long task ends. Short tasks post
//! nothing here: their events travel with the completion, which carries
//! every event anyway (already-posted ones are recognised by their
//! idempotency keys), so a failed post loses nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use trace_core::Event;
use trace_sandbox::EventSink;
use trace_protocol::contract::{AttemptAuth, EmittedEvent};

use trace_protocol::plane::{ControlPlane, PlaneError};

/// A task running at least this long starts streaming its events.
pub const STREAM_AFTER: Duration = Duration::from_secs(1);
/// How often a streaming task posts what it emitted since the last post.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Most events in one post (well under the internal API's bound).
pub const MAX_EVENTS_PER_POST: usize = 1_000;

/// The store's form of a sandbox event.
pub fn emitted(e: Event) -> EmittedEvent {
    EmittedEvent { output: e.output, partition_key: e.partition_key, range: e.range.map(|r| (r.start, r.end)), cursor: e.cursor }
}

/// Hands each emitted event to [`stream`] (the sandbox runs on a blocking
/// thread; an unbounded send never blocks it).
pub struct ChannelSink(pub mpsc::UnboundedSender<Event>);

impl EventSink for ChannelSink {
    fn emitted(&mut self, event: &Event) {
        let _ = self.0.send(event.clone());
    }
}

/// Post the attempt's events while it runs, until the sandbox drops its
/// sink (the task ended; the completion carries the rest).
pub async fn stream(plane: Arc<dyn ControlPlane>, auth: AttemptAuth, mut events: mpsc::UnboundedReceiver<Event>) {
    let started = Instant::now();
    let mut pending: Vec<EmittedEvent> = Vec::new();
    let mut next_flush = started + STREAM_AFTER;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(e) => pending.push(emitted(e)),
                None => return,
            },
            _ = tokio::time::sleep_until(next_flush) => {
                next_flush = Instant::now() + FLUSH_EVERY;
                for chunk in pending.chunks(MAX_EVENTS_PER_POST) {
                    match plane.post_events(&auth, chunk).await {
                        Ok(_) => {}
                        // Superseded: this attempt may no longer speak.
                        Err(e @ PlaneError::Refused { .. }) => {
                            tracing::info!(task = auth.task, error = %e, "streaming events stopped");
                            return;
                        }
                        Err(e) => tracing::warn!(task = auth.task, error = %e, "posting events failed; they go with the completion"),
                    }
                }
                pending.clear();
            }
        }
    }
}
