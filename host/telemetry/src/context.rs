//! The W3C trace context (`traceparent`) of a span, as text: what a task
//! row stores and what the worker's calls to the server carry.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::init::exporting;

/// The header (and carrier key) of the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// A `traceparent` is 55 characters; anything much longer is not one and
/// is ignored unread.
pub const MAX_TRACEPARENT: usize = 128;

/// The current span's `traceparent`; `None` when spans are not exported
/// (nothing would ever read it) or the span is not recorded.
pub fn current_traceparent() -> Option<String> {
    if !exporting() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Make `span` (not yet entered) a child of the remote span `traceparent`
/// names. A value that is not a valid trace context is ignored: it comes
/// from a database row or a request and must not break the work.
pub fn adopt(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(value) = traceparent.filter(|v| v.len() <= MAX_TRACEPARENT) else {
        return;
    };
    if !exporting() {
        return;
    }
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Fails only for a span already started, which callers never pass.
        let _ = span.set_parent(parent);
    }
}

/// Put the current span's `traceparent` on an outgoing request.
pub fn inject(headers: &mut http::HeaderMap) {
    if let Some(value) = current_traceparent()
        && let Ok(value) = http::HeaderValue::from_str(&value)
    {
        headers.insert(TRACEPARENT, value);
    }
}

/// The `traceparent` an incoming request carries, if any.
pub fn traceparent_in(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(TRACEPARENT)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn traced<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        crate::init::set_exporting(true);
        tracing::subscriber::with_default(subscriber, f)
    }

    fn parts(traceparent: &str) -> (String, String) {
        let p: Vec<&str> = traceparent.split('-').collect();
        (p[1].to_owned(), p[2].to_owned())
    }

    #[test]
    fn an_adopted_span_continues_the_remote_trace_under_its_own_id() {
        let child = traced(|| {
            let span = tracing::info_span!("attempt");
            adopt(&span, Some(PARENT));
            span.in_scope(current_traceparent).expect("a recorded span has a traceparent")
        });
        let (trace, span) = parts(&child);
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(span, "00f067aa0ba902b7");
    }

    #[test]
    fn a_value_that_is_not_a_trace_context_starts_a_new_trace() {
        for junk in ["", "00-zz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", &"0".repeat(MAX_TRACEPARENT + 1)] {
            let child = traced(|| {
                let span = tracing::info_span!("attempt");
                adopt(&span, Some(junk));
                span.in_scope(current_traceparent).unwrap()
            });
            assert_ne!(parts(&child).0, "4bf92f3577b34da6a3ce929d0e0e4736", "{junk:?}");
            assert_ne!(parts(&child).0, "0".repeat(32), "{junk:?}");
        }
    }

    #[test]
    fn the_header_round_trips() {
        let mut headers = http::HeaderMap::new();
        traced(|| {
            let span = tracing::info_span!("call");
            adopt(&span, Some(PARENT));
            span.in_scope(|| inject(&mut headers));
        });
        let sent = traceparent_in(&headers).expect("injected");
        assert_eq!(parts(sent).0, "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
