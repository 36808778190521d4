//! When to try a request again: exponential backoff with jitter, and the
//! endpoint's own `Retry-After` when it sends one (seconds or an HTTP date).

use std::time::{Duration, SystemTime};

/// The first retry's delay; it doubles each time, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The delay before try `tries + 1`, ±20% so that slots do not retry in step.
pub fn backoff(tries: u32) -> Duration {
    let base = FIRST_BACKOFF.saturating_mul(1u32 << tries.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let factor = 0.8 + 0.4 * (f64::from(byte[0]) / 255.0);
    base.mul_f64(factor)
}

/// A `Retry-After` header's delay from `now`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
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

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after("2", now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&httpdate::fmt_http_date(now - Duration::from_secs(7)), now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
    }
}
