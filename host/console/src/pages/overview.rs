//! `/console`: what needs a look: tasks by state, failed work with its
//! errors, work waiting longer than it should, deliveries that failed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;
use maud::html;
use trace_api::PublicState;
use trace_store::{now_millis, Deliveries, Quotas, Role, Store, TaskStatus};

use crate::error::ConsoleError;
use crate::layout::shell;
use crate::session::signed_in;

/// A pending task available this long ago and not yet claimed is stuck
/// (no worker serves its pool, or the fleet is saturated).
pub const STUCK_AFTER_MS: i64 = 5 * 60 * 1000;
/// Tasks the stuck check scans (the newest).
const SCAN: u32 = 1_000;

pub async fn page(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    let counts = s.db.status_counts(who.org).await?;
    let count = |st: TaskStatus| counts.iter().find(|(c, _)| *c == st).map_or(0, |(_, n)| *n);
    let failed = s.db.failed_tasks(who.org, 20).await?;
    let now = now_millis();
    let stuck: Vec<_> = s
        .db
        .tasks_of_org(who.org, SCAN)
        .await?
        .into_iter()
        .filter(|t| (t.status == TaskStatus::Pending && t.available_at < now - STUCK_AFTER_MS) || (t.status == TaskStatus::Running && t.cancel_requested))
        .take(20)
        .collect();
    let failed_deliveries = s.db.deliveries(who.org, Some("failed"), 10).await?;
    let quota = s.db.quota(who.org).await?;
    let usage = s.db.quota_usage(who.org, now).await?;
    let of = |used: String, limit: Option<u64>, f: &dyn Fn(u64) -> String| match limit {
        Some(l) => format!("{used} of {}", f(l)),
        None => used,
    };
    let body = html! {
        div.cards {
            @for st in [TaskStatus::Pending, TaskStatus::Running, TaskStatus::Completed, TaskStatus::Failed, TaskStatus::Canceled] {
                a.card href={ "/console/tasks?state=" (st.as_str()) } id={ "count-" (st.as_str()) } {
                    div.n { (count(st)) }
                    div.l { (st.as_str()) }
                }
            }
        }
        @if let Some(q) = quota {
            p.hint #quota {
                "Quota: running " (of(usage.running.to_string(), q.max_running, &|v| v.to_string()))
                " · started this hour " (of(usage.started_this_hour.to_string(), q.max_tasks_per_hour, &|v| v.to_string()))
                " · stored " (of(crate::format::bytes(usage.stored_bytes), q.max_stored_bytes, &|v| crate::format::bytes(v as i64)))
                @if let Some(n) = q.max_queries { " · queries at once " (n) }
                @if let Some(n) = q.fuel_per_task { " · fuel per task " (n) }
                ". Work past a limit waits."
            }
        }
        h2 { "Failed tasks" }
        div #failed { (super::task_table(&failed)) }
        h2 { "Stuck: pending over " (STUCK_AFTER_MS / 60_000) " min, or asked to stop and still running" }
        div #stuck { (super::task_table(&stuck)) }
        h2 { "Failed deliveries" }
        table #failed-deliveries {
            thead { tr { th { "delivery" } th { "destination" } th { "alert" } th { "reason" } } }
            tbody {
                @for d in &failed_deliveries {
                    tr { td { (d.id) } td { (d.destination) } td { (d.alert_key) } td.error { (d.reason.as_deref().unwrap_or("")) } }
                }
                @if failed_deliveries.is_empty() { tr { td colspan="4" .muted { "none" } } }
            }
        }
    };
    Ok(shell("Overview", Some(&who), body))
}
