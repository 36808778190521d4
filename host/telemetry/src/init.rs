//! Installing the process's subscriber and, when asked for, the OTLP
//! exporter behind it.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// What is exported unless `TRACE_TRACES` says otherwise: `info`, and the
/// stages of a task (dispatch, prepare, instantiate, run, persist, report),
/// which are `debug` so that log lines at `info` do not pay for them.
pub const DEFAULT_TRACES: &str = "info,trace_control=debug,trace_worker=debug,trace_sandbox=debug";

/// Set once [`init`] installed an exporter: only then is a trace context
/// worth computing, storing or sending.
static EXPORTING: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
pub(crate) fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

/// Whether this process exports spans.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("TRACE_LOG_FORMAT must be text or json, got {0:?}")]
    LogFormat(String),
    #[error("TRACE_TRACES is not a valid filter: {0}")]
    TraceFilter(#[source] tracing_subscriber::filter::ParseError),
    #[error("setting up the OTLP exporter for OTEL_EXPORTER_OTLP_ENDPOINT={endpoint:?}")]
    Exporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("a log subscriber is already installed in this process")]
    AlreadyInstalled,
}

/// The process's telemetry. Dropping it exports the spans still queued
/// (a process that stops on a signal keeps its last attempt's trace).
#[must_use = "dropping it at once shuts the exporter down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            EXPORTING.store(false, Ordering::Relaxed);
            if let Err(e) = provider.shutdown() {
                eprintln!("warning: exporting the last spans: {e}");
            }
        }
    }
}

/// Install logs on stderr and, with `OTEL_EXPORTER_OTLP_ENDPOINT` set,
/// span export naming this process `service` (unless `OTEL_SERVICE_NAME`
/// says otherwise).
pub fn init(service: &'static str) -> Result<Telemetry, TelemetryError> {
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![log_layer()?];
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.trim().is_empty());
    let provider = match endpoint {
        Some(endpoint) => {
            let filter = match std::env::var("TRACE_TRACES") {
                Ok(f) => EnvFilter::try_new(f).map_err(TelemetryError::TraceFilter)?,
                Err(_) => EnvFilter::new(DEFAULT_TRACES),
            };
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpJson)
                .build()
                .map_err(|source| TelemetryError::Exporter { endpoint, source })?;
            let mut resource = Resource::builder();
            if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
                resource = resource.with_service_name(service);
            }
            let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build();
            let tracer = provider.tracer("trace");
            layers.push(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(filter).boxed());
            Some(provider)
        }
        None => None,
    };
    tracing_subscriber::registry().with(layers).try_init().map_err(|_| TelemetryError::AlreadyInstalled)?;
    EXPORTING.store(provider.is_some(), Ordering::Relaxed);
    Ok(Telemetry { provider })
}

/// Lines on stderr: `TRACE_LOG` filters (`warn` by default);
/// `TRACE_LOG_FORMAT=json` writes one JSON object a line, with the task
/// and attempt of the span it is in.
fn log_layer() -> Result<Box<dyn Layer<Registry> + Send + Sync>, TelemetryError> {
    let filter = EnvFilter::try_from_env("TRACE_LOG").unwrap_or_else(|_| "warn".into());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match std::env::var("TRACE_LOG_FORMAT").as_deref() {
        Ok("json") => Ok(lines.json().with_current_span(true).with_span_list(false).with_filter(filter).boxed()),
        Ok("text") | Err(_) => Ok(lines.with_filter(filter).boxed()),
        Ok(other) => Err(TelemetryError::LogFormat(other.to_owned())),
    }
}
