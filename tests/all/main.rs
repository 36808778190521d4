//! The sandbox's tests: real components compiled from this repository's
//! sources, hostile ones among them, run in the real host. One binary, fast to link.

mod support;

mod admission;
mod amplification;
mod blocking;
mod cache;
mod examples;
mod hostile;
mod limits;
mod operators;
mod reset;
mod rpc;
