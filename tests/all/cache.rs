//! Components are compiled once per digest and engine, and the compiled
//! artifact survives a restart when a cache directory is configured.

use trace_sandbox::{Runtime, RuntimeConfig, World};

use crate::support::*;

#[test]
fn compiled_components_are_reused_across_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig { cache_dir: Some(dir.path().to_owned()), ..Default::default() };
    let first = Runtime::new(config.clone()).unwrap();
    let op = first.load_file(trace_artifacts::NOOP.as_ref(), World::Transform).unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = entries[0].to_string_lossy().into_owned();
    assert!(name.starts_with(&op.digest().hex()), "{name}");
    assert!(name.contains(&format!("wasmtime-{}", trace_sandbox::wasmtime_version())), "{name}");

    let modified = std::fs::metadata(dir.path().join(&name)).unwrap().modified().unwrap();
    let second = Runtime::new(config).unwrap();
    let again = second.load_file(trace_artifacts::NOOP.as_ref(), World::Transform).unwrap();
    assert_eq!(again.digest(), op.digest());
    assert_eq!(std::fs::metadata(dir.path().join(&name)).unwrap().modified().unwrap(), modified, "not recompiled");
    assert!(again.run(task(serde_json::json!({}))).is_ok());
}

#[test]
fn a_corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig { cache_dir: Some(dir.path().to_owned()), ..Default::default() };
    Runtime::new(config.clone()).unwrap().load_file(trace_artifacts::NOOP.as_ref(), World::Transform).unwrap();
    let entry = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&entry, b"garbage").unwrap();
    let op = Runtime::new(config).unwrap().load_file(trace_artifacts::NOOP.as_ref(), World::Transform).unwrap();
    assert!(op.run(task(serde_json::json!({}))).is_ok());
}
