//! Guests that make the host multiply: a few bytes of Arrow IPC that stand
//! for a billion rows, state that becomes millions of database rows, batches
//! of 200,000 columns. Each is refused with its named limit before the host
//! does the work, and a normal task runs afterwards.

use serde_json::json;
use trace_sandbox::{LimitExceeded, Limits, MemoryState};

use crate::support::*;

#[test]
fn a_billion_null_rows_in_one_batch_are_refused() {
    let f = attack("null_rows", Limits::default());
    assert_eq!(limit_of(&f), &LimitExceeded::BatchRows { got: 1 << 30, limit: 1 << 20 });
    // Nothing was kept: the batch was refused before it was charged.
    assert_eq!(f.usage.output_bytes, 0);
}

#[test]
fn rows_across_batches_are_bounded_per_task() {
    let f = attack("many_rows", Limits::default());
    assert_eq!(limit_of(&f), &LimitExceeded::OutputRows { got: 17 << 20, batch: 1 << 20, limit: 16 << 20 });
    assert_eq!(
        f.error.to_string(),
        format!("guest wrote too many output rows: got={} (this batch: {}), limit={}", 17 << 20, 1 << 20, 16 << 20)
    );
}

#[test]
fn nested_elements_count_what_they_expand_to() {
    // One row of a fixed-size list of 2^30 nulls.
    let f = attack("nested_nulls", Limits::default());
    let expanded = 1 + (1 << 30);
    assert_eq!(limit_of(&f), &LimitExceeded::OutputValues { got: expanded, batch: expanded, limit: 256 << 20 });
}

#[test]
fn tiny_batches_are_bounded_in_number() {
    let f = attack("batch_flood", Limits::default().with_max_output_batches(1_000));
    assert_eq!(limit_of(&f), &LimitExceeded::OutputBatches { got: 1_001, limit: 1_000 });
}

#[test]
fn wide_batches_are_refused_through_either_interface() {
    let f = attack("wide_batch", Limits::default());
    assert_eq!(limit_of(&f), &LimitExceeded::OutputColumns { got: 2_000, limit: 1_024 });
    // Through `columns`, before the host builds a single array.
    let f = attack("wide_columns", Limits::default());
    assert_eq!(limit_of(&f), &LimitExceeded::OutputColumns { got: 200_000, limit: 1_024 });
}

#[test]
fn types_nested_too_deep_are_refused() {
    let f = attack("deep_type", Limits::default());
    assert_eq!(limit_of(&f), &LimitExceeded::TypeDepth { got: 40, limit: 16 });
    // A type name 10,000 lists deep is refused unparsed (parsing recurses).
    let f = attack("deep_arrow_type", Limits::default());
    let message = fatal_message(&f);
    assert!(message.contains("column `x`: arrow-type is longer than 256 bytes (got 60005)"), "{message}");
}

#[test]
fn dictionary_outputs_are_refused() {
    // A thousand rows pointing at one 1 MiB string would be a gigabyte.
    let f = attack("dictionary_output", Limits::default());
    let message = fatal_message(&f);
    assert!(message.contains("output 0: column \"d\" has type Dictionary, which outputs may not use"), "{message}");
}

#[test]
fn a_call_that_would_make_the_host_copy_too_much_is_refused() {
    // A million empty strings: 8 bytes each in the guest, 24 each in the host.
    let f = attack("call_bytes", Limits::default().with_max_call_bytes(16 << 20));
    assert_eq!(limit_of(&f), &LimitExceeded::CallBytes { limit: 16 << 20 });
}

#[test]
fn distinct_state_keys_per_task_are_bounded() {
    let f = attack("state_keys", Limits::default());
    assert_eq!(limit_of(&f), &LimitExceeded::StateKeys { got: 100_001, limit: 100_000 });
}

#[test]
fn state_bytes_per_task_are_bounded() {
    let f = attack("state_bytes", Limits::default());
    match limit_of(&f) {
        LimitExceeded::StateBytes { got, limit } => assert!(*limit == 32 << 20 && *got > *limit && *got < (33 << 20), "{got}"),
        other => panic!("expected the state-bytes limit, got {other}"),
    }
}

#[test]
fn the_jobs_whole_state_is_bounded() {
    // 7 MiB already held; the task's first 1 MiB value crosses 8 MiB.
    let held = MemoryState((0..7).map(|i| (format!("held-{i}"), vec![0u8; 1 << 20])).collect());
    let limits = Limits::default().with_max_job_state_bytes(8 << 20);
    let f = attack_with(task(json!({ "attack": "state_bytes" })).with_state(held).with_limits(limits));
    match limit_of(&f) {
        LimitExceeded::JobStateBytes { got, limit } => {
            assert_eq!(*limit, 8 << 20);
            assert!(*got > 8 << 20 && *got < (8 << 20) + 1024, "{got}");
        }
        other => panic!("expected the job-state limit, got {other}"),
    }
}
