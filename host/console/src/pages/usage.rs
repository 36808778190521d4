//! `/console/usage`: the org's attempts and CPU per day over the last 30
//! days, as a chart (inline SVG, drawn here) and per DAG and job.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;
use maud::{html, Markup};
use trace_api::PublicState;
use trace_store::{now_millis, Role, UsageRecords, UsageSummary};

use crate::error::ConsoleError;
use crate::format;
use crate::layout::shell;
use crate::session::signed_in;

const DAY_MS: i64 = 86_400_000;
pub const DAYS: i64 = 30;

pub async fn page(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    let now = now_millis();
    let since = (now / DAY_MS - (DAYS - 1)) * DAY_MS;
    let rows = s.db.usage_summary(who.org, since, now + 1, DAY_MS).await?;
    let body = html! {
        h2 { "Attempts per day (unsuccessful in red), last " (DAYS) " days" }
        (chart(&rows, since))
        h2 { "Per DAG and job" }
        table #usage {
            thead { tr { th { "day" } th { "DAG" } th { "job" } th.num { "attempts" } th.num { "unsuccessful" } th.num { "wall" } th.num { "cpu" } th.num { "peak memory" } th.num { "rows out" } th.num { "bytes out" } } }
            tbody {
                @for r in rows.iter().rev() {
                    tr {
                        td { (format::when(r.bucket).get(..16).unwrap_or("")) }
                        td { (r.dag) } td { (r.job) } td.num { (r.attempts) } td.num { (r.unsuccessful) }
                        td.num { (format::millis(r.usage.wall_ms)) } td.num { (format::millis(r.usage.cpu_ms)) }
                        td.num { (format::bytes(r.usage.peak_memory_bytes as i64)) } td.num { (r.usage.output_rows) }
                        td.num { (format::bytes(r.usage.output_bytes as i64)) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="10" .muted { "no attempt finished in this window" } } }
            }
        }
    };
    Ok(shell("Usage", Some(&who), body))
}

/// Bars per day: all attempts, with the unsuccessful ones drawn over them.
fn chart(rows: &[UsageSummary], since: i64) -> Markup {
    let mut days: BTreeMap<i64, (i64, i64)> = (0..DAYS).map(|d| (since + d * DAY_MS, (0, 0))).collect();
    for r in rows {
        let e = days.entry(r.bucket).or_default();
        e.0 += r.attempts;
        e.1 += r.unsuccessful;
    }
    let top = days.values().map(|d| d.0).max().unwrap_or(0).max(1);
    let (w, h, pad) = (900.0_f64, 180.0_f64, 24.0_f64);
    let bar = (w - 2.0 * pad) / DAYS as f64;
    let height = |n: i64| (h - 2.0 * pad) * n as f64 / top as f64;
    html! {
        svg.chart #usage-chart xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } role="img" {
            title { "attempts per day" }
            text x=(pad) y="14" { "max " (top) " attempts/day" }
            @for (i, (day, (all, bad))) in days.iter().enumerate() {
                @let x = pad + i as f64 * bar;
                rect.bar x=(x + 1.0) y=(h - pad - height(*all)) width=(bar - 2.0) height=(height(*all)) { title { (format::when(*day).get(..16).unwrap_or("")) ": " (all) " attempts" } }
                @if *bad > 0 { rect.bad x=(x + 1.0) y=(h - pad - height(*bad)) width=(bar - 2.0) height=(height(*bad)); }
            }
            text x=(pad) y=(h - 6.0) { (format::when(since).get(..16).unwrap_or("")) }
            text x=(w - pad) y=(h - 6.0) text-anchor="end" { "today" }
        }
    }
}
