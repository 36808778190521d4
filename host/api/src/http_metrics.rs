//! Every API request counted by its route template (never the raw path:
//! ids would make a series per task) and answer status, with its latency.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Middleware for the public and internal routers (`axum::middleware::from_fn`).
pub async fn count(request: Request, next: Next) -> Response {
    // `/api/v1/tasks/:id`: the template, with `:name` for a parameter (some
    // Prometheus tooling trips over braces in label values).
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().replace('{', ":").replace('}', ""));
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("trace_http_request_duration_seconds", "route" => route.clone()).record(started.elapsed().as_secs_f64());
    metrics::counter!("trace_http_requests_total", "route" => route, "status" => status).increment(1);
    response
}
