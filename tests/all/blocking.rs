//! Guests that wait inside a host call rather than run: the wall-time limit
//! holds there too, and the task ends within it plus a small margin.

use std::time::{Duration, Instant};

use trace_sandbox::{LimitExceeded, Limits};

use crate::support::*;

/// How long past its limit a blocked task may take to end (the epoch tick
/// is 5 ms; the rest is tearing the instance down on a busy CI machine).
const MARGIN: Duration = Duration::from_millis(500);

fn assert_stopped_at_the_limit(name: &str) {
    let limit = Duration::from_millis(400);
    let started = Instant::now();
    let f = attack(name, Limits::default().with_timeout(limit));
    let took = started.elapsed();
    match limit_of(&f) {
        LimitExceeded::Timeout { elapsed_ms, limit_ms } => {
            assert_eq!(*limit_ms, 400);
            assert!(*elapsed_ms >= 400, "{name}: reported {elapsed_ms} ms, before its limit");
        }
        other => panic!("{name}: expected the time limit, got {other}"),
    }
    // `took` includes the no-op task `attack` runs afterwards (microseconds).
    assert!(took < limit + MARGIN, "{name}: ended after {took:?}, limit {limit:?}");
    assert!(f.error.is_retryable());
}

#[test]
fn a_guest_sleeping_in_a_host_call_is_stopped_at_its_time_limit() {
    // `std::thread::sleep` on wasip2: a clock subscription and `pollable.block`.
    assert_stopped_at_the_limit("sleep");
}

#[test]
fn a_guest_polling_forever_is_stopped_at_its_time_limit() {
    // A bare `wasi:io/poll.poll` on an hour's and a day's subscription.
    assert_stopped_at_the_limit("poll_forever");
}

#[test]
fn a_guest_hoarding_pollables_runs_into_the_resource_limit() {
    let f = attack("pollable_flood", Limits::default().with_max_host_resources(1_000));
    assert_eq!(limit_of(&f), &LimitExceeded::HostResources { limit: 1_000 });
    assert_eq!(f.error.to_string(), "guest holds too many host resources (WASI pollables and streams): limit=1000");
}

#[test]
fn a_guest_asking_for_a_gigabyte_of_randomness_is_refused() {
    let f = attack("random_flood", Limits::default());
    let message = f.error.to_string();
    assert!(message.contains("requested len 1073741824 exceeds limit 1048576"), "{message}");
}
