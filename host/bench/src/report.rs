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

/// One line of a benchmark's output.
pub fn line(what: &str, value: &str) {
    println!("  {what:<46} {value}");
}
