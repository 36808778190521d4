//! Per-slot request pacing: at most `requests_per_second` requests start
//! per second, evenly spaced (a burst would be refused by most providers).
//! A worker keeps one per (job, slot) in [`SlotPacers`], so the spacing
//! holds across the slot's consecutive tasks in that process too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Most (job, slot) pacers a process keeps before starting afresh.
pub const MAX_PACERS: usize = 10_000;

/// The pacers of a process's slots, by a key the caller chooses.
#[derive(Debug, Default)]
pub struct SlotPacers(std::sync::Mutex<HashMap<String, Arc<Pacing>>>);

impl SlotPacers {
    /// The pacer for `key`, made at `requests_per_second` the first time.
    pub fn get(&self, key: &str, requests_per_second: Option<u32>) -> Arc<Pacing> {
        let mut map = self.0.lock().expect("pacers poisoned");
        if map.len() >= MAX_PACERS && !map.contains_key(key) {
            map.clear();
        }
        map.entry(key.to_owned()).or_insert_with(|| Arc::new(Pacing::new(requests_per_second))).clone()
    }
}

#[derive(Debug)]
pub struct Pacing {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl Pacing {
    pub fn new(requests_per_second: Option<u32>) -> Self {
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
