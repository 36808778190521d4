//! One error shape for every answer of the public API: RFC 9457
//! `application/problem+json`, with Trace's stable `code` (and `message`, the
//! same as `detail`, for clients written before the change).
//!
//! Handlers answer errors through [`ApiError`](crate::ApiError); what axum
//! answers by itself (a body that is not JSON, an unknown route, a wrong
//! method, a body over the limit) arrives as plain text and is rewrapped here,
//! so a client never has to parse two shapes.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub const PROBLEM_JSON: &str = "application/problem+json";
/// The most of a plain-text rejection kept as the problem's detail.
const MAX_DETAIL_BYTES: usize = 2_048;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:trace:problem:CODE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person; never internals.
    pub detail: String,
    /// Stable: `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `stale_attempt`, `task_finished`, `bad_request`, `limit_exceeded`,
    /// `too_many_requests`, `gone`, `unavailable`, `method_not_allowed`,
    /// `payload_too_large`, `unsupported_media_type`, `internal`.
    pub code: String,
    /// The same as `detail`.
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: String) -> Self {
        Self {
            kind: format!("urn:trace:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            message: detail.clone(),
            detail,
            code: code.to_owned(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// The code for an answer axum made by itself.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Middleware: rewrap any error answer that is not a problem already.
pub async fn uniform(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let detail = match axum::body::to_bytes(response.into_body(), MAX_DETAIL_BYTES).await {
        Ok(bytes) if !bytes.is_empty() && !status.is_server_error() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    Problem::new(status, code_of(status), detail).into_response()
}

/// The public router's fallback: an unknown route is a problem too.
pub async fn no_route(request: Request<Body>) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", format!("no route {} {}", request.method(), request.uri().path()))
}
