//! Arrow IPC streams, the wire format between the host and guests: encode,
//! decode without copying, and read a stream's shape (rows, values,
//! columns, types) from its message headers alone. Small enough for both
//! sides: the sandbox and the guest SDK use it, and it needs nothing but
//! Arrow (no Parquet, no I/O).

mod ipc;
mod ipc_shape;

pub use ipc::{decode_ipc, decode_ipc_owned, encode_ipc, encode_ipc_slices, IpcError};
pub use ipc_shape::{ipc_shape, BatchShape, IpcShape, ShapeError};
