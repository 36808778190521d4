//! Timing helpers and the printed form of a comparison.

use std::time::{Duration, Instant};

/// Best of `rounds` timings of `f` (the least disturbed by the machine).
pub fn best_of<T>(rounds: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        let out = f();
        best = best.min(started.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one round"))
}

/// Like [`best_of`], but `setup` runs untimed before each round and its
/// result is handed to `f` (so input preparation is not measured).
pub fn best_of_with<S, T>(rounds: usize, mut setup: impl FnMut() -> S, mut f: impl FnMut(S) -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let input = setup();
        let started = Instant::now();
        let out = f(input);
        best = best.min(started.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one round"))
}

/// One line of a benchmark's output.
pub fn line(what: &str, value: &str) {
    println!("  {what:<46} {value}");
}
