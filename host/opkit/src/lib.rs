//! The operator author's workflow beside the sandbox: what an operator
//! project is ([`Manifest`]), scaffolding one in Rust, JavaScript or Python
//! ([`scaffold`]), and building it into a component ([`build`]) with cargo,
//! componentize-qjs or componentize-py.
//!
//! JavaScript and Python operators are staged with Trace's kit for their
//! language (`guest-sdk/js`, `guest-sdk/python`) and the `wit/` contract, both
//! embedded in this crate, so a project needs nothing but its own sources.

mod build;
mod embedded;
mod error;
mod manifest;
mod scaffold;
mod tools;

pub use build::{build, Built};
pub use error::OpkitError;
pub use manifest::{Language, Manifest};
pub use scaffold::scaffold;
pub use tools::{tools_dir, Tool, INSTALL_SCRIPT};
