//! `/internal/*`: the worker wrapper's contract with the control plane.
//!
//! - `GET /internal/task-fetch?task_id=N` — worker token. Returns the task
//!   and its current attempt's credential, or `status: "Canceled"`.
//! - `POST /internal/events` — attempt credential. Mid-task events.
//! - `POST /internal/task-complete` — attempt credential. Final status with
//!   final events and state writes, committed atomically.
//!
//! - `POST /internal/buffer-rows` — attempt credential. Rows of a buffered
//!   output, handed to the dataset's buffer (waits while it is full).
//! - `POST /internal/buffered-read` — attempt credential. The rows of a
//!   buffered input that the task's event covers.
//!
//! - `POST /internal/slot-grant` — attempt credential. The env and opened
//!   secrets of the worker slot the attempt leased, for the worker's
//!   host-side capabilities (the RPC client); never given to guest code.
//!
//! Both writes are accepted only from the current attempt (`409
//! stale_attempt` otherwise); a late completion of the current attempt is
//! accepted while no newer attempt has started.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use trace_protocol::buffered::{Buffer, BufferedRead};
use trace_store::{now_millis, SlotLeases, Buffered, AttemptAuth, Completion, Db, EmittedEvent, Outcome, StateWrites, Store, Taken, TaskStatus};

use crate::error::ApiError;
use trace_protocol::wire::*;

/// What the internal handlers share.
pub struct InternalState {
    pub db: Arc<Db>,
    /// Where buffered outputs' rows go (the sink commits them).
    pub buffer: Arc<dyn Buffer>,
    /// The platform credential workers present to fetch tasks.
    pub worker_token: String,
    /// Opens leased slots' secrets for `/internal/slot-grant`.
    pub secret_key: Option<Arc<trace_secrets::SecretKey>>,
}

/// Largest request body accepted (a completion with its final events and
/// state writes).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// Most events in one request (the sandbox's default event limit).
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;

/// Most output files in one completion (one per output; outputs ≤ 64).
pub const MAX_PARTITIONS_PER_REQUEST: usize = 64;

/// The `/internal/*` routes.
pub fn internal_router(state: Arc<InternalState>) -> Router {
    Router::new()
        .route("/internal/task-fetch", get(task_fetch))
        .route("/internal/events", post(events))
        .route("/internal/task-complete", post(task_complete))
        .route("/internal/buffer-rows", post(buffer_rows))
        .route("/internal/buffered-read", post(buffered_read))
        .route("/internal/slot-grant", post(slot_grant))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(axum::middleware::from_fn(crate::http_traces::traced))
        .route_layer(axum::middleware::from_fn(crate::http_metrics::count))
        // What axum answers by itself (a body that does not deserialize)
        // is a problem+json too (found by tests/fuzz_internal.rs).
        .layer(axum::middleware::from_fn(crate::problem::uniform))
        .with_state(state)
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// Constant-time comparison, so a credential cannot be guessed byte by byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Deserialize)]
struct FetchQuery {
    task_id: i64,
    /// A worker that received the task from the queue takes its attempt.
    #[serde(default)]
    take: bool,
}

async fn task_fetch(State(s): State<Arc<InternalState>>, headers: HeaderMap, Query(q): Query<FetchQuery>) -> Result<Json<FetchResponse>, ApiError> {
    crate::http_traces::name_task(q.task_id, None);
    if !bearer(&headers).is_some_and(|t| same(t, &s.worker_token)) {
        return Err(ApiError::Unauthorized);
    }
    if !q.take {
        return Ok(Json(s.db.fetch(q.task_id).await?.into()));
    }
    match s.db.take(q.task_id, now_millis()).await? {
        Taken::Run(payload) => Ok(Json((*payload).into())),
        Taken::Duplicate { attempt } => Err(ApiError::AlreadyTaken(format!(
            "task {} attempt {attempt} was already taken by another worker (a duplicate queue delivery); drop this copy",
            q.task_id
        ))),
    }
}

fn auth(headers: &HeaderMap, task: i64, attempt: i32) -> Result<AttemptAuth, ApiError> {
    let credential = bearer(headers).ok_or(ApiError::Unauthorized)?;
    Ok(AttemptAuth { task, attempt, credential: credential.to_owned() })
}

fn to_store(events: &[WireEvent]) -> Result<Vec<EmittedEvent>, ApiError> {
    if events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "too many events in one request: got={}, limit={MAX_EVENTS_PER_REQUEST}",
            events.len()
        )));
    }
    events.iter().map(|e| e.to_store().map_err(ApiError::BadRequest)).collect()
}

