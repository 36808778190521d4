//! One error type for every handler. Clients get a stable code and a short
//! message; database details go to the log, never to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use trace_store::StoreError;

use crate::wire::ErrorBody;

#[derive(Debug)]
pub enum ApiError {
    /// Missing or wrong credential (`unauthorized`).
    Unauthorized,
    /// No such task (`not_found`).
    NotFound(String),
    /// A superseded attempt reported (`stale_attempt`).
    StaleAttempt(String),
    /// The task is already finished (`task_finished`).
    TaskFinished(String),
    /// Authenticated, but the role does not allow it (`forbidden`).
    Forbidden(String),
    /// It clashes with what exists (`conflict`).
    Conflict(String),
    /// The request is malformed (`bad_request`).
    BadRequest(String),
    /// Anything else (`internal`); the detail is logged, not returned.
    Internal(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchTask(_) => ApiError::NotFound(e.to_string()),
            StoreError::StaleAttempt { .. } => ApiError::StaleAttempt(e.to_string()),
            StoreError::TaskFinished { .. } => ApiError::TaskFinished(e.to_string()),
            StoreError::BadCredential { .. } => ApiError::Unauthorized,
            StoreError::NoSuchOutput { .. } | StoreError::BadRole(_) | StoreError::BadPartition { .. } => ApiError::BadRequest(e.to_string()),
            StoreError::NoSuchJob(_) | StoreError::NoSuchDataset(_) | StoreError::NoSuchUser(_) | StoreError::NoSuchDag(_) | StoreError::NoSuchDatasetVersion { .. } => ApiError::NotFound(e.to_string()),
            StoreError::NothingToRollBackTo(_) | StoreError::RollbackOntoPurged { .. } | StoreError::VersionInUse { .. } => ApiError::Conflict(e.to_string()),
            StoreError::UserExists(_) | StoreError::OrgExists(_) | StoreError::DatasetProducedElsewhere { .. } => ApiError::Conflict(e.to_string()),
            other => ApiError::Internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid credential".to_owned()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            ApiError::StaleAttempt(m) => (StatusCode::CONFLICT, "stale_attempt", m),
            ApiError::TaskFinished(m) => (StatusCode::CONFLICT, "task_finished", m),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            ApiError::Internal(e) => {
                let chain = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ");
                tracing::error!(error = %chain, "internal API error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_owned())
            }
        };
        (status, Json(ErrorBody { code: code.to_owned(), message })).into_response()
    }
}
