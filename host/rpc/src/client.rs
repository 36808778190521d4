//! [`HttpRpc`]: one task's client for its job's endpoint, built from the
//! job's settings and the leased slot's grant.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::value::RawValue;
use trace_protocol::rpc::{is_method_name, RpcSettings, SlotGrant};

use crate::jsonrpc;
use crate::pacing::Pacing;
use crate::redact::Redactor;
use crate::retry::backoff;
use trace_core::retry::parse_retry_after;

/// Most calls one batch call may carry (the guest's memory bounds the
/// replies; this bounds the work one host call does).
pub const MAX_CALLS: usize = 10_000;

/// Why a client could not be built for a task. Never holds a rendered URL
/// or header (they may carry the key).
#[derive(Debug, thiserror::Error)]
pub enum RpcSetupError {
    #[error("rpc.url: {0}")]
    Template(String),
    #[error("rpc.url does not render to an http:// or https:// URL")]
    Url,
    #[error("rpc.headers.{0}: the rendered value is not a valid header value")]
    Header(String),
    #[error("rpc.timeout: {0}")]
    Timeout(String),
}

/// What a client did, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct RpcStats {
    /// HTTP requests sent (retries included).
    pub requests: AtomicU64,
    /// JSON-RPC calls answered.
    pub calls: AtomicU64,
    pub retries: AtomicU64,
    pub response_bytes: AtomicU64,
}

/// The HTTP client the worker shares across tasks: no redirects (a
/// redirect would carry the key's headers to another host), rustls.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(64).build()
}

/// One task's JSON-RPC client.
pub struct HttpRpc {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    methods: BTreeSet<String>,
    max_batch: usize,
    max_in_flight: usize,
    attempts: u32,
    request_timeout: Duration,
    max_response_bytes: u64,
    pacing: Arc<Pacing>,
    redactor: Redactor,
    stats: Arc<RpcStats>,
    /// Whose credentials these are, for errors: `worker slot N`.
    holder: String,
}

impl std::fmt::Debug for HttpRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRpc").field("methods", &self.methods).field("max_batch", &self.max_batch).finish_non_exhaustive()
    }
}

