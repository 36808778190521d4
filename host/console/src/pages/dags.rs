//! `/console/dags`: every version of every DAG; an admin cuts over to a
//! staged version or rolls back the active one from here.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use trace_api::PublicState;
use trace_store::{now_millis, History, Lifecycle, Role, VersionState};

use crate::error::ConsoleError;
use crate::format;
use crate::layout::{shell, status};
use crate::session::signed_in;

pub async fn page(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    let versions = s.db.dag_versions(who.org).await?;
    let admin = who.role == Role::Admin;
    let body = html! {
        @if !admin { p.hint { "Cutover and rollback need the admin role." } }
        table #dag-versions {
            thead { tr { th { "DAG" } th.num { "version" } th { "state" } th.num { "jobs" } th { "deployed" } th { "by" } th {} } }
            tbody {
                @for v in &versions {
                    tr id={ "dag-" (v.dag) "-v" (v.version) } {
                        td { (v.dag) }
                        td.num { (v.version) }
                        td { (status(v.state.as_str())) }
                        td.num { (v.jobs) }
                        td { (format::when(v.created_at)) }
                        td { (v.deployed_by) }
                        td {
                            @if admin && v.state == VersionState::Staged {
                                form.inline method="post" action={ "/console/dags/" (v.dag) "/cutover" } {
                                    input type="hidden" name="version" value=(v.version);
                                    button.primary type="submit" id={ "cutover-" (v.dag) "-" (v.version) } { "Cut over to v" (v.version) }
                                }
                            }
                            @if admin && v.state == VersionState::Active && versions.iter().any(|o| o.dag == v.dag && o.state == VersionState::Previous) {
                                form.inline method="post" action={ "/console/dags/" (v.dag) "/rollback" } {
                                    button.danger type="submit" id={ "rollback-" (v.dag) } { "Roll back" }
                                }
                            }
                        }
                    }
                }
                @if versions.is_empty() { tr { td colspan="7" .muted { "no DAG deployed" } } }
            }
        }
    };
    Ok(shell("DAGs", Some(&who), body))
}

#[derive(Deserialize)]
pub struct CutoverForm {
    version: i32,
}

/// The DAG is the caller's org's (another org's reads as missing).
async fn own_dag(s: &PublicState, org: i64, dag: &str) -> Result<(), ConsoleError> {
    if s.db.dag_versions(org).await?.iter().any(|v| v.dag == dag) {
        Ok(())
    } else {
        Err(ConsoleError::NotFound(format!("DAG {dag:?} does not exist")))
    }
}

pub async fn cutover(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(dag): Path<String>, Form(f): Form<CutoverForm>) -> Result<Response, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Admin).await?;
    own_dag(&s, who.org, &dag).await?;
    s.db.cutover(who.org, &dag, f.version, &who.actor(), now_millis()).await?;
    Ok(Redirect::to("/console/dags").into_response())
}

pub async fn rollback(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(dag): Path<String>) -> Result<Response, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Admin).await?;
    own_dag(&s, who.org, &dag).await?;
    s.db.rollback(who.org, &dag, &who.actor(), now_millis()).await?;
    Ok(Redirect::to("/console/dags").into_response())
}
