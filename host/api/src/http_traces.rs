//! Every API request in a span named by its method and route template.
//! A `traceparent` header makes it a child of the caller's span: a
//! worker's attempt calling the internal API, or a user's own trace around
//! a public call. Tasks created while it runs (a trigger, a completion's
//! events) store it as their trace's parent.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::field::Empty;
use tracing::Instrument;

/// Middleware for the public and internal routers (`axum::middleware::from_fn`).
pub async fn traced(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        route,
        task = Empty,
        attempt = Empty,
    );
    trace_telemetry::adopt(&span, trace_telemetry::traceparent_in(request.headers()));
    next.run(request).instrument(span).await
}

/// Name the task (and attempt) a request is about on its span, once the
/// handler has read them.
pub(crate) fn name_task(task: i64, attempt: Option<i32>) {
    let span = tracing::Span::current();
    span.record("task", task);
    if let Some(attempt) = attempt {
        span.record("attempt", attempt);
    }
}
