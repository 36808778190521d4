//! `/console/deliveries`: alerts on their way to webhooks, newest first.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use maud::html;
use serde::Deserialize;
use trace_api::PublicState;
use trace_store::{Deliveries, Role, DELIVERY_STATES};

use crate::error::ConsoleError;
use crate::format;
use crate::layout::{shell, status};
use crate::session::signed_in;

/// Deliveries one page lists.
pub const MAX_SHOWN: u32 = 200;

#[derive(Deserialize)]
pub struct Filter {
    #[serde(default)]
    status: String,
}

pub async fn page(State(s): State<Arc<PublicState>>, headers: HeaderMap, Query(f): Query<Filter>) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    if !f.status.is_empty() && !DELIVERY_STATES.contains(&f.status.as_str()) {
        return Err(ConsoleError::Refused(axum::http::StatusCode::BAD_REQUEST, format!("status must be one of {}, got {:?}", DELIVERY_STATES.join(", "), f.status)));
    }
    let wanted = (!f.status.is_empty()).then_some(f.status.as_str());
    let list = s.db.deliveries(who.org, wanted, MAX_SHOWN).await?;
    let body = html! {
        form.filters method="get" action="/console/deliveries" {
            label { "status" select name="status" {
                option value="" { "any" }
                @for st in DELIVERY_STATES { option value=(st) selected[f.status == *st] { (st) } }
            } }
            button type="submit" { "Filter" }
        }
        table #deliveries {
            thead { tr { th.num { "id" } th { "alert" } th { "destination" } th { "severity" } th { "status" } th.num { "attempts" } th { "created" } th { "reason" } } }
            tbody {
                @for d in &list {
                    tr {
                        td.num { (d.id) } td { (d.alert_key) } td { (d.destination) } td { (d.severity) }
                        td { (status(&d.status)) } td.num { (d.attempts) } td { (format::when(d.created_at)) }
                        td.error { (d.reason.as_deref().unwrap_or("")) }
                    }
                }
                @if list.is_empty() { tr { td colspan="8" .muted { "none" } } }
            }
        }
    };
    Ok(shell("Deliveries", Some(&who), body))
}
