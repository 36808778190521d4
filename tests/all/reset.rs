//! Between tasks the pool resets a slot's memory in place: every page a
//! task dirtied goes back to its initial contents, and up to the pool's
//! keep-resident budget those pages stay mapped, so the next task does not
//! fault them in again (`vendor/README.md`: wasmtime 48 kept only the first
//! 32 dirty regions).

use serde_json::json;
use trace_sandbox::{EngineConfig, Operator, Runtime, RuntimeConfig, World};

use crate::support::*;

/// Page faults this thread has taken (a task runs on its caller's thread).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("reading /proc/thread-self/stat");
    // Fields after the command name, which is in parentheses: state is the
    // 3rd field of the line, minflt the 10th.
    let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
    after_name.split(' ').nth(7).and_then(|f| f.parse().ok()).expect("the minflt field")
}

/// Run the `scatter` attack `runs` times on `op`: each task must find the
/// image as it was built; returns the page faults each task took.
fn scatter(op: &Operator, runs: usize) -> Vec<u64> {
    (0..runs)
        .map(|run| {
            let before = minor_faults();
            let failure = op.run(task(json!({ "attack": "scatter" }))).expect_err("scatter reports through an error");
            let faults = minor_faults() - before;
            assert_eq!(fatal_message(&failure), "marked_pages=0 changed_pages=0", "task {run} saw an earlier task's writes");
            faults
        })
        .collect()
}

/// The hostile guest on a runtime of its own, keeping `keep_resident_bytes`
/// of each memory: no other test's task can take its pool slot between two
/// of its tasks, so each task after the first reuses the slot the last one
/// left.
fn on_own_pool(keep_resident_bytes: usize) -> Operator {
    let engine = EngineConfig { keep_resident_bytes, pool_instances: 2, ..EngineConfig::default() };
    let runtime = Runtime::new(RuntimeConfig { engine, ..RuntimeConfig::default() }).expect("runtime starts");
    runtime.load_file(trace_artifacts::HOSTILE.as_ref(), World::Transform).expect("loading the hostile guest")
}

#[test]
fn a_scattered_working_set_is_reset_to_its_image_and_stays_resident() {
    let faults = scatter(&on_own_pool(EngineConfig::default().keep_resident_bytes), 4);
    // The first task faults its 256 pages in; later ones find them resident.
    assert!(faults[0] >= 256, "the first task wrote 256 image pages: {faults:?}");
    assert!(faults[1..].iter().all(|&f| f < 64), "a later task faulted its pages in again, so they were not kept: {faults:?}");
}

#[test]
fn what_exceeds_the_keep_resident_budget_is_still_reset_but_not_kept() {
    // 512 KiB kept resident: 128 pages, fewer than the 256 the guest dirties,
    // so the budget runs out in a later round of the scan (32 regions each)
    // and the rest is decommitted, to be faulted in afresh.
    let faults = scatter(&on_own_pool(512 << 10), 4);
    assert!(faults[1..].iter().all(|&f| f >= 64), "pages past the budget must be faulted in again: {faults:?}");
}