impl HttpRpc {
    pub fn new(settings: &RpcSettings, grant: &SlotGrant, http: reqwest::Client) -> Result<Self, RpcSetupError> {
        let url = grant.render(&settings.url).map_err(RpcSetupError::Template)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(&url).is_err() {
            return Err(RpcSetupError::Url);
        }
        let mut headers = HeaderMap::new();
        for (name, template) in &settings.headers {
            let value = grant.render(template).map_err(|e| RpcSetupError::Header(format!("{name}: {e}")))?;
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| RpcSetupError::Header(name.clone()))?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| RpcSetupError::Header(name.clone()))?;
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let request_timeout = trace_core::units::parse_duration(&settings.timeout).map_err(RpcSetupError::Timeout)?;
        Ok(Self {
            http,
            url,
            headers,
            methods: settings.methods.iter().cloned().collect(),
            max_batch: settings.max_batch.max(1) as usize,
            max_in_flight: settings.max_in_flight.max(1) as usize,
            attempts: settings.max_attempts.max(1),
            request_timeout,
            max_response_bytes: settings.max_response_bytes,
            pacing: Arc::new(Pacing::new(settings.requests_per_second)),
            redactor: Redactor::new(grant.secrets.values().map(String::as_str)),
            stats: Arc::default(),
            holder: grant.slot.map_or_else(|| "this job".to_owned(), |n| format!("worker slot {n}")),
        })
    }

    /// Pace requests with `pacing` (shared with the slot's other tasks)
    /// instead of a pacer of this client's own.
    pub fn with_pacing(mut self, pacing: Arc<Pacing>) -> Self {
        self.pacing = pacing;
        self
    }

    pub fn stats(&self) -> Arc<RpcStats> {
        self.stats.clone()
    }

    /// Call `method` with JSON `params`; the reply's `result` as JSON text.
    pub async fn call(&self, method: &str, params: &str, deadline: Instant) -> Result<String, String> {
        let mut replies = self.call_batch(&[(method, params)], deadline).await?;
        replies.pop().expect("one call, one reply")
    }

    /// Several calls, sent as JSON-RPC batches of `max_batch` calls with up
    /// to `max_in_flight` requests at once; each call's result or error, in
    /// order. `Err` when the calls could not be made at all.
    pub async fn call_batch(&self, calls: &[(&str, &str)], deadline: Instant) -> Result<Vec<Result<String, String>>, String> {
        if calls.len() > MAX_CALLS {
            return Err(format!("too many calls in one batch: got={}, limit={MAX_CALLS}", calls.len()));
        }
        let mut parsed = Vec::with_capacity(calls.len());
        for (i, (method, params)) in calls.iter().enumerate() {
            let at = |m: String| if calls.len() == 1 { m } else { format!("call {i}: {m}") };
            self.allowed(method).map_err(at)?;
            let params = RawValue::from_string(params.to_string()).map_err(|e| at(format!("rpc {method}: params are not JSON: {e}")))?;
            if !matches!(params.get().trim_start().as_bytes().first(), Some(b'[' | b'{')) {
                return Err(at(format!("rpc {method}: params must be a JSON array or object")));
            }
            parsed.push((*method, params));
        }
        let chunks: Vec<Vec<(&str, &RawValue)>> = parsed.chunks(self.max_batch).map(|c| c.iter().map(|(m, p)| (*m, &**p)).collect()).collect();
        let replies: Vec<Vec<Result<String, String>>> =
            stream::iter(chunks.iter().map(|chunk| self.send(chunk, deadline))).buffered(self.max_in_flight).try_collect().await?;
        Ok(replies.into_iter().flatten().collect())
    }

    fn allowed(&self, method: &str) -> Result<(), String> {
        if !is_method_name(method) {
            return Err(format!("rpc method {:?} is not a method name (letters, digits and `_`, at most 128)", method.chars().take(128).collect::<String>()));
        }
        if !self.methods.is_empty() && !self.methods.contains(method) {
            return Err(format!("rpc method {method} is not in this job's rpc.methods"));
        }
        Ok(())
    }

    /// One HTTP request for `calls`, retried on 429, 5xx and transport
    /// errors while tries and time remain.
    async fn send(&self, calls: &[(&str, &RawValue)], deadline: Instant) -> Result<Vec<Result<String, String>>, String> {
        let label = match calls {
            [(m, _)] => (*m).to_owned(),
            [(m, _), rest @ ..] => format!("{m} (batch of {})", rest.len() + 1),
            [] => return Ok(Vec::new()),
        };
        let body = bytes::Bytes::from(jsonrpc::body(calls));
        let mut tries = 0;
        loop {
            tries += 1;
            let at = self.pacing.reserve(deadline).await.ok_or_else(|| format!("rpc {label}: the rate limit leaves no time before the task's time limit"))?;
            // Only when it must: a zero sleep still waits for the timer's
            // next millisecond tick, which was most of a small call's time.
            if at > Instant::now() {
                tokio::time::sleep_until(at.into()).await;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("rpc {label}: the task's time limit ran out"));
            }
            let timeout = self.request_timeout.min(left);
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self.http.post(&self.url).headers(self.headers.clone()).body(body.clone()).timeout(timeout).send().await;
            metrics::counter!("trace_rpc_requests_total", "status" => status_class(sent.as_ref().map(|r| r.status()))).increment(1);
            let (why, wait) = match sent {
                Ok(response) if response.status().is_success() => {
                    let bytes = self.read_bounded(response, &label).await?;
                    let replies = jsonrpc::replies_of(bytes, calls.len()).map_err(|e| self.redactor.scrub(format!("rpc {label}: {e}")))?;
                    self.stats.calls.fetch_add(calls.len() as u64, Ordering::Relaxed);
                    return Ok(replies
                        .into_iter()
                        .zip(calls)
                        .map(|(r, (method, _))| match r {
                            Ok(result) => Ok(self.redactor.scrub(result)),
                            Err(e) => Err(self.redactor.scrub(format!("rpc {method}: error {}: {}", e.code, e.message))),
                        })
                        .collect());
                }
                Ok(response) => {
                    let status = response.status();
                    let after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, SystemTime::now()));
                    match status {
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            return Err(format!("rpc {label}: the endpoint refused the credentials of {} (HTTP {status})", self.holder));
                        }
                        // The endpoint's wait, but never less than our own backoff.
                        StatusCode::TOO_MANY_REQUESTS => (format!("HTTP {status}"), after.map_or_else(|| backoff(tries), |a| a.max(backoff(tries)))),
                        s if s.is_server_error() => (format!("HTTP {status}"), after.unwrap_or_else(|| backoff(tries))),
                        _ => {
                            let snippet = self.snippet(response).await;
                            return Err(self.redactor.scrub(format!("rpc {label}: HTTP {status}{snippet}")));
                        }
                    }
                }
                Err(e) => (describe(&e, timeout), backoff(tries)),
            };
            if tries >= self.attempts {
                return Err(self.redactor.scrub(format!("rpc {label}: gave up after {tries} tries: {why}")));
            }
            if Instant::now() + wait >= deadline {
                return Err(self.redactor.scrub(format!("rpc {label}: {why}; waiting {wait:?} to retry would pass the task's time limit")));
            }
            tracing::debug!(label, tries, why, "rpc request failed; retrying");
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// The body, refused past `max_response_bytes` (by its declared length
    /// or as it streams in).
    async fn read_bounded(&self, mut response: reqwest::Response, label: &str) -> Result<Vec<u8>, String> {
        let limit = self.max_response_bytes;
        let too_large = |got: String| format!("rpc {label}: the response is larger than rpc.max_response_bytes: got={got} bytes, limit={limit}");
        if let Some(declared) = response.content_length().filter(|n| *n > limit) {
            return Err(too_large(declared.to_string()));
        }
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("rpc {label}: reading the response: {}", describe(&e, self.request_timeout)))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large(format!("more than {limit}")));
            }
            body.extend_from_slice(&chunk);
        }
        self.stats.response_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(body)
    }

    /// The start of an error answer's body, for the message (scrubbed by the caller).
    async fn snippet(&self, response: reqwest::Response) -> String {
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
        if text.is_empty() { String::new() } else { format!(": {text}") }
    }
}

/// A transport error in words, without its URL.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {timeout:?}")
    } else if e.is_connect() {
        "could not connect to the endpoint".to_owned()
    } else {
        "the request failed before an answer".to_owned()
    }
}

/// A request's answer for the metrics: `ok`, `429`, `5xx`, `refused`
/// (401/403), `4xx` or `error` (no answer).
fn status_class(status: Result<StatusCode, &reqwest::Error>) -> &'static str {
    match status {
        Ok(s) if s.is_success() => "ok",
        Ok(StatusCode::TOO_MANY_REQUESTS) => "429",
        Ok(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => "refused",
        Ok(s) if s.is_server_error() => "5xx",
        Ok(_) => "4xx",
        Err(_) => "error",
    }
}
