//! The Delivery Service's loop: lease due deliveries from the system
//! database, send each as a signed webhook (at most `max_in_flight` at once
//! and `per_minute` a minute per destination, in this process), and record
//! the attempt and what follows it: delivered, tried again on the schedule
//! (or later, if the receiver asked with `Retry-After`), or failed after
//! the last attempt. A lease outlives one attempt's time limit; a sender
//! killed mid-send leaves its lease to expire, and another sender then
//! sends the same webhook again with the same `webhook-id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};
use trace_store::{now_millis, AfterAttempt, AttemptRecord, Db, Deliveries, LeasedDelivery, StoreError};

use crate::schedule::RetrySchedule;
use crate::send::{Attempt, Sender, Webhook};
use trace_secrets::SecretKey;

/// How a Delivery Service runs.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Names this sender in leases and attempt records.
    pub owner: String,
    /// One attempt's time limit.
    pub timeout: Duration,
    /// How long a lease holds: more than an attempt takes, so a live sender
    /// never loses its work; a dead sender's work returns after it.
    pub lease: Duration,
    /// Deliveries leased at a time.
    pub batch: u32,
    /// The wait when nothing is due.
    pub idle: Duration,
    pub schedule: RetrySchedule,
}

impl DeliveryConfig {
    pub fn new(owner: impl Into<String>) -> Self {
        let timeout = Duration::from_secs(10);
        Self { owner: owner.into(), timeout, lease: timeout * 3, batch: 64, idle: Duration::from_millis(250), schedule: RetrySchedule::default() }
    }
}

/// A destination's limits in this process.
struct Gate {
    in_flight: Arc<Semaphore>,
    /// The earliest time the next send may start (spacing by `per_minute`).
    next_start: tokio::sync::Mutex<Instant>,
    spacing: Duration,
}

/// A finished attempt, to be recorded: delivery id, attempt, what follows.
type Done = (i64, AttemptRecord, AfterAttempt);

/// Most finished attempts recorded in one transaction.
pub const RECORD_GROUP: usize = 256;

