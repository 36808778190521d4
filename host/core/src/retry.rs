//! What every client that retries shares: reading a server's `Retry-After`
//! and spreading waits so that callers that failed together do not return
//! together. The RPC client and the Delivery Service both use it.

use std::time::{Duration, SystemTime};

/// A `Retry-After` header's delay: seconds, or an HTTP date relative to
/// `now` (a past date is no wait). Unbounded: callers cap it.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// `base` moved at random by up to `percent` percent either way.
pub fn jittered(base: Duration, percent: u32) -> Duration {
    let spread = base.as_secs_f64() * f64::from(percent) / 100.0;
    Duration::from_secs_f64((base.as_secs_f64() + spread * (2.0 * unit_random() - 1.0)).max(0.0))
}

/// A number in [0, 1).
fn unit_random() -> f64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS random source is available");
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(&httpdate::fmt_http_date(now - Duration::from_secs(7)), now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn jitter_stays_within_its_percent() {
        for _ in 0..500 {
            let d = jittered(Duration::from_secs(100), 20).as_secs_f64();
            assert!((80.0..=120.0).contains(&d), "{d}");
        }
        assert_eq!(jittered(Duration::ZERO, 20), Duration::ZERO);
    }
}
