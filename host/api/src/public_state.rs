//! What every public route shares: the state behind them and the check of
//! who is calling (an API token, and the role a route needs).

use std::sync::Arc;

use axum::http::HeaderMap;
use trace_store::{Db, Principal, Registry, Role};

use crate::error::ApiError;
use crate::internal::bearer;

pub struct PublicState {
    pub db: Arc<Db>,
    /// The Query Service, on a server that can read the datasets' storage.
    pub query: Option<Arc<trace_query::QueryService>>,
    /// Seals org secrets; a server without one refuses to store them.
    pub secret_key: Option<Arc<trace_secrets::SecretKey>>,
    /// The datasets' storage, where a purge deletes a version's files; a
    /// server without it refuses purges.
    pub storage: Option<trace_storage::Storage>,
}

impl PublicState {
    /// The routes over `db` alone: no queries, secrets or purges until
    /// their parts are given.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db, query: None, secret_key: None, storage: None }
    }

    pub fn with_query(self, query: Option<Arc<trace_query::QueryService>>) -> Self {
        Self { query, ..self }
    }

    pub fn with_secret_key(self, secret_key: Option<Arc<trace_secrets::SecretKey>>) -> Self {
        Self { secret_key, ..self }
    }

    pub fn with_storage(self, storage: Option<trace_storage::Storage>) -> Self {
        Self { storage, ..self }
    }
}

pub(crate) async fn caller(s: &PublicState, headers: &HeaderMap, needs: Role) -> Result<Principal, ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    let who = s.db.authenticate(token).await?.ok_or(ApiError::Unauthorized)?;
    if who.role < needs {
        return Err(ApiError::Forbidden(format!("this needs the {} role; {} is {}", needs.as_str(), who.name, who.role.as_str())));
    }
    Ok(who)
}
