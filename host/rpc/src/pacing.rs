//! Per-slot request pacing: at most `requests_per_second` requests start
//! per second, evenly spaced (a burst would be refused by most providers).

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

#[derive(Debug)]
pub(crate) struct Pacing {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl Pacing {
    pub(crate) fn new(requests_per_second: Option<u32>) -> Self {
        let interval = requests_per_second.filter(|r| *r > 0).map(|r| Duration::from_secs(1) / r);
        Self { interval, next: Mutex::new(Instant::now()) }
    }

    /// When the next request may start (reserved for the caller), if that
    /// is before `deadline`.
    pub(crate) async fn reserve(&self, deadline: Instant) -> Option<Instant> {
        let Some(interval) = self.interval else { return Some(Instant::now()).filter(|now| *now < deadline) };
        let mut next = self.next.lock().await;
        let at = (*next).max(Instant::now());
        if at >= deadline {
            return None;
        }
        *next = at + interval;
        Some(at)
    }
}
