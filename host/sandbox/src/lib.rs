//! Trace's sandbox: runs an operator, shipped as a WASI preview-2 component,
//! with nothing but the capabilities of its WIT world and under explicit
//! limits. One [`Runtime`] per process; one fresh store per task.
//!
//! ```text
//! Runtime::new(config) ─ load(bytes, World) ─▶ Operator ─ run(Task) ─▶ TaskReport | TaskFailure
//! ```

mod admission;
pub mod bindings;
mod cache;
mod columnar;
mod capabilities;
mod engine;
mod error;
mod guest_stdio;
mod host_io;
mod inspect;
mod limits;
mod linker;
mod outcome;
mod runtime;
mod shape;
mod state_overlay;
mod task;
mod task_state;

pub use admission::{refusal, World};
pub use capabilities::{EventSink, MemoryState, RpcClient, StateStore, StateTotals};
pub use engine::{compatibility_key, wasmtime_version, EngineConfig};
pub use error::{LoadError, TaskError};
pub use inspect::Inspection;
pub use limits::{LimitExceeded, Limits};
pub use outcome::{TaskFailure, TaskReport, Usage};
pub use runtime::{Operator, Runtime, RuntimeConfig};
pub use shape::{shape, Shape, HEAVY_LINKING};
pub use task::Task;
pub use wasmtime::Trap;
