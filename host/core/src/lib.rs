//! Trace's shared vocabulary. Every other crate speaks in these types; this
//! crate depends on nothing heavy so it builds in seconds.

pub mod backfill;
pub mod digest;
pub mod errors;
pub mod event;
pub mod io;
pub mod retry;
pub mod task;
pub mod units;

pub use digest::Digest;
pub use errors::error_chain;
pub use event::{Event, InputEvent, Range};
pub use io::{BatchSource, ChainSource, VecSource};
pub use task::TaskContext;
