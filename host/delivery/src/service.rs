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

use tokio::sync::{watch, Semaphore};
use trace_store::{now_millis, AfterAttempt, AttemptRecord, Db, Deliveries, LeasedDelivery, StoreError};

use crate::schedule::RetrySchedule;
use crate::send::{Attempt, Sender, Webhook};
use crate::signing::WebhookSecret;

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

pub struct DeliveryService {
    db: Arc<Db>,
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
    pub fn new(db: Arc<Db>, config: DeliveryConfig) -> Result<Self, DeliveryError> {
        let sender = Sender::new(config.timeout).map_err(DeliveryError::Client)?;
        Ok(Self { db, sender, config, gates: Mutex::new(HashMap::new()) })
    }

    /// Run until `stop` turns true; database trouble is logged and retried.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let sent = match self.tick().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "the delivery loop failed; retrying");
                    0
                }
            };
            if sent == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.idle) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }
    }

    /// Lease what is due and send it all; returns how many were attempted.
    pub async fn tick(self: &Arc<Self>) -> Result<usize, DeliveryError> {
        let leased = self.db.lease_deliveries(&self.config.owner, now_millis(), self.config.lease.as_millis() as i64, self.config.batch).await?;
        let n = leased.len();
        let mut sends = tokio::task::JoinSet::new();
        for d in leased {
            let service = self.clone();
            sends.spawn(async move { service.deliver(d).await });
        }
        while let Some(done) = sends.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "recording a delivery attempt failed; its lease will expire and it will be sent again");
            }
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

    async fn deliver(&self, d: LeasedDelivery) -> Result<(), StoreError> {
        let at = now_millis();
        let Some(target) = d.target.clone() else {
            let record = AttemptRecord { at, duration_ms: 0, status_code: None, outcome: "no_destination".into(), excerpt: None, sender: self.config.owner.clone() };
            let why = format!("destination {:?} was removed before the delivery was sent", d.destination);
            self.db.record_attempt(d.id, &self.config.owner, &record, &AfterAttempt::Failed(why)).await?;
            return Ok(());
        };
        let secret = match WebhookSecret::parse(&target.secret) {
            Ok(s) => s,
            Err(e) => {
                let record = AttemptRecord { at, duration_ms: 0, status_code: None, outcome: "bad_secret".into(), excerpt: None, sender: self.config.owner.clone() };
                self.db.record_attempt(d.id, &self.config.owner, &record, &AfterAttempt::Failed(format!("the destination's signing secret is unusable: {e}"))).await?;
                return Ok(());
            }
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
        let number = d.attempts + 1;
        let after = self.after(&attempt, number);
        let record = AttemptRecord {
            at: now_millis(),
            duration_ms: attempt.elapsed.as_millis() as i64,
            status_code: attempt.status,
            outcome: outcome(&attempt).into(),
            excerpt: (!attempt.excerpt.is_empty()).then(|| attempt.excerpt.clone()),
            sender: self.config.owner.clone(),
        };
        let kept = self.db.record_attempt(d.id, &self.config.owner, &record, &after).await?;
        if !kept {
            tracing::warn!(delivery = d.id, "the lease was taken over before the attempt was recorded (it took longer than the lease)");
        }
        Ok(())
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
