//! What a page answers when it cannot show what was asked: a page of its own,
//! with the status, and never a database detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use trace_api::ApiError;
use trace_store::StoreError;

#[derive(Debug)]
pub enum ConsoleError {
    /// No valid sign-in: go to the sign-in page.
    SignIn,
    Forbidden(String),
    NotFound(String),
    /// What the user asked for was refused (a bad value, a conflict); the
    /// message is for them.
    Refused(StatusCode, String),
    /// Logged with its detail; the page says only that it failed.
    Internal(String),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<trace_query::QueryError> for ConsoleError {
    fn from(e: trace_query::QueryError) -> Self {
        ApiError::from(e).into()
    }
}

/// The API's mapping decides what a user may be told.
impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => ConsoleError::SignIn,
            ApiError::Forbidden(m) => ConsoleError::Forbidden(m),
            ApiError::NotFound(m) => ConsoleError::NotFound(m),
            ApiError::BadRequest(m) | ApiError::LimitExceeded(m) => ConsoleError::Refused(StatusCode::BAD_REQUEST, m),
            ApiError::Conflict(m) | ApiError::StaleAttempt(m) | ApiError::TaskFinished(m) | ApiError::AlreadyTaken(m) => ConsoleError::Refused(StatusCode::CONFLICT, m),
            ApiError::TooManyRequests(m) => ConsoleError::Refused(StatusCode::TOO_MANY_REQUESTS, m),
            ApiError::Gone(m) => ConsoleError::Refused(StatusCode::GONE, m),
            ApiError::Unavailable(m) => ConsoleError::Refused(StatusCode::SERVICE_UNAVAILABLE, m),
            ApiError::DatabaseUnavailable(e) => {
                tracing::warn!(error = %crate::format::chain(&e), "the system database is unavailable");
                ConsoleError::Refused(StatusCode::SERVICE_UNAVAILABLE, trace_api::DATABASE_UNAVAILABLE.to_owned())
            }
            ApiError::Internal(e) => ConsoleError::Internal(crate::format::chain(&e)),
            ApiError::Failed(m) => ConsoleError::Internal(m),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ConsoleError::SignIn => return Redirect::to("/console/login").into_response(),
            ConsoleError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ConsoleError::Refused(status, m) => (status, m),
            ConsoleError::Internal(detail) => {
                tracing::error!(error = %detail, "console error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_owned())
            }
        };
        (status, crate::layout::bare(status.canonical_reason().unwrap_or("Error"), &message)).into_response()
    }
}
