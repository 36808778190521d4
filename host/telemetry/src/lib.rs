//! Logs and traces for Trace's processes.
//!
//! [`init`] installs the process's subscriber: log lines on stderr (text,
//! or one JSON object a line) filtered by `TRACE_LOG`, and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, every span exported over OTLP
//! (HTTP, JSON bodies) filtered by `TRACE_TRACES` ([`DEFAULT_TRACES`]).
//!
//! One task is one trace across processes: the span that creates a task
//! (an API trigger, or the completion that emitted its event) is stored
//! with it as a W3C `traceparent`; the dispatcher's claim, the worker's
//! attempt and the server's handling of the worker's calls all hang off it,
//! the calls carrying their parent in a `traceparent` header
//! ([`inject`], [`adopt`]). With no exporter nothing is stored or sent.

mod context;
mod init;

pub use context::{adopt, current_traceparent, inject, traceparent_in, MAX_TRACEPARENT, TRACEPARENT};
pub use init::{exporting, init, Telemetry, TelemetryError, DEFAULT_TRACES};
