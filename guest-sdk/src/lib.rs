//! Write Trace operators in Rust.
//!
//! An operator is a type implementing [`Operator`], exported with
//! [`export_operator!`]:
//!
//! ```ignore
//! use trace_guest::prelude::*;
//!
//! struct Passthrough;
//!
//! impl Operator for Passthrough {
//!     fn run(_ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
//!         for batch in input::batches(0) {
//!             output::write(0, &batch?)?;
//!         }
//!         events::emit(Event::like(event, 0))
//!     }
//! }
//!
//! trace_guest::export_operator!(Passthrough);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the result is a
//! component Trace runs with nothing but the `trace:operator` world.

// Lets the generated code name this crate the way operator crates do.
extern crate self as trace_guest;

pub mod bindings {
    //! Raw bindings to the `trace:operator` WIT package (generated from the
    //! repository's `wit/` directory, the same files the host uses).
    wit_bindgen::generate!({
        path: "../wit",
        world: "source",
        pub_export_macro: true,
        default_bindings_module: "trace_guest::bindings",
        runtime_path: "trace_guest::__wit_bindgen::rt",
    });
}

pub mod alerts;
pub mod config;
pub mod events;
pub mod input;
pub mod log;
pub mod output;
pub mod rpc;
pub mod state;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use arrow_array;
pub use arrow_buffer;
pub use arrow_schema;
pub use bindings::trace::operator::types::{Event, InputEvent, OperatorError, Range, TaskContext};

/// The one thing an operator implements.
pub trait Operator {
    /// Handle the event that created this task. Return a retryable error for
    /// transient trouble; the platform retries up to the job's `max_attempts`.
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError>;
}

/// A fatal error: the task fails at once, without retries.
pub fn fatal(message: impl std::fmt::Display) -> OperatorError {
    OperatorError::Fatal(message.to_string())
}

/// A retryable error: the platform may run the task again.
pub fn retryable(message: impl std::fmt::Display) -> OperatorError {
    OperatorError::Retryable(message.to_string())
}

/// What most operators need, in one `use`.
pub mod prelude {
    pub use crate::{
        alerts, alerts::Alert, alerts::Severity, config, events, fatal, input, log, output, retryable, rpc, state, Event, InputEvent, Operator,
        OperatorError, Range, TaskContext,
    };
}

/// Export `$ty` (an [`Operator`]) as this component's `run`.
#[macro_export]
macro_rules! export_operator {
    ($ty:ty) => {
        struct __TraceOperatorExport;

        impl $crate::bindings::Guest for __TraceOperatorExport {
            fn run(
                ctx: $crate::TaskContext,
                event: $crate::InputEvent,
            ) -> ::core::result::Result<(), $crate::OperatorError> {
                <$ty as $crate::Operator>::run(&ctx, &event)
            }
        }

        $crate::bindings::export!(__TraceOperatorExport with_types_in $crate::bindings);
    };
}
