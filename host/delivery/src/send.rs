//! One attempt of one delivery: a signed POST, bounded in time and in how
//! much of the answer is kept, and what it means for the next step.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};

use crate::schedule::parse_retry_after;
use crate::signing::WebhookSecret;

/// Bytes of a receiver's answer kept with the attempt, for people to read.
pub const MAX_EXCERPT_BYTES: usize = 1024;

/// What to send.
#[derive(Debug, Clone)]
pub struct Webhook<'a> {
    /// The delivery's idempotency key: `webhook-id`, the same on every attempt.
    pub id: &'a str,
    pub url: &'a str,
    pub secret: &'a WebhookSecret,
    /// JSON.
    pub body: &'a [u8],
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The start of the answer's body, or why there was none.
    pub excerpt: String,
    /// The receiver's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
    pub elapsed: Duration,
}

impl Attempt {
    /// A 2xx answer: delivered.
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Sends attempts with one HTTP client and a time limit per attempt.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
}

impl Sender {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        // No redirects: a receiver may not send a signed body elsewhere.
        let http = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Sender { http })
    }

    /// Send `hook` once, signed with a fresh timestamp.
    pub async fn attempt(&self, hook: &Webhook<'_>) -> Attempt {
        let started = std::time::Instant::now();
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let signature = hook.secret.sign(hook.id, timestamp, hook.body);
        let sent = self
            .http
            .post(hook.url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", hook.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(hook.body.to_vec())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, SystemTime::now()));
                let excerpt = excerpt(response).await;
                Attempt { status: Some(status), excerpt, retry_after, elapsed: started.elapsed() }
            }
            Err(e) => {
                let why = if e.is_timeout() { "timed out".to_owned() } else if e.is_connect() { "could not connect".to_owned() } else { "the connection failed".to_owned() };
                Attempt { status: None, excerpt: why, retry_after: None, elapsed: started.elapsed() }
            }
        }
    }
}

/// At most [`MAX_EXCERPT_BYTES`] of the answer, read no further.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < MAX_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(MAX_EXCERPT_BYTES - kept.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}
