//! Engine-level limits: fuel, instances and tables.

use serde_json::json;
use trace_sandbox::{EngineConfig, LimitExceeded, Limits, Runtime, RuntimeConfig, TaskError, World};

use crate::support::*;

#[test]
fn fuel_gives_a_deterministic_cpu_budget() {
    let config = RuntimeConfig { engine: EngineConfig::default().with_fuel(true), ..RuntimeConfig::default() };
    let rt = Runtime::new(config).unwrap();
    let hostile = rt.load_file(trace_artifacts::HOSTILE.as_ref(), World::Transform).unwrap();
    let f = hostile
        .run(task(json!({ "attack": "infinite_loop" })).with_limits(Limits::default().with_fuel(5_000_000)))
        .unwrap_err();
    assert!(matches!(f.error, TaskError::Limit(LimitExceeded::Fuel { limit: 5_000_000 })), "{:?}", f.error);

    let noop = rt.load_file(trace_artifacts::NOOP.as_ref(), World::Transform).unwrap();
    let a = noop.run(task(json!({})).with_limits(Limits::default().with_fuel(5_000_000))).unwrap();
    let b = noop.run(task(json!({})).with_limits(Limits::default().with_fuel(5_000_000))).unwrap();
    let used = a.usage.fuel_consumed.unwrap();
    assert!(used > 0 && used < 5_000_000);
    assert_eq!(a.usage.fuel_consumed, b.usage.fuel_consumed, "fuel is deterministic");
}

#[test]
fn instance_limit_refuses_the_component_at_load() {
    // The UDF is its module plus two adapter shims: three core instances.
    let config = RuntimeConfig { max_core_instances: 2, ..RuntimeConfig::default() };
    let rt = Runtime::new(config).unwrap();
    let err = rt.load_file(trace_artifacts::ERC20_TRANSFERS.as_ref(), World::Transform).err().expect("refused");
    match err {
        trace_sandbox::LoadError::TooManyInstances { got: 3, limit: 2, .. } => {}
        other => panic!("expected an instance limit, got {other:?}"),
    }
    assert_host_still_serves();
}

#[test]
fn table_limit_refuses_instantiation() {
    let f = load(trace_artifacts::NOOP)
        .run(task(json!({})).with_limits(Limits::default().with_max_table_elements(1)))
        .unwrap_err();
    match f.error {
        TaskError::Limit(LimitExceeded::TableElements { requested, limit: 1 }) => assert!(requested > 1),
        other => panic!("expected a table limit, got {other:?}"),
    }
    assert_host_still_serves();
}

#[test]
fn memory_limit_below_the_guest_minimum_fails_at_start() {
    let f = load(trace_artifacts::NOOP)
        .run(task(json!({})).with_limits(Limits::default().with_max_memory_bytes(64 << 10)))
        .unwrap_err();
    assert!(matches!(f.error, TaskError::Limit(LimitExceeded::Memory { limit, .. }) if limit == 64 << 10), "{:?}", f.error);
}

#[test]
fn usage_is_reported_for_successful_tasks() {
    let report = load(trace_artifacts::NOOP).run(task(json!({}))).unwrap();
    assert!(report.usage.peak_memory_bytes > 0);
    assert_eq!(report.usage.events, 0);
    assert_eq!(report.usage.fuel_consumed, None, "fuel is off by default");
}
