//! `/api/v1/*`: the public API, for users and their tools. Every call
//! carries `Authorization: Bearer <API token>`; the token's user acts within
//! their own org only, with their role's rights:
//!
//! | call                                          | role      |
//! |-----------------------------------------------|-----------|
//! | `GET  /api/v1/openapi.json` (this table as OpenAPI 3.1) | anyone |
//! | `GET  /api/v1/whoami`                         | viewer    |
//! | `POST /api/v1/dags[?staged=true]` (body: DAG YAML) | developer |
//! | `GET  /api/v1/dags`, `POST /api/v1/dags/{dag}/cutover\|rollback`, `POST /api/v1/dags/{dag}/jobs/{job}/backfill` | see `dag_routes` |
//! | `POST /api/v1/dags/{dag}/jobs/{job}/trigger`  | developer |
//! | `GET  /api/v1/tasks?limit=N`                  | viewer    |
//! | `GET  /api/v1/tasks/{id}`                     | viewer    |
//! | `POST /api/v1/tasks/{id}/cancel`              | developer |
//! | `GET  /api/v1/usage?since=&until=&by=hour\|day` | viewer (the caller's org) |
//! | `GET  /api/v1/quota`                          | viewer (the caller's org) |
//! | `GET  /api/v1/datasets`                       | viewer (filtered by `read_roles`) |
//! | `GET  /api/v1/datasets/{name}/partitions`     | viewer (if `read_roles` allow) |
//! | `GET  /api/v1/datasets/{name}/versions`, `DELETE /api/v1/datasets/{name}/versions/{uuid}` | see `dataset_routes` |
//! | `PUT  /api/v1/datasets/{name}/read_roles`     | admin     |
//! | `POST /api/v1/users`                          | admin     |
//! | `POST /api/v1/users/{name}/tokens`            | admin     |
//! | `POST /api/v1/query`, `/api/v1/queries`, `GET /api/v1/queries/{id}[/result]`, `GET /api/v1/tables` | viewer (see `query_routes`) |
//! | `/api/v1/destinations[/{name}]`, `/api/v1/deliveries[/{id}[/retry]]` | see `alert_routes` |
//! | `/api/v1/secrets[/{name}]` | see `secret_routes` |
//!
//! Another org's task is `not_found`, never `forbidden`: ids do not leak
//! across tenants.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use trace_store::{now_millis, Lifecycle, Principal, Registry, Role, Store, TaskView, UsageRecords};

use crate::error::ApiError;
pub use crate::public_state::PublicState;
use crate::public_state::caller;
use crate::public_wire::*;
use trace_protocol::wire::WirePartitionView;

/// Largest request body (a DAG file).
pub const MAX_PUBLIC_BODY_BYTES: usize = 1 << 20;
/// Most tasks one list returns.
pub const MAX_LIST: u32 = 1_000;
/// Longest user name and token label.
pub const MAX_NAME_CHARS: usize = 64;

/// The `/api/v1/*` routes.
pub fn public_router(state: Arc<PublicState>) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(crate::openapi::serve))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/dags", get(crate::dag_routes::versions).post(deploy))
        .route("/api/v1/dags/{dag}/cutover", post(crate::dag_routes::cutover))
        .route("/api/v1/dags/{dag}/rollback", post(crate::dag_routes::rollback))
        .route("/api/v1/dags/{dag}/jobs/{job}/backfill", post(crate::dag_routes::backfill))
        .route("/api/v1/dags/{dag}/jobs/{job}/trigger", post(trigger))
        .route("/api/v1/tasks", get(tasks))
        .route("/api/v1/tasks/{id}", get(task))
        .route("/api/v1/tasks/{id}/cancel", post(cancel))
        .route("/api/v1/usage", get(usage))
        .route("/api/v1/quota", get(crate::quota_routes::quota))
        .route("/api/v1/datasets", get(datasets))
        .route("/api/v1/datasets/{name}/partitions", get(partitions))
        .route("/api/v1/datasets/{name}/versions", get(crate::dataset_routes::versions))
        .route("/api/v1/datasets/{name}/versions/{version}", axum::routing::delete(crate::dataset_routes::purge))
        .route("/api/v1/datasets/{name}/read_roles", put(read_roles))
        .route("/api/v1/users", post(create_user))
        .route("/api/v1/users/{name}/tokens", post(create_token))
        .route("/api/v1/query", post(crate::query_routes::query))
        .route("/api/v1/queries", post(crate::query_routes::submit))
        .route("/api/v1/queries/{id}", get(crate::query_routes::batch))
        .route("/api/v1/queries/{id}/result", get(crate::query_routes::batch_result))
        .route("/api/v1/tables", get(crate::query_routes::tables))
        .route("/api/v1/secrets", get(crate::secret_routes::list))
        .route("/api/v1/secrets/{name}", put(crate::secret_routes::set).delete(crate::secret_routes::delete))
        .route("/api/v1/destinations", get(crate::alert_routes::destinations))
        .route("/api/v1/destinations/{name}", put(crate::alert_routes::set_destination).delete(crate::alert_routes::delete_destination))
        .route("/api/v1/deliveries", get(crate::alert_routes::deliveries))
        .route("/api/v1/deliveries/{id}", get(crate::alert_routes::delivery))
        .route("/api/v1/deliveries/{id}/retry", post(crate::alert_routes::retry_delivery))
        .fallback(crate::problem::no_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PUBLIC_BODY_BYTES))
        .route_layer(axum::middleware::from_fn(crate::http_traces::traced))
        .route_layer(axum::middleware::from_fn(crate::http_metrics::count))
        .layer(axum::middleware::from_fn(crate::problem::uniform))
        .with_state(state)
}

