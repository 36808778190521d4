//! Components that import what their world does not grant are refused at
//! load, with an error naming the import.

use trace_sandbox::{LoadError, World};

use crate::support::*;

fn refused(path: &str) -> (String, String) {
    match runtime().load_file(path.as_ref(), World::Source) {
        Err(LoadError::ForbiddenImport { import, hint, .. }) => (import, hint),
        Err(other) => panic!("expected a forbidden import, got {other:?}"),
        Ok(_) => panic!("{path} was admitted"),
    }
}

#[test]
fn refuses_component_importing_sockets() {
    let (import, hint) = refused(trace_artifacts::HOSTILE_SOCKETS);
    assert!(import.starts_with("wasi:sockets/"), "{import}");
    assert!(hint.contains("no network access"), "{hint}");
}

#[test]
fn refuses_component_importing_http() {
    let (import, hint) = refused(trace_artifacts::HOSTILE_HTTP);
    assert_eq!(import, "wasi:http/outgoing-handler@0.3.0");
    assert!(hint.contains("rpc"), "{hint}");
    let err = runtime().load_file(trace_artifacts::HOSTILE_HTTP.as_ref(), World::Transform).err().unwrap();
    assert!(err.to_string().contains("imports `wasi:http/outgoing-handler@0.3.0`, which Trace does not provide"), "{err}");
}

#[test]
fn refuses_bytes_that_are_not_a_component() {
    let err = runtime().load(b"\0asm\x01\0\0\0", World::Transform).err().unwrap();
    assert!(matches!(err, LoadError::Compile { .. }), "{err:?}");
}

#[test]
fn refuses_components_over_the_size_limit() {
    let config = trace_sandbox::RuntimeConfig { max_component_bytes: 1024, ..Default::default() };
    let rt = trace_sandbox::Runtime::new(config).unwrap();
    let err = rt.load_file(trace_artifacts::NOOP.as_ref(), World::Transform).err().unwrap();
    assert!(matches!(err, LoadError::TooLarge { limit: 1024, got } if got > 1024), "{err:?}");
}

#[test]
fn every_built_in_operator_is_admitted_as_a_transform() {
    for path in [
        trace_artifacts::NOOP,
        trace_artifacts::ERC20_TRANSFERS,
        trace_artifacts::RANGE_AGGREGATOR,
        trace_artifacts::RANGE_SPLITTER,
        trace_artifacts::HOSTILE,
    ] {
        runtime().load_file(path.as_ref(), World::Transform).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
