//! The caller's org's quota: `GET /api/v1/quota` (viewer) shows its limits
//! and where it stands; calls that would start work past the hourly limit
//! are refused with 429 naming it (the tasks already queued wait).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use trace_store::{now_millis, OrgId, Quotas, Role, HOUR_MS};

use crate::error::ApiError;
use crate::public_state::{caller, PublicState};
use crate::public_wire::QuotaView;

#[utoipa::path(get, path = "/api/v1/quota", tag = "usage", summary = "The org's quota and where it stands", responses((status = 200, description = "done", body = QuotaView), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn quota(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Json<QuotaView>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let quota = s.db.quota(who.org).await?.unwrap_or_default();
    let usage = s.db.quota_usage(who.org, now_millis()).await?;
    Ok(Json(QuotaView {
        max_running: quota.max_running,
        max_tasks_per_hour: quota.max_tasks_per_hour,
        max_stored_bytes: quota.max_stored_bytes,
        max_queries: quota.max_queries,
        fuel_per_task: quota.fuel_per_task,
        running: usage.running,
        started_this_hour: usage.started_this_hour,
        stored_bytes: usage.stored_bytes,
    }))
}

/// 429 if `org` has started as many task attempts this hour as its quota
/// allows: a new run would only wait for the next hour.
pub(crate) async fn refuse_over_hourly(s: &PublicState, org: OrgId) -> Result<(), ApiError> {
    let Some(limit) = s.db.quota(org).await?.and_then(|q| q.max_tasks_per_hour) else { return Ok(()) };
    let now = now_millis();
    let started = s.db.quota_usage(org, now).await?.started_this_hour;
    if started >= 0 && started as u64 >= limit {
        let wait = (trace_store::hour_of(now) + HOUR_MS - now + 999) / 1000;
        return Err(ApiError::TooManyRequests(format!(
            "this org's quota max_tasks_per_hour={limit} is reached: {started} task attempts started this hour; new runs are refused for {wait} s, until the hour ends"
        )));
    }
    Ok(())
}
