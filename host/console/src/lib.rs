//! Trace's web console, served under `/console` by `trace server` and
//! `trace dev`: HTML rendered on the server (maud templates, one embedded
//! stylesheet, no JavaScript and no build step), signed in with an API token.
//!
//! Every page asks the system database with the signed-in token's principal
//! and applies the same rules as the public API: an org sees only its own
//! work, datasets follow `read_roles`, cutover and rollback need an admin, a
//! cancel a developer. Another org's task or dataset is "not found".
//!
//! The token lives in an `HttpOnly`, `SameSite=Strict` cookie scoped to
//! `/console`; every form post must come from the console's own origin, and
//! every page carries a Content-Security-Policy that allows no script.

mod error;
mod format;
mod layout;
mod pages;
mod session;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use trace_api::PublicState;

/// The console's routes, for merging beside the APIs.
pub fn console_router(state: Arc<PublicState>) -> Router {
    Router::new()
        .route("/console", get(pages::overview::page))
        .route("/console/", get(pages::overview::page))
        .route("/console/login", get(session::login_page).post(session::login))
        .route("/console/logout", post(session::logout))
        .route("/console/console.css", get(layout::stylesheet))
        .route("/console/dags", get(pages::dags::page))
        .route("/console/dags/{dag}/cutover", post(pages::dags::cutover))
        .route("/console/dags/{dag}/rollback", post(pages::dags::rollback))
        .route("/console/tasks", get(pages::tasks::list))
        .route("/console/tasks/{id}", get(pages::tasks::detail))
        .route("/console/tasks/{id}/cancel", post(pages::tasks::cancel))
        .route("/console/datasets", get(pages::datasets::list))
        .route("/console/datasets/{name}", get(pages::datasets::detail))
        .route("/console/query", get(pages::query::page).post(pages::query::run))
        .route("/console/deliveries", get(pages::deliveries::page))
        .route("/console/usage", get(pages::usage::page))
        .layer(axum::middleware::from_fn(session::guard))
        .with_state(state)
}
