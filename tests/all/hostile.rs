//! Hostile guests: every attack is contained with its named error, and a
//! normal task runs on the same host afterwards.

use std::time::Duration;

use trace_sandbox::{LimitExceeded, Limits, TaskError};

use crate::support::*;

#[test]
fn infinite_loop_is_stopped_at_the_time_limit() {
    let f = attack("infinite_loop", Limits::default().with_timeout(Duration::from_millis(200)));
    match limit_of(&f) {
        LimitExceeded::Timeout { elapsed_ms, limit_ms } => {
            assert_eq!(*limit_ms, 200);
            assert!(*elapsed_ms >= 200 && *elapsed_ms < 5_000, "stopped after {elapsed_ms}ms");
        }
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(f.error.is_retryable());
}

#[test]
fn memory_bomb_is_refused_at_the_memory_limit() {
    let f = attack("memory_bomb", Limits::default().with_max_memory_bytes(64 << 20));
    match limit_of(&f) {
        LimitExceeded::Memory { requested, limit } => {
            assert_eq!(*limit, 64 << 20);
            assert!(*requested > *limit);
        }
        other => panic!("expected a memory limit, got {other}"),
    }
    assert!(f.usage.peak_memory_bytes <= 64 << 20);
}

#[test]
fn shadow_stack_overflow_is_contained() {
    // Big frames exhaust the guest's own stack in linear memory first; with
    // the stack placed first it runs below address 0 and traps.
    let f = attack("stack_overflow", Limits::default());
    match &f.error {
        TaskError::Trap { trap: Some(trace_sandbox::Trap::MemoryOutOfBounds), message } => {
            assert!(message.contains("out of bounds memory access"), "{message}")
        }
        other => panic!("expected an out-of-bounds trap, got {other:?}"),
    }
}

#[test]
fn wasm_stack_overflow_is_contained() {
    let f = attack("wasm_stack_overflow", Limits::default());
    assert!(matches!(limit_of(&f), LimitExceeded::Stack { limit } if *limit == 512 << 10), "{:?}", f.error);
}

#[test]
fn deep_recursion_through_host_calls_is_contained() {
    let f = attack("deep_recursion_host_call", Limits::default());
    assert!(matches!(limit_of(&f), LimitExceeded::Stack { .. }), "{:?}", f.error);
}

#[test]
fn output_flood_is_cut_at_the_output_limit() {
    let f = attack("output_flood", Limits::default().with_max_output_bytes(1 << 20));
    match limit_of(&f) {
        LimitExceeded::OutputBytes { got, limit } => assert!(*limit == 1 << 20 && got > limit),
        other => panic!("expected an output limit, got {other}"),
    }
    assert!(f.usage.output_bytes <= 1 << 20);
}

#[test]
fn event_flood_is_cut_at_the_event_limit() {
    let f = attack("event_flood", Limits::default());
    assert_eq!(limit_of(&f), &LimitExceeded::Events { got: 10_001, limit: 10_000 });
    assert_eq!(f.error.to_string(), "guest emitted too many events: got=10001, limit=10000");
}

#[test]
fn log_flood_is_cut_at_the_log_limit() {
    let f = attack("log_flood", Limits::default().with_max_log_bytes(64 << 10));
    assert!(matches!(limit_of(&f), LimitExceeded::LogBytes { got, limit } if *limit == 64 << 10 && got > limit));
    assert!(f.log.len() <= 64 << 10);
}

#[test]
fn stdout_flood_counts_against_the_log_limit() {
    let f = attack("stdout_flood", Limits::default().with_max_log_bytes(64 << 10));
    assert!(matches!(limit_of(&f), LimitExceeded::LogBytes { .. }), "{:?}", f.error);
    assert!(f.log.starts_with("yyyy"), "stdout is captured into the task log");
}

#[test]
fn huge_state_value_is_refused() {
    let f = attack("huge_state", Limits::default());
    assert_eq!(
        limit_of(&f),
        &LimitExceeded::StateValue { key: "big".into(), got: 64 << 20, limit: 1 << 20 }
    );
}

#[test]
fn huge_partition_key_is_refused() {
    let f = attack("huge_partition_key", Limits::default());
    assert_eq!(limit_of(&f), &LimitExceeded::EventField { field: "partition-key", got: 1 << 20, limit: 1024 });
}

#[test]
fn nothing_a_task_leaves_in_memory_reaches_the_next_one() {
    // Slots are reset in place (resident pages rewritten, the rest unmapped);
    // a second task on the same component must start from the clean image.
    for run in 0..3 {
        let f = attack("remember", Limits::default());
        assert_eq!(fatal_message(&f), "runs_before=0 marked_pages=0", "task {run} saw an earlier task's memory");
    }
}

#[test]
fn environment_and_arguments_are_empty() {
    let f = attack("read_env", Limits::default());
    assert_eq!(fatal_message(&f), "env=[] args=[]");
}

#[test]
fn host_files_cannot_be_read() {
    let f = attack("read_file", Limits::default());
    let seen = fatal_message(&f);
    assert!(!seen.contains("root:"), "{seen}");
    assert!(seen.contains("read /etc/passwd: Err("), "{seen}");
    assert!(seen.contains("list /: Err("), "{seen}");
}

#[test]
fn host_files_cannot_be_written() {
    let _ = std::fs::remove_file("/tmp/trace-escape");
    let f = attack("write_file", Limits::default());
    assert!(fatal_message(&f).contains("Err("), "{}", fatal_message(&f));
    assert!(!std::path::Path::new("/tmp/trace-escape").exists());
}

#[test]
fn trap_mid_write_leaves_nothing_behind() {
    let f = attack("trap_mid_write", Limits::default());
    match &f.error {
        TaskError::Trap { trap, message } => {
            assert_eq!(*trap, Some(trace_sandbox::Trap::UnreachableCodeReached), "{message}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(f.log.contains("trapping after a partial write"), "the panic message reaches the log: {}", f.log);
    // A failure carries no outputs, events or state writes: the partial
    // write, the event and the state change were all dropped with the store.
    assert_eq!(f.usage.events, 1, "the event was emitted before the trap, then discarded");
}

#[test]
fn writing_to_a_missing_output_is_an_error_the_guest_sees() {
    let f = attack("bad_output_index", Limits::default());
    assert!(fatal_message(&f).contains("no output 7: this job has 1 output(s)"), "{}", fatal_message(&f));
}

#[test]
fn a_backwards_event_range_is_refused_to_the_guest() {
    let f = attack("backwards_range", Limits::default());
    assert!(fatal_message(&f).contains("event range is backwards: start=10 > end=5"), "{}", fatal_message(&f));
}

#[test]
fn an_event_for_a_missing_output_is_refused_to_the_guest() {
    let f = attack("bad_event_output", Limits::default());
    assert!(fatal_message(&f).contains("no output 3: this job has 1 output(s)"), "{}", fatal_message(&f));
}

#[test]
fn garbage_output_is_refused_when_written() {
    // Bytes whose IPC headers cannot be read are refused at `write-batch`,
    // so every stream the host keeps was charged against the output limits.
    let f = attack("garbage_output", Limits::default());
    let message = fatal_message(&f);
    assert!(message.contains("output 0: batch is not a valid Arrow IPC stream"), "{message}");
}
