//! A hostile operator that opens a TCP connection with `std::net`. On
//! `wasm32-wasip2` that imports `wasi:sockets`, so Trace must refuse it at
//! load, before any of its code runs.

use trace_guest::prelude::*;

struct Sockets;

impl Operator for Sockets {
    fn run(_ctx: &TaskContext, _event: &InputEvent) -> Result<(), OperatorError> {
        match std::net::TcpStream::connect("127.0.0.1:5432") {
            Ok(_) => Err(fatal("connected to the host network")),
            Err(e) => Err(fatal(format!("connect failed: {e}"))),
        }
    }
}

trace_guest::export_operator!(Sockets);
