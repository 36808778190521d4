//! The worker wrapper's side of `/internal/*`: [`HttpControlPlane`] is a
//! [`ControlPlane`] over HTTP, for `trace worker` in a separate process.
//!
//! Transport failures and 5xx answers are retried a bounded number of times
//! with backoff (a control plane restarting should not kill its workers);
//! completing twice is safe, the second report is refused as finished.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use trace_protocol::buffered::{BufferedRead, Value};
use trace_protocol::plane::{ControlPlane, PlaneError, Refusal};
use trace_protocol::queue::BoxFuture;
use trace_protocol::rpc::SlotGrant;
use trace_protocol::contract::{AttemptAuth, Completion, EmittedEvent, Outcome, TaskId, TaskPayload, TaskStatus};

use trace_protocol::wire::*;

/// How many times one call is tried before its error is returned.
pub const MAX_TRIES: u32 = 5;
/// The first retry's delay; it doubles each time.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// One call's time limit (a completion carries at most 16 MiB).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The control plane at `base` (for example `http://127.0.0.1:7070`).
#[derive(Clone)]
pub struct HttpControlPlane {
    base: String,
    worker_token: String,
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
#[error("{status}: {code}: {message}")]
struct Answer {
    status: StatusCode,
    code: String,
    message: String,
}

impl HttpControlPlane {
    pub fn new(base: &str, worker_token: &str) -> Result<Self, PlaneError> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| PlaneError::Remote { op: "building the HTTP client", source: e.into() })?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), worker_token: worker_token.to_owned(), http })
    }

    async fn call<B: Serialize, R: DeserializeOwned>(&self, op: &'static str, method: Method, path: &str, token: &str, body: Option<&B>) -> Result<R, PlaneError> {
        let url = format!("{}{path}", self.base);
        // The server's handling continues the caller's span (the attempt's).
        let mut traced = reqwest::header::HeaderMap::new();
        trace_telemetry::inject(&mut traced);
        let mut delay = FIRST_BACKOFF;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut request = self.http.request(method.clone(), &url).bearer_auth(token).headers(traced.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            let retry = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return response.json().await.map_err(|e| PlaneError::Remote { op, source: e.into() });
                }
                Ok(response) if response.status().is_server_error() => PlaneError::Remote { op, source: answer(response).await.into() },
                Ok(response) => return Err(refusal(op, answer(response).await)),
                Err(e) => PlaneError::Remote { op, source: e.into() },
            };
            if tries >= MAX_TRIES {
                return Err(retry);
            }
            tracing::warn!(error = %retry, tries, "control plane call failed; retrying");
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }

    /// `/internal/task-fetch`; with `take`, as the worker that runs it.
    async fn fetch_task(&self, task: TaskId, take: bool) -> Result<TaskPayload, PlaneError> {
        let path = format!("/internal/task-fetch?task_id={task}{}", if take { "&take=true" } else { "" });
        let fetched: Result<FetchResponse, _> = self.call("task-fetch", Method::GET, &path, &self.worker_token, None::<&()>).await;
        match fetched {
            Ok(r) => r.into_payload().map_err(|e| PlaneError::Remote { op: "task-fetch", source: e.into() }),
            Err(e) if answered(&e, "not_found") => Err(PlaneError::NoSuchTask(task)),
            Err(e) if answered(&e, "already_taken") => Err(PlaneError::AlreadyTaken(task)),
            Err(e) => Err(e),
        }
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => Answer { status, code: body.code, message: body.message },
        Err(_) => Answer { status, code: "unknown".to_owned(), message: "no error body".to_owned() },
    }
}

/// Whether `e` is the control plane answering with error code `code`.
fn answered(e: &PlaneError, code: &str) -> bool {
    matches!(e, PlaneError::Remote { source, .. } if source.downcast_ref::<Answer>().is_some_and(|a| a.code == code))
}

/// Calls authenticated by an attempt credential: a credential the control
/// plane no longer accepts means the attempt was superseded.
fn as_attempt<T>(r: Result<T, PlaneError>) -> Result<T, PlaneError> {
    r.map_err(|e| match answered(&e, "unauthorized") {
        true => PlaneError::Refused { reason: Refusal::Superseded, message: "the attempt credential was refused".to_owned() },
        false => e,
    })
}

