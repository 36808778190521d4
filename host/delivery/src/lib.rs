//! How alerts leave Trace: webhooks signed by the Standard Webhooks scheme,
//! tried again on a published schedule. This crate is the sending half of
//! the Delivery Service: the signature, the schedule and one attempt with
//! its outcome, and [`service`], the loop that leases due deliveries from
//! the system database (so a killed sender's work is picked up) and sends them.

pub mod destination;
pub mod schedule;
pub mod send;
pub mod service;
pub mod signing;

pub use schedule::{parse_retry_after, RetrySchedule, MAX_RETRY_AFTER};
pub use send::{Attempt, Sender, Webhook, MAX_EXCERPT_BYTES};
pub use signing::{SecretError, WebhookSecret, MAX_SECRET_BYTES, MIN_SECRET_BYTES, TOLERANCE_SECS};
pub use service::{body, DeliveryConfig, DeliveryError, DeliveryService};
