//! A DAG's versions through the API, as `trace deploy --staged`, `trace
//! cutover`, `trace rollback` and `trace backfill` do them on the database:
//!
//! | call                                              | role      |
//! |---------------------------------------------------|-----------|
//! | `GET  /api/v1/dags`                               | viewer    |
//! | `POST /api/v1/dags?staged=true` (body: DAG YAML)  | developer |
//! | `POST /api/v1/dags/{dag}/cutover` `{"version":N}` | admin     |
//! | `POST /api/v1/dags/{dag}/rollback`                | admin     |
//! | `POST /api/v1/dags/{dag}/jobs/{job}/backfill`     | developer |
//!
//! A cutover or rollback changes what every reader of the org's datasets
//! sees, so it is an admin's; staging and backfilling only add work.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use trace_core::backfill::BackfillPlan;
use trace_store::{now_millis, History, Lifecycle, Role, Store};

use crate::error::ApiError;
use crate::public_state::{caller, PublicState};
use crate::public_wire::{BackfillRequest, BackfillResponse, CutoverRequest, DagVersionSummary, SwitchResponse};

#[utoipa::path(get, path = "/api/v1/dags", tag = "dags", summary = "Every version of every DAG of the org", responses((status = 200, description = "done", body = Vec<DagVersionSummary>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn versions(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Json<Vec<DagVersionSummary>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    Ok(Json(s.db.dag_versions(who.org).await?.into_iter().map(Into::into).collect()))
}

/// The DAG exists in the caller's org (another org's answers like a missing one).
async fn own_dag(s: &PublicState, org: i64, dag: &str) -> Result<(), ApiError> {
    let known = s.db.dag_versions(org).await?.iter().any(|v| v.dag == dag);
    if known {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("DAG {dag:?} does not exist")))
    }
}

#[utoipa::path(post, path = "/api/v1/dags/{dag}/cutover", tag = "dags", summary = "Make a staged version active; admin", params(("dag" = String, Path, description = "the DAG")), request_body = CutoverRequest, responses((status = 200, description = "done", body = SwitchResponse), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn cutover(
    State(s): State<Arc<PublicState>>,
    headers: HeaderMap,
    Path(dag): Path<String>,
    Json(body): Json<CutoverRequest>,
) -> Result<Json<SwitchResponse>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    own_dag(&s, who.org, &dag).await?;
    let r = s.db.cutover(who.org, &dag, body.version, &who.actor(), now_millis()).await?;
    Ok(Json(r.into()))
}

#[utoipa::path(post, path = "/api/v1/dags/{dag}/rollback", tag = "dags", summary = "Make the previously active version active again; admin", params(("dag" = String, Path, description = "the DAG")), responses((status = 200, description = "done", body = SwitchResponse), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn rollback(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(dag): Path<String>) -> Result<Json<SwitchResponse>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    own_dag(&s, who.org, &dag).await?;
    let r = s.db.rollback(who.org, &dag, &who.actor(), now_millis()).await?;
    Ok(Json(r.into()))
}

/// Trigger every chunk not yet triggered and return; progress is the tasks'.
#[utoipa::path(post, path = "/api/v1/dags/{dag}/jobs/{job}/backfill", tag = "dags", summary = "Trigger a source over a range in chunks (resumable); developer", params(("dag" = String, Path, description = "the DAG"), ("job" = String, Path, description = "the job")), request_body = BackfillRequest, responses((status = 200, description = "done", body = BackfillResponse), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn backfill(
    State(s): State<Arc<PublicState>>,
    headers: HeaderMap,
    Path((dag, job)): Path<(String, String)>,
    Json(body): Json<BackfillRequest>,
) -> Result<Json<BackfillResponse>, ApiError> {
    let who = caller(&s, &headers, Role::Developer).await?;
    let plan = BackfillPlan::new((body.start, body.end), body.chunk, body.label.as_deref(), body.version).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let job_id = match body.version {
        None => s.db.active_job(who.org, &dag, &job).await?,
        Some(v) => s.db.version_job(who.org, &dag, v, &job).await?,
    };
    let job_id = job_id.ok_or_else(|| ApiError::NotFound(format!("no job {job:?} in DAG {dag:?}")))?;
    crate::quota_routes::refuse_over_hourly(&s, who.org).await?;
    let triggered = s.db.trigger_many(job_id, &plan.runs, &who.actor(), now_millis()).await?;
    let new = triggered.iter().filter(|i| !i.duplicate).count();
    Ok(Json(BackfillResponse {
        label: plan.label,
        chunks: plan.runs.len(),
        new,
        already_triggered: plan.runs.len() - new,
        tasks: triggered.iter().flat_map(|i| i.tasks.iter().copied()).collect(),
    }))
}
