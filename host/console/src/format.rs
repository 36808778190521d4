//! How values read on a page.

use std::time::{Duration, UNIX_EPOCH};

/// `Mon, 07 Dec 2026 06:39:05 GMT`.
pub fn when(ms: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

pub fn bytes(n: i64) -> String {
    trace_core::units::human_bytes(n.max(0) as u64)
}

pub fn millis(ms: u64) -> String {
    if ms < 10_000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1000.0) }
}

pub fn range(r: Option<(u64, u64)>) -> String {
    r.map_or_else(|| "-".to_owned(), |(s, e)| format!("{s}..{e}"))
}

pub use trace_core::error_chain as chain;