/// Record finished attempts as they come, in groups.
async fn record(db: Arc<Db>, owner: String, mut done: mpsc::Receiver<Done>) {
    while let Some(first) = done.recv().await {
        let mut group = vec![first];
        while group.len() < RECORD_GROUP {
            match done.try_recv() {
                Ok(d) => group.push(d),
                Err(_) => break,
            }
        }
        let mut backoff = Duration::from_millis(50);
        for round in 1..=5 {
            match db.record_attempts(&owner, &group).await {
                Ok(kept) => {
                    let lost = kept.iter().filter(|k| !**k).count();
                    if lost > 0 {
                        tracing::warn!(lost, "leases were taken over before their attempts were recorded (sends took longer than the lease)");
                    }
                    break;
                }
                Err(e) if round == 5 => {
                    tracing::error!(error = %e, attempts = group.len(), "recording delivery attempts failed; they will be sent again when their leases expire");
                }
                Err(e) => {
                    tracing::warn!(error = %e, ?backoff, "recording delivery attempts failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
}

pub struct DeliveryService {
    db: Arc<Db>,
    /// Opens the destinations' sealed signing secrets.
    key: Arc<SecretKey>,
    sender: Sender,
    config: DeliveryConfig,
    gates: Mutex<HashMap<(i64, String), Arc<Gate>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("building the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The JSON body of a delivery's webhook: built from the stored row only,
/// so every attempt sends the same bytes.
pub fn body(d: &LeasedDelivery) -> Vec<u8> {
    let payload: serde_json::Value = d.payload.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(serde_json::Value::Null);
    let body = serde_json::json!({
        "type": "alert",
        "webhook_id": d.webhook_id,
        "alert_key": d.alert_key,
        "severity": d.severity,
        "event_time": d.event_time,
        "destination": d.destination,
        "routed_by": d.writer_job,
        "routed_at": d.created_at,
        "payload": payload,
    });
    serde_json::to_vec(&body).expect("JSON serializes")
}

impl DeliveryService {
    pub fn new(db: Arc<Db>, key: Arc<SecretKey>, config: DeliveryConfig) -> Result<Self, DeliveryError> {
        let sender = Sender::new(config.timeout).map_err(DeliveryError::Client)?;
        Ok(Self { db, key, sender, config, gates: Mutex::new(HashMap::new()) })
    }

    /// Run until `stop` turns true: keep up to `batch` sends in flight,
    /// leasing more as they finish, and record finished attempts in groups
    /// (one transaction for all that finished together). Database trouble
    /// is logged and retried; an attempt that could not be recorded is sent
    /// again once its lease expires, under the same `webhook-id`.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let (done_tx, done_rx) = mpsc::channel::<Done>(RECORD_GROUP * 4);
        let recorder = tokio::spawn(record(self.db.clone(), self.config.owner.clone(), done_rx));
        let slots = Arc::new(Semaphore::new(self.config.batch.max(1) as usize));
        while !*stop.borrow() {
            let free = slots.available_permits() as u32;
            let leased = match free {
                0 => Vec::new(),
                n => match self.db.lease_deliveries(&self.config.owner, now_millis(), self.config.lease.as_millis() as i64, n).await {
                    Ok(leased) => leased,
                    Err(e) => {
                        tracing::warn!(error = %e, "leasing deliveries failed; retrying");
                        Vec::new()
                    }
                },
            };
            let idle = leased.is_empty();
            for d in leased {
                let slot = slots.clone().acquire_owned().await.expect("never closed");
                let (service, done_tx) = (self.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let done = service.deliver(d).await;
                    let _ = done_tx.send(done).await;
                    drop(slot);
                });
            }
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.idle) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }
        // Let the sends in flight finish and be recorded.
        let _ = slots.acquire_many(self.config.batch.max(1)).await;
        drop(done_tx);
        let _ = recorder.await;
    }

    /// Lease what is due, send it all and record it; returns how many were
    /// attempted. (`run` pipelines this; tests step with it.)
    pub async fn tick(self: &Arc<Self>) -> Result<usize, DeliveryError> {
        let leased = self.db.lease_deliveries(&self.config.owner, now_millis(), self.config.lease.as_millis() as i64, self.config.batch).await?;
        let n = leased.len();
        let mut sends = tokio::task::JoinSet::new();
        for d in leased {
            let service = self.clone();
            sends.spawn(async move { service.deliver(d).await });
        }
        let mut done = Vec::with_capacity(n);
        while let Some(finished) = sends.join_next().await {
            if let Ok(d) = finished {
                done.push(d);
            }
        }
        for group in done.chunks(RECORD_GROUP) {
            self.db.record_attempts(&self.config.owner, group).await?;
        }
        Ok(n)
    }

    fn gate(&self, d: &LeasedDelivery, max_in_flight: u32, per_minute: u32) -> Arc<Gate> {
        let mut gates = self.gates.lock().expect("gates lock poisoned");
        let spacing = Duration::from_secs(60) / per_minute.max(1);
        let gate = gates.entry((d.org, d.destination.clone())).or_insert_with(|| {
            Arc::new(Gate { in_flight: Arc::new(Semaphore::new(max_in_flight as usize)), next_start: tokio::sync::Mutex::new(Instant::now()), spacing })
        });
        // Limits changed since: start over with the new ones.
        if gate.spacing != spacing || gate.in_flight.available_permits() > max_in_flight as usize {
            *gate = Arc::new(Gate { in_flight: Arc::new(Semaphore::new(max_in_flight as usize)), next_start: tokio::sync::Mutex::new(Instant::now()), spacing });
        }
        gate.clone()
    }

    /// Send `d` once (within its destination's limits); what to record.
    async fn deliver(&self, d: LeasedDelivery) -> Done {
        let at = now_millis();
        let refused = |outcome: &str, why: String| {
            let record = AttemptRecord { at, duration_ms: 0, status_code: None, outcome: outcome.into(), excerpt: None, sender: self.config.owner.clone() };
            (d.id, record, AfterAttempt::Failed(why))
        };
        let Some(target) = d.target.clone() else {
            return refused("no_destination", format!("destination {:?} was removed before the delivery was sent", d.destination));
        };
        let secret = match crate::destination::open_secret(&self.key, d.org, &d.destination, &target.secret) {
            Ok(s) => s,
            Err(e) => return refused("bad_secret", format!("the destination's signing secret is unusable: {e}")),
        };
        let gate = self.gate(&d, target.max_in_flight, target.per_minute);
        let _permit = gate.in_flight.clone().acquire_owned().await.expect("never closed");
        {
            let mut next = gate.next_start.lock().await;
            let now = Instant::now();
            if *next > now {
                tokio::time::sleep(*next - now).await;
            }
            *next = Instant::now().max(*next) + gate.spacing;
        }
        let body = body(&d);
        let attempt = self.sender.attempt(&Webhook { id: &d.webhook_id, url: &target.url, secret: &secret, body: &body }).await;
        let after = self.after(&attempt, d.attempts + 1);
        metrics::counter!("trace_delivery_attempts_total", "outcome" => outcome(&attempt)).increment(1);
        let record = AttemptRecord {
            at: now_millis(),
            duration_ms: attempt.elapsed.as_millis() as i64,
            status_code: attempt.status,
            outcome: outcome(&attempt).into(),
            excerpt: (!attempt.excerpt.is_empty()).then(|| attempt.excerpt.clone()),
            sender: self.config.owner.clone(),
        };
        (d.id, record, after)
    }

    fn after(&self, attempt: &Attempt, number: u32) -> AfterAttempt {
        if attempt.delivered() {
            return AfterAttempt::Delivered;
        }
        match self.config.schedule.next(number, attempt.retry_after) {
            Some(wait) => AfterAttempt::RetryAt(now_millis() + wait.as_millis() as i64),
            None => AfterAttempt::Failed(format!(
                "gave up after {number} attempt(s); the last {}",
                match attempt.status {
                    Some(s) => format!("answered HTTP {s}"),
                    None => attempt.excerpt.clone(),
                }
            )),
        }
    }
}

fn outcome(a: &Attempt) -> &'static str {
    match a.status {
        Some(_) if a.delivered() => "delivered",
        Some(_) => "http_error",
        None if a.excerpt == "timed out" => "timeout",
        None => "connection",
    }
}
