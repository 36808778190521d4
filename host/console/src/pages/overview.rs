//! `/console`: what needs a look: tasks by state, failed work with its
//! errors, work waiting longer than it should, deliveries that failed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;
use maud::html;
use trace_api::PublicState;
use trace_store::{now_millis, Deliveries, Role, Store, TaskStatus};

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
    let body = html! {
        div.cards {
            @for st in [TaskStatus::Pending, TaskStatus::Running, TaskStatus::Completed, TaskStatus::Failed, TaskStatus::Canceled] {
                a.card href={ "/console/tasks?state=" (st.as_str()) } id={ "count-" (st.as_str()) } {
                    div.n { (count(st)) }
                    div.l { (st.as_str()) }
                }
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