async fn events(State(s): State<Arc<InternalState>>, headers: HeaderMap, Json(body): Json<EventsRequest>) -> Result<Json<EventsResponse>, ApiError> {
    crate::http_traces::name_task(body.task_id, Some(body.attempt));
    let auth = auth(&headers, body.task_id, body.attempt)?;
    let events = to_store(&body.events)?;
    let ingested = s.db.post_events(&auth, &events, now_millis()).await?;
    let duplicates = ingested.iter().filter(|i| i.duplicate).count();
    Ok(Json(EventsResponse {
        accepted: ingested.len() - duplicates,
        duplicates,
        tasks_created: ingested.iter().map(|i| i.tasks.len()).sum(),
    }))
}

async fn task_complete(State(s): State<Arc<InternalState>>, headers: HeaderMap, Json(body): Json<CompleteRequest>) -> Result<Json<CompleteResponse>, ApiError> {
    crate::http_traces::name_task(body.task_id, Some(body.attempt));
    let auth = auth(&headers, body.task_id, body.attempt)?;
    let outcome = match body.status.as_str() {
        "succeeded" => Outcome::Succeeded,
        "canceled" => Outcome::Canceled,
        "failed" => Outcome::Failed { retryable: body.retryable, message: body.error.clone().unwrap_or_default() },
        other => return Err(ApiError::BadRequest(format!("status must be succeeded, failed or canceled, got {other:?}"))),
    };
    let events = to_store(&body.final_events)?;
    let state: StateWrites = body
        .state_writes
        .iter()
        .map(|(k, v)| match v {
            None => Ok((k.clone(), None)),
            Some(hex_value) => hex::decode(hex_value)
                .map(|bytes| (k.clone(), Some(bytes)))
                .map_err(|_| ApiError::BadRequest(format!("state value for {k:?} is not hex"))),
        })
        .collect::<Result<_, _>>()?;
    if body.partitions.len() > MAX_PARTITIONS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "too many partitions in one request: got={}, limit={MAX_PARTITIONS_PER_REQUEST}",
            body.partitions.len()
        )));
    }
    let partitions = body.partitions.iter().map(|p| p.to_store().map_err(ApiError::BadRequest)).collect::<Result<_, _>>()?;
    if let Some((field, value)) = body.usage.as_ref().and_then(|u| u.out_of_bounds()) {
        return Err(ApiError::BadRequest(format!("usage.{field} is out of bounds: got={value}, limit={}", trace_protocol::contract::MAX_USAGE_VALUE)));
    }
    // Bounded again here: the worker's word is not the limit.
    let log = body.log.as_deref().and_then(trace_protocol::contract::log_tail);
    let completion = Completion { auth, outcome, events, state, partitions, usage: body.usage, log };
    let done = s.db.complete_many(std::slice::from_ref(&completion), now_millis()).await?.pop().expect("one report, one result")?;
    let status = match done.status {
        TaskStatus::Completed => "completed",
        TaskStatus::Failed => "failed",
        TaskStatus::Canceled => "canceled",
        TaskStatus::Pending => "retrying",
        TaskStatus::Running => "running",
    };
    Ok(Json(CompleteResponse { status: status.to_owned(), late: done.late, tasks_created: done.events.iter().map(|i| i.tasks.len()).sum::<usize>() + done.invalidated.len() }))
}

async fn buffer_rows(State(s): State<Arc<InternalState>>, headers: HeaderMap, Json(body): Json<BufferRowsRequest>) -> Result<Json<serde_json::Value>, ApiError> {
    crate::http_traces::name_task(body.task_id, Some(body.attempt));
    let auth = auth(&headers, body.task_id, body.attempt)?;
    let messages = s.db.buffer_messages(&auth, body.output, body.rows).await?;
    let count = messages.len();
    for m in messages {
        s.buffer.push(m).await.map_err(|e| ApiError::Unavailable(format!("the buffer is unavailable: {e}")))?;
    }
    Ok(Json(serde_json::json!({ "messages": count })))
}

async fn buffered_read(State(s): State<Arc<InternalState>>, headers: HeaderMap, Json(body): Json<BufferedReadRequest>) -> Result<Json<BufferedRead>, ApiError> {
    crate::http_traces::name_task(body.task_id, Some(body.attempt));
    let auth = auth(&headers, body.task_id, body.attempt)?;
    Ok(Json(s.db.read_buffered(&auth, body.input).await?))
}

async fn slot_grant(State(s): State<Arc<InternalState>>, headers: HeaderMap, Json(body): Json<SlotGrantRequest>) -> Result<Json<trace_protocol::rpc::SlotGrant>, ApiError> {
    crate::http_traces::name_task(body.task_id, Some(body.attempt));
    let auth = auth(&headers, body.task_id, body.attempt)?;
    let lease = s.db.slot_lease(&auth).await?;
    // What went wrong names a secret and why, never a value.
    let grant = lease.open(|org, name, sealed| trace_secrets::open_text(s.secret_key.as_deref(), org, name, sealed)).map_err(ApiError::Conflict)?;
    Ok(Json(grant))
}
