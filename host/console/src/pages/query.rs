//! `/console/query`: one read-only SQL statement through the Query Service,
//! as the signed-in user (their `read_roles`, their org's query slots).

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use trace_api::PublicState;
use trace_query::arrow::util::display::{ArrayFormatter, FormatOptions};
use trace_query::{Caller, QueryRequest, QueryResult};
use trace_store::Role;

use crate::error::ConsoleError;
use crate::layout::shell;
use crate::session::signed_in;

/// Rows a result table shows (the query itself is bounded by the service).
pub const MAX_ROWS_SHOWN: usize = 500;

#[derive(Deserialize)]
pub struct QueryForm {
    sql: String,
}

fn box_with(sql: &str) -> Markup {
    html! {
        form method="post" action="/console/query" {
            textarea name="sql" #sql { (sql) }
            p { button.primary type="submit" #run-query { "Run" } }
        }
    }
}

pub async fn page(State(s): State<Arc<PublicState>>, headers: HeaderMap) -> Result<Html<String>, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    Ok(shell("Query", Some(&who), box_with("SELECT 1")))
}

pub async fn run(State(s): State<Arc<PublicState>>, headers: HeaderMap, Form(f): Form<QueryForm>) -> Result<Response, ConsoleError> {
    let who = signed_in(&s, &headers, Role::Viewer).await?;
    let Some(service) = &s.query else {
        return Err(ConsoleError::Refused(axum::http::StatusCode::SERVICE_UNAVAILABLE, "this server has no query service (start it with --storage)".into()));
    };
    let request = QueryRequest { sql: f.sql.clone(), ..Default::default() };
    let answer = match service.query(&Caller { org: who.org, user: Some(who.clone()) }, request).await {
        Ok(result) => table(&result)?,
        // The user's SQL was refused: say why beside it.
        Err(e) => {
            let refused = ConsoleError::from(e);
            let ConsoleError::Refused(status, message) = refused else { return Err(refused) };
            let body = html! { (box_with(&f.sql)) p.problem #query-problem { (message) } };
            return Ok((status, shell("Query", Some(&who), body)).into_response());
        }
    };
    Ok(shell("Query", Some(&who), html! { (box_with(&f.sql)) (answer) }).into_response())
}

fn table(result: &QueryResult) -> Result<Markup, ConsoleError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows: Vec<Vec<String>> = Vec::new();
    'batches: for batch in &result.batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConsoleError::Internal(format!("formatting a result: {e}")))?;
        for i in 0..batch.num_rows() {
            if rows.len() == MAX_ROWS_SHOWN {
                break 'batches;
            }
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    Ok(html! {
        p.hint #query-summary {
            (result.rows) " row(s) in " (result.elapsed.as_millis()) " ms"
            @if result.truncated { ", more matched than the limit" }
            @if result.rows > MAX_ROWS_SHOWN { "; the first " (MAX_ROWS_SHOWN) " shown" }
        }
        table #query-result {
            thead { tr { @for f in result.schema.fields() { th { (f.name()) } } } }
            tbody { @for r in &rows { tr { @for v in r { td { (v) } } } } }
        }
    })
}
