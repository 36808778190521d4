//! One error type for every handler. Clients get a stable code and a short
//! message; database details go to the log, never to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use trace_store::StoreError;

use crate::problem::Problem;

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
    /// A bound was met (`limit_exceeded`, 422); the message names it.
    LimitExceeded(String),
    /// Too many at once for the caller's org (`too_many_requests`, 429).
    TooManyRequests(String),
    /// It existed and is gone for good (`gone`, 410).
    Gone(String),
    /// This server does not offer it, or cannot now (`unavailable`, 503).
    Unavailable(String),
    /// Anything else (`internal`); the detail is logged, not returned.
    Internal(StoreError),
    /// A worker asked for an attempt another worker already took
    /// (`already_taken`, 409).
    AlreadyTaken(String),
    /// The system database cannot be reached now (`database_unavailable`,
    /// 503): a restart or an outage, not the request.
    DatabaseUnavailable(StoreError),
    /// Like `Internal`, for failures outside the system database.
    Failed(String),
}

impl From<trace_query::QueryError> for ApiError {
    fn from(e: trace_query::QueryError) -> Self {
        use trace_query::QueryError as Q;
        match e {
            Q::NotReadOnly { .. } | Q::SeveralStatements | Q::Empty | Q::TooLong { .. } | Q::Sql(_) | Q::AboveLimit { .. } | Q::BelowMinimum { .. } | Q::NoData { .. } | Q::Unrepresentable { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            Q::Timeout { .. } | Q::ResultTooLarge { .. } | Q::TooMuchToFetch { .. } | Q::OutOfMemory { .. } => ApiError::LimitExceeded(e.to_string()),
            Q::TooManyQueries { .. } => ApiError::TooManyRequests(e.to_string()),
            Q::NoSuchDataset { .. } | Q::NoSuchVersion { .. } | Q::NoSuchBatch { .. } => ApiError::NotFound(e.to_string()),
            Q::Purged { .. } => ApiError::Gone(e.to_string()),
            Q::NotFinished { .. } => ApiError::Conflict(e.to_string()),
            Q::CacheFull { .. } | Q::ServerBusy { .. } => ApiError::Unavailable(e.to_string()),
            Q::Setup(_) => ApiError::Failed(e.to_string()),
        }
    }
}

/// What a caller is told while the system database cannot be reached.
pub const DATABASE_UNAVAILABLE: &str = "the system database is unavailable (restarting, unreachable or out of connections); try again shortly";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return ApiError::DatabaseUnavailable(e);
        }
        match e {
            StoreError::NoSuchTask(_) => ApiError::NotFound(e.to_string()),
            StoreError::StaleAttempt { .. } | StoreError::LateStateWrite { .. } => ApiError::StaleAttempt(e.to_string()),
            StoreError::TaskFinished { .. } => ApiError::TaskFinished(e.to_string()),
            StoreError::BadCredential { .. } => ApiError::Unauthorized,
            StoreError::NoSuchOutput { .. } | StoreError::BadRole(_) | StoreError::BadPartition { .. } => ApiError::BadRequest(e.to_string()),
            StoreError::NotBufferedOutput { .. } | StoreError::NotBuffered { .. } | StoreError::TooManyBufferedRows { .. } | StoreError::BadBufferedRows { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            StoreError::NoSuchDestination(_) | StoreError::NoSuchDelivery(_) | StoreError::NoSuchSecret(_) => ApiError::NotFound(e.to_string()),
            StoreError::MissingSecrets(_) => ApiError::Conflict(e.to_string()),
            StoreError::NotRetryable { .. } | StoreError::BufferedSchemaChanged { .. } => ApiError::Conflict(e.to_string()),
            StoreError::NoSuchJob(_) | StoreError::NoSuchDataset(_) | StoreError::NoSuchUser(_) | StoreError::NoSuchDag(_) | StoreError::NoSuchDatasetVersion { .. } | StoreError::NoSuchDagVersion { .. } => ApiError::NotFound(e.to_string()),
            StoreError::NothingToRollBackTo(_) | StoreError::RollbackOntoPurged { .. } | StoreError::VersionInUse { .. } | StoreError::AlreadyActive { .. } => ApiError::Conflict(e.to_string()),
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
            ApiError::AlreadyTaken(m) => (StatusCode::CONFLICT, "already_taken", m),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            ApiError::LimitExceeded(m) => (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded", m),
            ApiError::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", m),
            ApiError::Gone(m) => (StatusCode::GONE, "gone", m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
            ApiError::DatabaseUnavailable(e) => {
                tracing::warn!(error = %trace_core::error_chain(&e), "the system database is unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", DATABASE_UNAVAILABLE.to_owned())
            }
            ApiError::Failed(detail) => {
                tracing::error!(error = %detail, "internal API error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_owned())
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %trace_core::error_chain(&e), "internal API error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_owned())
            }
        };
        Problem::new(status, code, message).into_response()
    }
}