#[utoipa::path(get, path = "/api/v1/whoami", tag = "identity", summary = "Who the token is: user, org, role", responses((status = 200, description = "done", body = WhoAmI), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn whoami(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Json<WhoAmI>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    Ok(Json(WhoAmI { user: who.name, org_id: who.org, role: who.role.as_str().to_owned() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployQuery {
    /// Stage the version: it becomes active only at a cutover.
    #[serde(default)]
    staged: bool,
}

#[utoipa::path(post, path = "/api/v1/dags", tag = "dags", summary = "Deploy a DAG (or stage it with staged=true); developer", params(("staged" = Option<bool>, Query, description = "stage the version: active only at a cutover")), request_body(content = String, content_type = "application/yaml", description = "the DAG file"), responses((status = 200, description = "done", body = DeployResponse), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn deploy(State(s): State<Arc<PublicState>>, headers: HeaderMap, Query(q): Query<DeployQuery>, body: String) -> Result<Json<DeployResponse>, ApiError> {
    let who = caller(&s, &headers, Role::Developer).await?;
    let dag = trace_dag::parse("request body", &body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    check_shared_reads(&s, &who, &dag).await?;
    if !q.staged {
        let d = s.db.deploy(who.org, &dag, &body, &who.actor(), now_millis()).await?;
        return Ok(Json(DeployResponse { dag: dag.name, version: d.version, jobs: d.jobs.into_iter().map(|(name, _)| name).collect(), staged: false, rematerializing: 0 }));
    }
    let d = s.db.stage(who.org, &dag, &body, &who.actor(), now_millis()).await?;
    // As `trace deploy --staged`: with a version active, the edited jobs
    // re-run what they completed, as the staged version's tasks.
    let rematerializing = match s.db.active_job(who.org, &dag.name, &dag.jobs[0].name).await? {
        Some(_) => s.db.rematerialize(who.org, &dag.name, d.version, &who.actor(), now_millis()).await?,
        None => 0,
    };
    Ok(Json(DeployResponse { dag: dag.name, version: d.version, jobs: d.jobs.into_iter().map(|(name, _)| name).collect(), staged: true, rematerializing }))
}

