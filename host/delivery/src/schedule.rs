//! When a delivery is tried again: a published schedule (Svix's: at once,
//! then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h), each wait spread
//! by up to ±20% so that deliveries failed together do not return together,
//! and never sooner than a receiver's `Retry-After` asked (within a bound).

use std::time::{Duration, SystemTime};

/// The longest `Retry-After` honoured; a longer one waits this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The wait before each attempt after the first; its length is the
    /// number of retries.
    pub waits: Vec<Duration>,
    /// Spread of each wait, in percent either way.
    pub jitter_percent: u32,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        let s = Duration::from_secs;
        RetrySchedule { waits: vec![s(5), s(300), s(1800), s(7200), s(18000), s(36000), s(36000)], jitter_percent: 20 }
    }
}

impl RetrySchedule {
    /// Attempts in all: the first and every retry.
    pub fn attempts(&self) -> u32 {
        self.waits.len() as u32 + 1
    }

    /// The wait after failed attempt `attempt` (1 for the first), or `None`
    /// when that was the last. `retry_after`, a receiver's request, is a
    /// floor.
    pub fn next(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let base = *self.waits.get(attempt.checked_sub(1)? as usize)?;
        let jittered = trace_core::retry::jittered(base, self.jitter_percent);
        Some(jittered.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER)))
    }
}

/// A `Retry-After` header: seconds, or an HTTP date (relative to `now`),
/// at most [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    trace_core::retry::parse_retry_after(value, now).map(|d| d.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_the_schedule_within_the_jitter_and_honour_retry_after() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 8);
        for _ in 0..200 {
            let wait = schedule.next(2, None).unwrap().as_secs_f64();
            assert!((240.0..=360.0).contains(&wait), "{wait}");
        }
        assert_eq!(schedule.next(8, None), None, "the eighth attempt was the last");
        assert_eq!(schedule.next(0, None), None);
        let asked = schedule.next(1, Some(Duration::from_secs(60))).unwrap();
        assert!(asked >= Duration::from_secs(60), "{asked:?}");
        let bounded = schedule.next(1, Some(Duration::from_secs(10 * 24 * 3600))).unwrap();
        assert_eq!(bounded, MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("99999999", now), Some(MAX_RETRY_AFTER));
    }
}
