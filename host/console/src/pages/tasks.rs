//! `/console/tasks`: the org's newest tasks filtered by state, job and
//! range; `/console/tasks/{id}`: one task with its attempts, error and what
//! each attempt used, and a cancel button for developers.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use trace_api::{PublicState, MAX_LIST};
use trace_store::{now_millis, Principal, Role, Store, TaskStatus, TaskView, UsageRecords};

use crate::error::ConsoleError;
use crate::format;
use crate::layout::{shell, status};
use crate::session::signed_in;

const STATES: [&str; 5] = ["pending", "running", "completed", "failed", "canceled"];

#[derive(Deserialize, Default)]
pub struct Filter {
    #[serde(default)]
    state: String,
    #[serde(default)]
    job: String,
    /// Tasks whose range reaches past this…
    from: Option<u64>,
    /// …and starts before this.
    to: Option<u64>,
}

impl Filter {
    fn keeps(&self, t: &TaskView) -> bool {
        let overlaps = match (t.event_range, self.from, self.to) {
            (_, None, None) => true,
            (None, _, _) => false,
            (Some((s, e)), from, to) => from.is_none_or(|f| e > f) && to.is_none_or(|u| s < u),
        };
        (self.state.is_empty() || t.status.as_str() == self.state) && (self.job.is_empty() || t.job_name == self.job) && overlaps
    }
}

pub async fn list(State(s): State<Arc<PublicState>>, headers: HeaderMap, Query(f): Query<Filter>) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    if !f.state.is_empty() && !STATES.contains(&f.state.as_str()) {
        return Err(ConsoleError::Refused(axum::http::StatusCode::BAD_REQUEST, format!("state must be one of {}, got {:?}", STATES.join(", "), f.state)));
    }
    let all = s.db.tasks_of_org(who.org, MAX_LIST).await?;
    let mut jobs: Vec<&str> = all.iter().map(|t| t.job_name.as_str()).collect();
    jobs.sort_unstable();
    jobs.dedup();
    let shown: Vec<TaskView> = all.iter().filter(|t| f.keeps(t)).cloned().collect();
    let body = html! {
        form.filters method="get" action="/console/tasks" {
            label { "state" select name="state" #filter-state {
                option value="" { "any" }
                @for st in STATES { option value=(st) selected[f.state == st] { (st) } }
            } }
            label { "job" select name="job" #filter-job {
                option value="" { "any" }
                @for j in &jobs { option value=(j) selected[f.job == *j] { (j) } }
            } }
            label { "range from" input type="number" name="from" min="0" value=[f.from]; }
            label { "to" input type="number" name="to" min="0" value=[f.to]; }
            button type="submit" #filter { "Filter" }
        }
        p.hint { (shown.len()) " of the org's newest " (all.len()) " task(s) (at most " (MAX_LIST) " are scanned)." }
        div #task-list { (super::task_table(&shown)) }
    };
    Ok(shell("Tasks", Some(&who), body))
}

/// The task, if it is the caller's org's; anything else reads as missing.
async fn own_task(s: &PublicState, who: &Principal, id: i64) -> Result<TaskView, ConsoleError> {
    match s.db.task(id).await {
        Ok(t) if t.org == who.org => Ok(t),
        Ok(_) | Err(trace_store::StoreError::NoSuchTask(_)) => Err(ConsoleError::NotFound(format!("task {id} does not exist"))),
        Err(e) => Err(e.into()),
    }
}

