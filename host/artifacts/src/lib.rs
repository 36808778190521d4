//! Paths of this repository's guest components, compiled from source for
//! `wasm32-wasip2` by this crate's build script.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
