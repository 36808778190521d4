//! Alert destinations and deliveries on the public API:
//!
//! | call                                          | role      |
//! |-----------------------------------------------|-----------|
//! | `GET    /api/v1/destinations`                 | viewer    |
//! | `PUT    /api/v1/destinations/{name}`          | admin     |
//! | `DELETE /api/v1/destinations/{name}`          | admin     |
//! | `GET    /api/v1/deliveries?state=S&limit=N`   | viewer    |
//! | `GET    /api/v1/deliveries/{id}`              | viewer    |
//! | `POST   /api/v1/deliveries/{id}/retry`        | developer |
//!
//! A destination's signing secret is write-only: `PUT` takes it (or, with
//! `"generate": true`, makes one and answers it once) and no call returns it
//! again. Another org's delivery is `not_found`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use trace_delivery::WebhookSecret;
use trace_store::{now_millis, Deliveries, DeliveryAttemptView, DeliveryView, DestinationSpec, Role, DELIVERY_STATES};

use crate::error::ApiError;
use crate::public::MAX_LIST;
use crate::public_state::{caller, PublicState};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DestinationBody {
    pub url: String,
    /// `whsec_…`; or leave it out and set `generate`.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub generate: bool,
    #[serde(default = "default_in_flight")]
    pub max_in_flight: u32,
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
}

fn default_in_flight() -> u32 {
    4
}

fn default_per_minute() -> u32 {
    600
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DestinationSummary {
    pub name: String,
    pub url: String,
    pub max_in_flight: u32,
    pub per_minute: u32,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DestinationSaved {
    pub name: String,
    /// Only when the server generated the secret: the one time it is shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliverySummary {
    pub id: i64,
    pub webhook_id: String,
    pub alert_key: String,
    pub destination: String,
    pub severity: String,
    pub event_time: i64,
    pub state: String,
    pub reason: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: Option<i64>,
    pub routed_by: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

impl From<DeliveryView> for DeliverySummary {
    fn from(d: DeliveryView) -> Self {
        Self {
            id: d.id,
            webhook_id: d.webhook_id,
            alert_key: d.alert_key,
            destination: d.destination,
            severity: d.severity,
            event_time: d.event_time,
            state: d.status,
            reason: d.reason,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            routed_by: d.writer_job,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub at: i64,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    pub outcome: String,
    pub excerpt: Option<String>,
    pub sender: String,
}

impl From<DeliveryAttemptView> for DeliveryAttempt {
    fn from(a: DeliveryAttemptView) -> Self {
        Self { attempt: a.attempt, at: a.at, duration_ms: a.duration_ms, status_code: a.status_code, outcome: a.outcome, excerpt: a.excerpt, sender: a.sender }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliverySummary,
    pub attempts: Vec<DeliveryAttempt>,
}

#[derive(Deserialize)]
pub(crate) struct DeliveryQuery {
    state: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/destinations", tag = "alerts", summary = "Alert destinations (no secrets)", responses((status = 200, description = "done", body = Vec<DestinationSummary>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn destinations(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Json<Vec<DestinationSummary>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let list = s.db.destinations(who.org).await?;
    Ok(Json(list.into_iter().map(|d| DestinationSummary { name: d.name, url: d.url, max_in_flight: d.max_in_flight, per_minute: d.per_minute, updated_at: d.updated_at }).collect()))
}

#[utoipa::path(put, path = "/api/v1/destinations/{name}", tag = "alerts", summary = "Set a webhook destination; admin", params(("name" = String, Path, description = "the name")), request_body = DestinationBody, responses((status = 200, description = "done", body = DestinationSaved), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn set_destination(
    State(s): State<Arc<PublicState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<DestinationBody>,
) -> Result<Json<DestinationSaved>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    trace_delivery::destination::check(&name, &body.url, body.max_in_flight, body.per_minute).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let key = s.secret_key.as_ref().ok_or_else(|| ApiError::Unavailable("this server has no secret key (TRACE_SECRET_KEY), so it cannot store signing secrets".into()))?;
    let (secret, generated) = match (body.secret.as_deref(), body.generate) {
        (Some(_), true) => return Err(ApiError::BadRequest("give `secret` or set `generate`, not both".into())),
        (None, false) => return Err(ApiError::BadRequest("a destination needs a `secret` (whsec_…) or `generate: true`".into())),
        // The parse error names what is wrong, never the value.
        (Some(text), false) => (WebhookSecret::parse(text).map_err(|e| ApiError::BadRequest(format!("secret: {e}")))?, false),
        (None, true) => (WebhookSecret::generate(), true),
    };
    let sealed = trace_delivery::destination::seal_secret(key, who.org, &name, &secret).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let spec = DestinationSpec { name: &name, url: &body.url, secret: &sealed, max_in_flight: body.max_in_flight, per_minute: body.per_minute };
    s.db.set_destination(who.org, &spec, &who.actor(), now_millis()).await?;
    Ok(Json(DestinationSaved { name, generated_secret: generated.then(|| secret.expose()) }))
}

#[utoipa::path(delete, path = "/api/v1/destinations/{name}", tag = "alerts", summary = "Remove a destination; admin", params(("name" = String, Path, description = "the name")), responses((status = 200, description = "done", body = Object), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn delete_destination(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(name): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    s.db.delete_destination(who.org, &name, &who.actor(), now_millis()).await?;
    Ok(Json(serde_json::json!({ "deleted": name })))
}

#[utoipa::path(get, path = "/api/v1/deliveries", tag = "alerts", summary = "Alert deliveries, newest first", params(("state" = Option<String>, Query, description = "pending, delivered, failed or suppressed"), ("limit" = Option<u32>, Query, description = "1 to 1000")), responses((status = 200, description = "done", body = Vec<DeliverySummary>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn deliveries(State(s): State<Arc<PublicState>>, headers: HeaderMap, Query(q): Query<DeliveryQuery>) -> Result<Json<Vec<DeliverySummary>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    if let Some(state) = q.state.as_deref()
        && !DELIVERY_STATES.contains(&state)
    {
        return Err(ApiError::BadRequest(format!("state must be one of {}, got {state:?}", DELIVERY_STATES.join(", "))));
    }
    let limit = q.limit.unwrap_or(100);
    if limit > MAX_LIST {
        return Err(ApiError::BadRequest(format!("limit above the maximum: asked={limit}, limit={MAX_LIST}")));
    }
    let list = s.db.deliveries(who.org, q.state.as_deref(), limit).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "alerts", summary = "A delivery with its attempts", params(("id" = i64, Path, description = "the id")), responses((status = 200, description = "done", body = DeliveryDetail), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn delivery(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(id): Path<i64>) -> Result<Json<DeliveryDetail>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let (d, attempts) = s.db.delivery(who.org, id).await?.ok_or_else(|| ApiError::NotFound(format!("delivery {id} does not exist")))?;
    Ok(Json(DeliveryDetail { delivery: d.into(), attempts: attempts.into_iter().map(Into::into).collect() }))
}

#[utoipa::path(post, path = "/api/v1/deliveries/{id}/retry", tag = "alerts", summary = "Send a failed delivery again; developer", params(("id" = i64, Path, description = "the id")), responses((status = 200, description = "done", body = Object), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn retry_delivery(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(id): Path<i64>) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers, Role::Developer).await?;
    s.db.retry_delivery(who.org, id, &who.actor(), now_millis()).await?;
    Ok(Json(serde_json::json!({ "id": id, "state": "pending" })))
}
