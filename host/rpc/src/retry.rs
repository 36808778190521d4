//! When to try a request again: exponential backoff with jitter (the
//! endpoint's own `Retry-After`, read by `trace_core::retry`, is a floor).

use std::time::Duration;

/// The first retry's delay; it doubles each time, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The delay before try `tries + 1`, ±20% so that slots do not retry in step.
pub fn backoff(tries: u32) -> Duration {
    let base = FIRST_BACKOFF.saturating_mul(1u32 << tries.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    trace_core::retry::jittered(base, 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        for tries in 1..30 {
            let d = backoff(tries);
            let base = FIRST_BACKOFF.saturating_mul(1 << (tries - 1).min(16)).min(MAX_BACKOFF);
            assert!(d >= base.mul_f64(0.79) && d <= base.mul_f64(1.21), "{tries}: {d:?}");
        }
    }
}
