//! Trace's HTTP APIs. This crate builds routers (`app(state) -> Router`) and
//! leaves serving to the binary, so tests drive them without a socket.
//!
//! The public API (`/api/v1/*`) is for users, with API tokens and roles.
//! The internal API (`/internal/*`) is for platform components only: the
//! worker wrapper, never operator code (which has no network at all).
//! The worker's client for the latter is `trace_worker::remote`.

mod alert_routes;
mod dag_routes;
mod dataset_routes;
mod error;
mod http_metrics;
mod http_traces;
mod internal;
mod openapi;
mod problem;
mod public;
mod public_client;
mod public_state;
mod public_wire;
mod query_routes;
mod quota_routes;
mod secret_routes;

pub use alert_routes::{DeliveryAttempt, DeliveryDetail, DeliverySummary, DestinationBody, DestinationSaved, DestinationSummary};
pub use error::{ApiError, DATABASE_UNAVAILABLE};
pub use openapi::document as openapi_document;
pub use problem::{Problem, PROBLEM_JSON};
pub use internal::{internal_router, InternalState, MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST, MAX_PARTITIONS_PER_REQUEST};
pub use public::{public_router, PublicState, MAX_LIST, MAX_NAME_CHARS, MAX_PUBLIC_BODY_BYTES};
pub use public_client::{ClientError, PublicClient, QueryResponse};
pub use public_wire::*;
pub use query_routes::{ROW_COUNT_HEADER, TRUNCATED_HEADER};
pub use secret_routes::SecretSummary;
// The internal API's bodies are the worker contract's wire form.
pub use trace_protocol::wire::*;
