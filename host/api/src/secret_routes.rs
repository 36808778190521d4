//! Org secrets on the public API, write-only:
//!
//! | call                              | role  |
//! |-----------------------------------|-------|
//! | `GET    /api/v1/secrets`          | viewer (names and times, never values) |
//! | `PUT    /api/v1/secrets/{name}`   | admin (body: `{"value": "…"}`) |
//! | `DELETE /api/v1/secrets/{name}`   | admin |
//!
//! The value is sealed with the server's key before it reaches the
//! database; no answer, log line or audit entry carries it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use trace_store::{now_millis, Role, Secrets};

use crate::error::ApiError;
use crate::public_state::{caller, PublicState};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SecretBody {
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretSummary {
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[utoipa::path(get, path = "/api/v1/secrets", tag = "secrets", summary = "The org's secrets (names only)", responses((status = 200, description = "done", body = Vec<SecretSummary>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn list(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Json<Vec<SecretSummary>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let list = s.db.secrets(who.org).await?;
    Ok(Json(list.into_iter().map(|v| SecretSummary { name: v.name, created_at: v.created_at, updated_at: v.updated_at }).collect()))
}

#[utoipa::path(put, path = "/api/v1/secrets/{name}", tag = "secrets", summary = "Set a secret (write-only); admin", params(("name" = String, Path, description = "the name")), request_body = SecretBody, responses((status = 200, description = "done", body = Object), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn set(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(name): Path<String>, Json(body): Json<SecretBody>) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    let key = s.secret_key.as_ref().ok_or_else(|| ApiError::Unavailable("this server has no secret key (TRACE_SECRET_KEY), so it cannot store secrets".into()))?;
    // The error names what is wrong with the name or the size, never the value.
    let sealed = key.seal(who.org, &name, body.value.as_bytes()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    s.db.set_secret(who.org, &name, &sealed, &who.actor(), now_millis()).await?;
    Ok(Json(serde_json::json!({ "name": name })))
}

#[utoipa::path(delete, path = "/api/v1/secrets/{name}", tag = "secrets", summary = "Remove a secret; admin", params(("name" = String, Path, description = "the name")), responses((status = 200, description = "done", body = Object), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn delete(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(name): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    s.db.delete_secret(who.org, &name, &who.actor(), now_millis()).await?;
    Ok(Json(serde_json::json!({ "deleted": name })))
}