/// A 4xx answer: what the worker should make of it.
fn refusal(op: &'static str, a: Answer) -> PlaneError {
    match a.code.as_str() {
        "stale_attempt" | "task_finished" => PlaneError::Refused { reason: Refusal::Superseded, message: a.message },
        "bad_request" => PlaneError::Refused { reason: Refusal::Invalid, message: a.message },
        // A slot's secret is missing or does not open: waiting will not help.
        "conflict" if op == "slot-grant" => PlaneError::Refused { reason: Refusal::Invalid, message: a.message },
        _ => PlaneError::Remote { op, source: a.into() },
    }
}

impl ControlPlane for HttpControlPlane {
    fn fetch(&self, task: TaskId) -> BoxFuture<'_, Result<TaskPayload, PlaneError>> {
        Box::pin(self.fetch_task(task, false))
    }

    fn take(&self, task: TaskId) -> BoxFuture<'_, Result<TaskPayload, PlaneError>> {
        Box::pin(self.fetch_task(task, true))
    }

    fn complete(&self, c: Completion) -> BoxFuture<'_, Result<TaskStatus, PlaneError>> {
        Box::pin(async move {
            let (status, error, retryable) = match &c.outcome {
                Outcome::Succeeded => ("succeeded", None, false),
                Outcome::Canceled => ("canceled", None, false),
                Outcome::Failed { retryable, message } => ("failed", Some(message.clone()), *retryable),
            };
            let body = CompleteRequest {
                task_id: c.auth.task,
                attempt: c.auth.attempt,
                status: status.to_owned(),
                error,
                retryable,
                final_events: c.events.iter().map(WireEvent::from_store).collect(),
                state_writes: c.state.iter().map(|(k, v)| (k.clone(), v.as_ref().map(hex::encode))).collect(),
                partitions: c.partitions.iter().map(WirePartition::from_store).collect(),
                usage: c.usage,
                log: c.log,
            };
            let done: CompleteResponse =
                as_attempt(self.call("task-complete", Method::POST, "/internal/task-complete", &c.auth.credential, Some(&body)).await)?;
            Ok(match done.status.as_str() {
                "completed" => TaskStatus::Completed,
                "failed" => TaskStatus::Failed,
                "canceled" => TaskStatus::Canceled,
                "running" => TaskStatus::Running,
                _ => TaskStatus::Pending,
            })
        })
    }

    fn post_events<'a>(&'a self, auth: &'a AttemptAuth, events: &'a [EmittedEvent]) -> BoxFuture<'a, Result<usize, PlaneError>> {
        Box::pin(async move {
            let body = EventsRequest { task_id: auth.task, attempt: auth.attempt, events: events.iter().map(WireEvent::from_store).collect() };
            let r: EventsResponse = as_attempt(self.call("events", Method::POST, "/internal/events", &auth.credential, Some(&body)).await)?;
            Ok(r.accepted)
        })
    }

    fn buffer_rows<'a>(&'a self, auth: &'a AttemptAuth, output: u32, rows: Vec<Vec<Value>>) -> BoxFuture<'a, Result<(), PlaneError>> {
        Box::pin(async move {
            let body = BufferRowsRequest { task_id: auth.task, attempt: auth.attempt, output, rows };
            let _: serde_json::Value = as_attempt(self.call("buffer-rows", Method::POST, "/internal/buffer-rows", &auth.credential, Some(&body)).await)?;
            Ok(())
        })
    }

    fn buffered_rows<'a>(&'a self, auth: &'a AttemptAuth, input: u32) -> BoxFuture<'a, Result<BufferedRead, PlaneError>> {
        Box::pin(async move {
            let body = BufferedReadRequest { task_id: auth.task, attempt: auth.attempt, input };
            as_attempt(self.call("buffered-read", Method::POST, "/internal/buffered-read", &auth.credential, Some(&body)).await)
        })
    }

    fn slot_grant<'a>(&'a self, auth: &'a AttemptAuth) -> BoxFuture<'a, Result<SlotGrant, PlaneError>> {
        Box::pin(async move {
            let body = SlotGrantRequest { task_id: auth.task, attempt: auth.attempt };
            as_attempt(self.call("slot-grant", Method::POST, "/internal/slot-grant", &auth.credential, Some(&body)).await)
        })
    }
}