/// `read_roles` gate DAG-to-DAG reads too: a deployer may wire a job to
/// another DAG's dataset only if they may read it. (A dataset the DAG
/// itself publishes is its own.)
async fn check_shared_reads(s: &PublicState, who: &Principal, dag: &trace_dag::Dag) -> Result<(), ApiError> {
    let reads: Vec<&str> = dag
        .jobs
        .iter()
        .flat_map(|j| &j.inputs)
        .filter_map(|i| match &i.from {
            trace_dag::InputSource::Dataset { dataset } => Some(dataset.as_str()),
            trace_dag::InputSource::Job { .. } => None,
        })
        .filter(|name| !dag.publish.iter().any(|p| p.dataset == *name))
        .collect();
    if reads.is_empty() {
        return Ok(());
    }
    let datasets = s.db.datasets(who.org).await?;
    for name in reads {
        if !datasets.iter().any(|d| d.name == name && d.readable_by(who)) {
            return Err(ApiError::NotFound(format!("dataset {name:?} does not exist or may not be read by {}", who.name)));
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/dags/{dag}/jobs/{job}/trigger", tag = "dags", summary = "Trigger a source run; developer", params(("dag" = String, Path, description = "the DAG"), ("job" = String, Path, description = "the job")), request_body = TriggerRequest, responses((status = 200, description = "done", body = TriggerResponse), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn trigger(
    State(s): State<Arc<PublicState>>,
    headers: HeaderMap,
    Path((dag, job)): Path<(String, String)>,
    Json(body): Json<TriggerRequest>,
) -> Result<Json<TriggerResponse>, ApiError> {
    let who = caller(&s, &headers, Role::Developer).await?;
    let range = match (body.start, body.end) {
        (Some(start), Some(end)) if start < end => Some((start, end)),
        (None, None) => None,
        (start, end) => return Err(ApiError::BadRequest(format!("a range needs start < end, got start={start:?} end={end:?}"))),
    };
    if body.run_id.is_empty() || body.run_id.len() > 128 {
        return Err(ApiError::BadRequest(format!("run_id must have 1 to 128 characters, got {}", body.run_id.len())));
    }
    let job_id = s.db.active_job(who.org, &dag, &job).await?.ok_or_else(|| ApiError::NotFound(format!("no job {job:?} in DAG {dag:?}")))?;
    crate::quota_routes::refuse_over_hourly(&s, who.org).await?;
    let r = s.db.trigger(job_id, &body.run_id, range, &who.actor(), now_millis()).await?;
    Ok(Json(TriggerResponse { duplicate: r.duplicate, tasks: r.tasks }))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", summary = "The org's newest tasks", params(("limit" = Option<u32>, Query, description = "1 to 1000, default 50")), responses((status = 200, description = "done", body = Vec<TaskSummary>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn tasks(State(s): State<Arc<PublicState>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Result<Json<Vec<TaskSummary>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_LIST {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIST}, got {limit}")));
    }
    Ok(Json(s.db.tasks_of_org(who.org, limit).await?.into_iter().map(Into::into).collect()))
}

/// The task, if it belongs to the caller's org.
async fn own_task(s: &PublicState, who: &Principal, id: i64) -> Result<TaskView, ApiError> {
    let not_found = || ApiError::NotFound(format!("task {id} does not exist"));
    match s.db.task(id).await {
        Ok(t) if t.org == who.org => Ok(t),
        Ok(_) | Err(trace_store::StoreError::NoSuchTask(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", summary = "A task with its attempts and their usage", params(("id" = i64, Path, description = "the id")), responses((status = 200, description = "done", body = TaskDetail), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn task(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(id): Path<i64>) -> Result<Json<TaskDetail>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let t = own_task(&s, &who, id).await?;
    let used = s.db.task_usage(id).await?;
    let attempts = s
        .db
        .attempts(id)
        .await?
        .into_iter()
        .map(|a| {
            let usage = used.iter().find(|(n, _)| *n == a.attempt).map(|(_, u)| *u);
            AttemptSummary { usage, ..a.into() }
        })
        .collect();
    Ok(Json(TaskDetail { task: t.into(), attempts }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    /// From (ms since the epoch); default a day ago.
    since: Option<i64>,
    /// Until (exclusive); default now.
    until: Option<i64>,
    /// `hour` (default) or `day`.
    by: Option<String>,
}

/// The caller's org's usage per hour or day, DAG and job.
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", summary = "The org's usage per hour or day, DAG and job", params(("since" = Option<i64>, Query, description = "ms since the epoch; default a day before until"), ("until" = Option<i64>, Query, description = "exclusive; default now"), ("by" = Option<String>, Query, description = "hour (default) or day")), responses((status = 200, description = "done", body = Vec<UsageRow>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn usage(State(s): State<Arc<PublicState>>, headers: HeaderMap, Query(q): Query<UsageQuery>) -> Result<Json<Vec<UsageRow>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let bucket = match q.by.as_deref() {
        None | Some("hour") => 3_600_000,
        Some("day") => 86_400_000,
        Some(other) => return Err(ApiError::BadRequest(format!("by must be hour or day, got {other:?}"))),
    };
    let until = q.until.unwrap_or_else(|| now_millis() + 1);
    let since = q.since.unwrap_or(until - 86_400_000);
    if since >= until || until - since > 366 * 86_400_000 {
        return Err(ApiError::BadRequest(format!("since must be before until and at most 366 days before it, got since={since}, until={until}")));
    }
    let rows = s.db.usage_summary(who.org, since, until, bucket).await?;
    Ok(Json(rows.into_iter().map(|r| UsageRow { bucket: r.bucket, dag: r.dag, job: r.job, attempts: r.attempts, unsuccessful: r.unsuccessful, usage: r.usage }).collect()))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", summary = "Cancel a task; developer", params(("id" = i64, Path, description = "the id")), responses((status = 200, description = "done", body = CancelResponse), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn cancel(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(id): Path<i64>) -> Result<Json<CancelResponse>, ApiError> {
    let who = caller(&s, &headers, Role::Developer).await?;
    own_task(&s, &who, id).await?;
    let status = s.db.cancel(id, &who.actor(), now_millis()).await?;
    Ok(Json(CancelResponse { status: status.as_str().to_owned() }))
}

#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets", summary = "The datasets the caller may read", responses((status = 200, description = "done", body = Vec<DatasetSummary>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn datasets(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Json<Vec<DatasetSummary>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let all = s.db.datasets(who.org).await?;
    Ok(Json(all.into_iter().filter(|d| d.readable_by(&who)).map(Into::into).collect()))
}

/// The committed partitions of the dataset's current version. A dataset
/// the caller may not read is `not_found`, like one that does not exist.
#[utoipa::path(get, path = "/api/v1/datasets/{name}/partitions", tag = "datasets", summary = "The current version's committed partitions", params(("name" = String, Path, description = "the name")), responses((status = 200, description = "done", body = Vec<trace_protocol::wire::WirePartitionView>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn partitions(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(name): Path<String>) -> Result<Json<Vec<WirePartitionView>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let readable = s.db.datasets(who.org).await?.into_iter().any(|d| d.name == name && d.readable_by(&who));
    if !readable {
        return Err(ApiError::NotFound(format!("dataset {name:?} does not exist")));
    }
    Ok(Json(s.db.partitions(who.org, &name).await?.into_iter().map(|p| WirePartitionView::from(p).public()).collect()))
}

#[utoipa::path(put, path = "/api/v1/datasets/{name}/read_roles", tag = "datasets", summary = "Set who may read a dataset; admin", params(("name" = String, Path, description = "the name")), request_body = ReadRolesRequest, responses((status = 200, description = "done", body = DatasetSummary), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn read_roles(
    State(s): State<Arc<PublicState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<ReadRolesRequest>,
) -> Result<Json<DatasetSummary>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    s.db.set_read_roles(who.org, &name, &body.read_roles, &who.actor(), now_millis()).await?;
    let updated = s.db.datasets(who.org).await?.into_iter().find(|d| d.name == name);
    updated.map(|d| Json(d.into())).ok_or_else(|| ApiError::NotFound(format!("dataset {name:?} does not exist")))
}

fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!("{what} must be 1 to {MAX_NAME_CHARS} of A-Z a-z 0-9 _ . @ -, got {name:?}")))
    }
}

#[utoipa::path(post, path = "/api/v1/users", tag = "identity", summary = "Add a user to the org; admin", request_body = CreateUserRequest, responses((status = 200, description = "done", body = WhoAmI), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn create_user(State(s): State<Arc<PublicState>>, headers: HeaderMap, Json(body): Json<CreateUserRequest>) -> Result<Json<WhoAmI>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    check_name("a user name", &body.name)?;
    let role = Role::parse(&body.role).map_err(ApiError::BadRequest)?;
    s.db.create_user(who.org, &body.name, role, &who.actor(), now_millis()).await?;
    Ok(Json(WhoAmI { user: body.name, org_id: who.org, role: role.as_str().to_owned() }))
}

#[utoipa::path(post, path = "/api/v1/users/{name}/tokens", tag = "identity", summary = "Make a token for a user (shown once); admin", params(("name" = String, Path, description = "the name")), request_body = CreateTokenRequest, responses((status = 200, description = "done", body = TokenResponse), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
async fn create_token(
    State(s): State<Arc<PublicState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<CreateTokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    check_name("a token label", &body.label)?;
    let user = s.db.user(who.org, &name).await?.ok_or_else(|| ApiError::NotFound(format!("user {name:?} does not exist")))?;
    let token = s.db.create_token(user, &body.label, &who.actor(), now_millis()).await?;
    Ok(Json(TokenResponse { token }))
}
