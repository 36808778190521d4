//! `/api/v1/query`, `/api/v1/queries` and `/api/v1/tables`: the Query
//! Service over HTTP. Any role may query; what a caller can read is what
//! `read_roles` let them read, and every other dataset does not exist for
//! them. Batch results are their submitter's (and their org admins').
//!
//! | call                                  | answer |
//! |---------------------------------------|--------|
//! | `POST /api/v1/query` (QueryBody)      | rows: JSON by default; CSV, Arrow IPC stream or Parquet by `format` or `Accept` |
//! | `POST /api/v1/queries` (QueryBody)    | a batch query's record, `202 Accepted` |
//! | `GET  /api/v1/queries/{id}`           | its record: status, rows, bytes, error |
//! | `GET  /api/v1/queries/{id}/result`    | its Parquet result |
//! | `GET  /api/v1/tables`                 | the datasets the caller can query, with columns and version |

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trace_query::{render, Caller, Format, QueryResult, QueryService};
use trace_store::{Principal, Role};

use crate::error::ApiError;
use crate::public_state::{caller, PublicState};
use crate::public_wire::{BatchQuery, ColumnInfo, QueryAnswer, QueryBody, TableInfo};

/// The rows returned, and whether more matched: on every query response.
pub const ROW_COUNT_HEADER: &str = "trace-row-count";
pub const TRUNCATED_HEADER: &str = "trace-truncated";

fn service(s: &PublicState) -> Result<&Arc<QueryService>, ApiError> {
    s.query.as_ref().ok_or_else(|| ApiError::Unavailable("this server has no query service (start it with --storage)".into()))
}

fn as_caller(who: &Principal) -> Caller {
    Caller { org: who.org, user: Some(who.clone()) }
}

/// The format asked for: the body's `format`, else `Accept`, else JSON.
fn format(body: &QueryBody, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(name) = &body.format {
        return match name.parse::<Format>() {
            Ok(Format::Table) | Err(_) => Err(ApiError::BadRequest(format!("format must be json, csv, arrow or parquet, got {name:?}"))),
            Ok(f) => Ok(f),
        };
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    Ok(accept.split(',').find_map(|m| Format::from_media_type(m).filter(|f| *f != Format::Table)).unwrap_or(Format::Json))
}

#[utoipa::path(post, path = "/api/v1/query", tag = "queries", summary = "Run one read-only SQL statement (JSON, CSV, Arrow IPC or Parquet)", request_body = QueryBody, responses((status = 200, description = "done", body = QueryAnswer), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn query(State(s): State<Arc<PublicState>>, headers: HeaderMap, Json(body): Json<QueryBody>) -> Result<Response, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    let format = format(&body, &headers)?;
    let result = service(&s)?.query(&as_caller(&who), body.into()).await?;
    let bytes = match format {
        Format::Json => json_answer(&result)?,
        other => render(&result, other)?,
    };
    let mut response = (StatusCode::OK, bytes).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.media_type()));
    h.insert(ROW_COUNT_HEADER, HeaderValue::from(result.rows));
    h.insert(TRUNCATED_HEADER, HeaderValue::from_static(if result.truncated { "true" } else { "false" }));
    Ok(response)
}

/// `QueryAnswer` as JSON, with the rows written once by Arrow's JSON writer
/// (not parsed and written again).
fn json_answer(result: &QueryResult) -> Result<Vec<u8>, ApiError> {
    let columns: Vec<ColumnInfo> = result.schema.fields().iter().map(|f| ColumnInfo { name: f.name().clone(), data_type: f.data_type().to_string() }).collect();
    let rows = render(result, Format::Json)?;
    let head = serde_json::json!({
        "columns": columns,
        "row_count": result.rows,
        "truncated": result.truncated,
        "elapsed_ms": result.elapsed.as_secs_f64() * 1e3,
    })
    .to_string();
    let mut out = Vec::with_capacity(head.len() + rows.len() + 16);
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(b",\"rows\":");
    out.extend_from_slice(rows.trim_ascii_end());
    out.extend_from_slice(b"}");
    Ok(out)
}

#[utoipa::path(post, path = "/api/v1/queries", tag = "queries", summary = "Start a batch query (Parquet result)", request_body = QueryBody, responses((status = 202, description = "done", body = BatchQuery), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn submit(State(s): State<Arc<PublicState>>, headers: HeaderMap, Json(body): Json<QueryBody>) -> Result<(StatusCode, Json<BatchQuery>), ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    if body.format.as_deref().is_some_and(|f| f != "parquet") || body.max_rows.is_some() {
        return Err(ApiError::BadRequest("a batch query writes every row as Parquet: leave out format (or say parquet) and max_rows".into()));
    }
    let service = service(&s)?;
    let caller = as_caller(&who);
    let id = service.submit(&caller, body.into()).await?;
    let view = service.batch(&caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(view.into())))
}

/// The batch query, if the caller submitted it or is an admin of its org.
async fn own_batch(s: &PublicState, who: &Principal, id: &str) -> Result<trace_query::BatchQueryView, ApiError> {
    let view = service(s)?.batch(&as_caller(who), id).await?;
    if view.actor != who.actor() && who.role != Role::Admin {
        return Err(trace_query::QueryError::NoSuchBatch { id: id.to_owned() }.into());
    }
    Ok(view)
}

#[utoipa::path(get, path = "/api/v1/queries/{id}", tag = "queries", summary = "A batch query's record", params(("id" = String, Path, description = "the batch query's id")), responses((status = 200, description = "done", body = BatchQuery), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn batch(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Json<BatchQuery>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    Ok(Json(own_batch(&s, &who, &id).await?.into()))
}

#[utoipa::path(get, path = "/api/v1/queries/{id}/result", tag = "queries", summary = "A finished batch query's Parquet result", params(("id" = String, Path, description = "the batch query's id")), responses((status = 200, description = "done", body = Vec<u8>, content_type = "application/vnd.apache.parquet"), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn batch_result(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    own_batch(&s, &who, &id).await?;
    // Streamed: a result may be gigabytes, and is never held whole here.
    let (size, stream) = service(&s)?.batch_result_stream(&as_caller(&who), &id).await?;
    let mut response = (StatusCode::OK, axum::body::Body::from_stream(stream)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(Format::Parquet.media_type()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/tables", tag = "queries", summary = "The datasets the caller can query, with columns", responses((status = 200, description = "done", body = Vec<TableInfo>), (status = "4XX", description = "refused: `code` says why", body = crate::Problem, content_type = "application/problem+json"), (status = "5XX", description = "failed; details are in the server's log", body = crate::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn tables(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Json<Vec<TableInfo>>, ApiError> {
    let who = caller(&s, &headers, Role::Viewer).await?;
    Ok(Json(service(&s)?.tables(&as_caller(&who)).await?.into_iter().map(Into::into).collect()))
}
