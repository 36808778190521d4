//! Trace's HTTP APIs. This crate builds routers (`app(state) -> Router`) and
//! leaves serving to the binary, so tests drive them without a socket.
//!
//! The internal API (`/internal/*`) is for platform components only: the
//! worker wrapper, never operator code (which has no network at all).

mod error;
mod internal;
mod wire;

pub use error::ApiError;
pub use internal::{internal_router, InternalState, MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST};
pub use wire::*;