pub async fn detail(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(id): Path<i64>) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    let t = own_task(&s, &who, id).await?;
    let attempts = s.db.attempts(id).await?;
    let used = s.db.task_usage(id).await?;
    let open = matches!(t.status, TaskStatus::Pending | TaskStatus::Running);
    let body = html! {
        dl.facts {
            dt { "job" } dd #task-job { (t.job_name) }
            dt { "status" } dd #task-status { (status(t.state())) @if t.cancel_requested { " (asked to stop)" } }
            dt { "partition" } dd { (t.event_partition_key) }
            dt { "range" } dd { (format::range(t.event_range)) }
            dt { "attempts" } dd { (t.attempts) }
            @if t.invalidation { dt { "why" } dd { "re-runs an earlier task whose input was rewritten" } }
        }
        @if let Some(e) = &t.last_error {
            h2 { "Last error" }
            pre.problem #task-error { (e) }
        }
        @if open && who.role >= Role::Developer {
            form.inline method="post" action={ "/console/tasks/" (id) "/cancel" } { button.danger type="submit" #cancel { "Cancel task" } }
        }
        h2 { "Attempts" }
        table #attempts {
            thead { tr {
                th.num { "#" } th { "started" } th { "outcome" } th.num { "wall" } th.num { "cpu" } th.num { "peak memory" }
                th.num { "rows in" } th.num { "rows out" } th.num { "bytes out" } th.num { "fuel" } th.num { "log bytes" } th.num { "rpc" }
            } }
            tbody {
                @for a in &attempts {
                    @let u = used.iter().find(|(n, _)| *n == a.attempt).map(|(_, u)| u);
                    tr {
                        td.num { (a.attempt) }
                        td { (format::when(a.started_at)) }
                        td.state id={ "attempt-state-" (a.attempt) } { (a.state(now_millis())) }
                        @match u {
                            Some(u) => {
                                td.num { (format::millis(u.wall_ms)) } td.num { (format::millis(u.cpu_ms)) }
                                td.num { (format::bytes(u.peak_memory_bytes as i64)) }
                                td.num { (u.input_rows) } td.num { (u.output_rows) } td.num { (format::bytes(u.output_bytes as i64)) }
                                td.num { (u.fuel.map_or_else(|| "-".to_owned(), |f| f.to_string())) }
                                td.num { (u.log_bytes) } td.num { (u.rpc_requests) }
                            }
                            None => { td.muted colspan="9" { "not reported" } }
                        }
                    }
                }
            }
        }
        @for a in attempts.iter().filter(|a| a.log.is_some()) {
            h2 { "Log of attempt " (a.attempt) }
            pre.log id={ "log-" (a.attempt) } { (a.log.as_deref().unwrap_or_default()) }
        }
        @if attempts.iter().all(|a| a.log.is_none()) {
            p.hint { "No attempt logged anything." }
        }
    };
    Ok(shell(&format!("Task {id}"), Some(&who), body))
}

pub async fn cancel(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(id): Path<i64>) -> Result<Response, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Developer).await?;
    own_task(&s, &who, id).await?;
    s.db.cancel(id, &who.actor(), now_millis()).await?;
    Ok(Redirect::to(&format!("/console/tasks/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus, job: &str, range: Option<(u64, u64)>) -> TaskView {
        TaskView {
            id: 1, job: 1, job_name: job.into(), status, attempts: 0, cancel_requested: false, available_at: 0, last_error: None,
            event_partition_key: String::new(), event_range: range, invalidation: false, org: 1,
        }
    }

    #[test]
    fn the_filter_keeps_state_job_and_overlapping_ranges() {
        let f = Filter { state: "failed".into(), job: "src".into(), from: Some(10), to: Some(20) };
        assert!(f.keeps(&task(TaskStatus::Failed, "src", Some((15, 25)))));
        assert!(!f.keeps(&task(TaskStatus::Failed, "src", Some((20, 30)))), "starts at the end");
        assert!(!f.keeps(&task(TaskStatus::Failed, "src", Some((0, 10)))), "ends at the start");
        assert!(!f.keeps(&task(TaskStatus::Completed, "src", Some((15, 25)))));
        assert!(!f.keeps(&task(TaskStatus::Failed, "other", Some((15, 25)))));
        assert!(!f.keeps(&task(TaskStatus::Failed, "src", None)), "no range does not overlap one");
        assert!(Filter::default().keeps(&task(TaskStatus::Running, "x", None)));
    }
}
