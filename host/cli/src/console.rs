//! The web console and public API that `trace dev` serves over its own
//! SQLite database, with an admin token made for the run's org.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use trace_api::{public_router, PublicState};
use trace_store::{now_millis, Db, Registry, Role, Store};

/// Where the console listens and the token to sign in with.
pub struct DevConsole {
    pub url: String,
    pub token: String,
    /// Keeps the query cache alive while the console serves.
    _cache: tempfile::TempDir,
}

/// Make `org` (if new) with an admin `dev` and a fresh token, and serve the
/// console and the public API on `addr` from now until the process ends.
pub async fn serve(database: &Path, objects: &Path, org: &str, addr: SocketAddr) -> anyhow::Result<DevConsole> {
    let db = Arc::new(Db::open(&format!("sqlite:{}", database.display())).await.context("opening the dev database for the console")?);
    db.migrate().await.context("migrating the dev database")?;
    let now = now_millis();
    let org_id = match db.org_id(org).await? {
        Some(id) => id,
        None => db.create_org(org, now).await?,
    };
    let user = match db.user(org_id, "dev").await? {
        Some(user) => user,
        None => db.create_user(org_id, "dev", Role::Admin, "trace-dev", now).await?,
    };
    let token = db.create_token(user, "console", "trace-dev", now).await?;
    let storage = trace_storage::Storage::local(objects).context("opening the objects directory")?;
    let cache = tempfile::tempdir().context("creating the query cache")?;
    let query = trace_query::QueryService::new(db.clone(), storage.clone(), cache.path().to_owned(), trace_query::ServiceLimits::default())?.with_runner(crate::query_runner::runner());
    let state = Arc::new(PublicState::new(db).with_query(Some(Arc::new(query))).with_storage(Some(storage)));
    let app = public_router(state.clone()).merge(trace_console::console_router(state));
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let at = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the dev console stopped");
        }
    });
    Ok(DevConsole { url: format!("http://{at}/console"), token, _cache: cache })
}
