//! A dataset's versions through the API: list them (`GET
//! /api/v1/datasets/{name}/versions`, viewer, if `read_roles` allow) and purge
//! one no active DAG version uses (`DELETE
//! /api/v1/datasets/{name}/versions/{uuid}`, admin), as `trace dataset purge`
//! does: the registry first, then the files.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use trace_store::{now_millis, History, Lifecycle, Principal, Registry, Role};

use crate::error::ApiError;
use crate::public_state::{caller, PublicState};
use crate::public_wire::{DatasetVersionSummary, PurgeResponse};

/// `name` is a dataset of the caller's org they may read; anything else is
/// `not_found`, whether it exists or not.
pub(crate) async fn readable(s: &PublicState, who: &Principal, name: &str) -> Result<(), ApiError> {
    let readable = s.db.datasets(who.org).await?.into_iter().any(|d| d.name == name && d.readable_by(who));
    if readable {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("dataset {name:?} does not exist")))
    }
}

#[utoipa::path(get, path = "/api/v1/datasets/{name}/versions", tag = "datasets", summary = "A dataset's versions, newest first", params(("name" = String, Path, description = "the name")), responses((status = 200, description = "done", body = Vec<DatasetVersionSummary>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn versions(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(name): Path<String>) -> Result<Json<Vec<DatasetVersionSummary>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    readable(&s, &who, &name).await?;
    Ok(Json(s.db.dataset_versions(who.org, &name).await?.into_iter().map(Into::into).collect()))
}

#[utoipa::path(delete, path = "/api/v1/datasets/{name}/versions/{version}", tag = "datasets", summary = "Purge a version no active DAG version uses; admin", params(("name" = String, Path, description = "the name"), ("version" = String, Path, description = "the version's UUID")), responses((status = 200, description = "done", body = PurgeResponse), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn purge(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path((name, version)): Path<(String, String)>) -> Result<Json<PurgeResponse>, ApiError> {
    let who = caller(&s, &headers, Role::Admin).await?;
    let storage = s.storage.as_ref().ok_or_else(|| ApiError::Unavailable("this server was started without --storage, so it cannot delete dataset files".to_owned()))?;
    readable(&s, &who, &name).await?;
    let purged = s.db.purge_version(who.org, &name, &version, &who.actor(), now_millis()).await?;
    let prefix = trace_storage::paths::version_prefix(who.org, &purged.dataset_uuid, &purged.version_uuid).map_err(|e| ApiError::Failed(e.to_string()))?;
    let deleted = storage.delete_prefix(&prefix).await.map_err(|e| ApiError::Failed(format!("deleting the files under {prefix}: {e}")))?;
    Ok(Json(PurgeResponse { partitions: purged.object_keys.len(), files_deleted: deleted }))
}
