//! `/console/datasets`: the datasets the signed-in user may read;
//! `/console/datasets/{name}`: its versions, its current partitions, who may
//! read it, and a query box.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Html;
use maud::html;
use trace_api::PublicState;
use trace_store::{History, Registry, Role};

use crate::error::ConsoleError;
use crate::format;
use crate::layout::{shell, status};
use crate::session::signed_in;

/// Partitions listed on a dataset's page (the newest version's first ones).
pub const MAX_PARTITIONS_SHOWN: usize = 200;

pub async fn list(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    let datasets: Vec<_> = s.db.datasets(who.org).await?.into_iter().filter(|d| d.readable_by(&who)).collect();
    let body = html! {
        table #datasets {
            thead { tr { th { "dataset" } th { "producer" } th { "current version" } th { "read_roles" } } }
            tbody {
                @for d in &datasets {
                    tr {
                        td { a href={ "/console/datasets/" (d.name) } { (d.name) } }
                        td { (d.dag) "." (d.producer_job) "[" (d.output_index) "]" }
                        td { code { (d.version.as_deref().unwrap_or("-")) } }
                        td { @if d.read_roles.is_empty() { span.muted { "private" } } @else { (d.read_roles.join(", ")) } }
                    }
                }
                @if datasets.is_empty() { tr { td colspan="4" .muted { "no dataset you may read" } } }
            }
        }
    };
    Ok(shell("Datasets", Some(&who), body))
}

pub async fn detail(State(s): State<Arc<PublicState>>, headers: HeaderMap, Path(name): Path<String>) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    let dataset = s.db.datasets(who.org).await?.into_iter().find(|d| d.name == name && d.readable_by(&who));
    let dataset = dataset.ok_or_else(|| ConsoleError::NotFound(format!("dataset {name:?} does not exist")))?;
    let versions = s.db.dataset_versions(who.org, &name).await?;
    let partitions = s.db.partitions(who.org, &name).await?;
    let body = html! {
        dl.facts {
            dt { "producer" } dd { (dataset.dag) "." (dataset.producer_job) "[" (dataset.output_index) "]" }
            dt { "read_roles" } dd { @if dataset.read_roles.is_empty() { "private (admins and the DAG's deployers)" } @else { (dataset.read_roles.join(", ")) } }
        }
        h2 { "Versions" }
        table #dataset-versions {
            thead { tr { th { "version" } th.num { "DAG version" } th { "state" } th.num { "partitions" } th.num { "rows" } th.num { "bytes" } th { "created" } } }
            tbody {
                @for v in &versions {
                    tr {
                        td { code { (v.uuid) } }
                        td.num { (v.dag_version) }
                        td { @if v.active { (status("active")) } @else if v.purged_at.is_some() { (status("purged")) } @else { (status("inactive")) } }
                        td.num { (v.partitions) } td.num { (v.rows) } td.num { (format::bytes(v.bytes)) }
                        td { (format::when(v.created_at)) }
                    }
                }
            }
        }
        h2 { "Query" }
        form method="post" action="/console/query" {
            textarea name="sql" #sql { "SELECT * FROM " (name) " LIMIT 20" }
            p { button.primary type="submit" #run-query { "Run" } }
        }
        h2 { "Current partitions" }
        table #partitions {
            thead { tr { th { "partition" } th.num { "rows" } th.num { "bytes" } } }
            tbody {
                @for p in partitions.iter().take(MAX_PARTITIONS_SHOWN) {
                    tr { td { (p.partition_key) } td.num { (p.rows) } td.num { (format::bytes(p.bytes as i64)) } }
                }
                @if partitions.len() > MAX_PARTITIONS_SHOWN { tr { td colspan="3" .muted { "… " (partitions.len() - MAX_PARTITIONS_SHOWN) " more" } } }
                @if partitions.is_empty() { tr { td colspan="3" .muted { "none yet" } } }
            }
        }
    };
    Ok(shell(&format!("Dataset {name}"), Some(&who), body))
}
