//! A client of the public API for the CLI and for tools: an API token and a
//! server's base URL. Errors carry the server's stable code and message.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::public_wire::{BatchQuery, QueryBody, TableInfo};
use crate::query_routes::{ROW_COUNT_HEADER, TRUNCATED_HEADER};
use trace_protocol::wire::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{message} ({code}, HTTP {status})")]
    Refused { status: StatusCode, code: String, message: String },
    /// The server could not be reached or its answer not read.
    #[error("calling {url}: {source}")]
    Transport { url: String, source: reqwest::Error },
}

/// A query's answer as the server sent it.
#[derive(Debug, Clone)]
pub struct QueryResponse {
    pub body: bytes::Bytes,
    pub rows: usize,
    pub truncated: bool,
}

#[derive(Clone)]
pub struct PublicClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl PublicClient {
    /// A client of the server at `base` (for example `http://127.0.0.1:7070`)
    /// whose calls each take at most `timeout`.
    pub fn new(base: &str, token: &str, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().timeout(timeout).build().map_err(|source| ClientError::Transport { url: base.to_owned(), source })?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), http })
    }

    async fn send<B: Serialize>(&self, method: Method, path: &str, body: Option<&B>) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|source| ClientError::Transport { url: url.clone(), source })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let (code, message) = match response.json::<ErrorBody>().await {
            Ok(e) => (e.code, e.message),
            Err(_) => ("unknown".to_owned(), "the server sent no error body".to_owned()),
        };
        Err(ClientError::Refused { status, code, message })
    }

    async fn json<B: Serialize, R: DeserializeOwned>(&self, method: Method, path: &str, body: Option<&B>) -> Result<R, ClientError> {
        let response = self.send(method, path, body).await?;
        let url = response.url().to_string();
        response.json().await.map_err(|source| ClientError::Transport { url, source })
    }

    async fn bytes(response: reqwest::Response) -> Result<bytes::Bytes, ClientError> {
        let url = response.url().to_string();
        response.bytes().await.map_err(|source| ClientError::Transport { url, source })
    }

    /// `POST /api/v1/query`.
    pub async fn query(&self, body: &QueryBody) -> Result<QueryResponse, ClientError> {
        let response = self.send(Method::POST, "/api/v1/query", Some(body)).await?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let rows = header(ROW_COUNT_HEADER).and_then(|v| v.parse().ok()).unwrap_or(0);
        let truncated = header(TRUNCATED_HEADER).as_deref() == Some("true");
        Ok(QueryResponse { body: Self::bytes(response).await?, rows, truncated })
    }

    /// `POST /api/v1/queries`.
    pub async fn submit(&self, body: &QueryBody) -> Result<BatchQuery, ClientError> {
        self.json(Method::POST, "/api/v1/queries", Some(body)).await
    }

    /// `GET /api/v1/queries/{id}`.
    pub async fn batch(&self, id: &str) -> Result<BatchQuery, ClientError> {
        self.json(Method::GET, &format!("/api/v1/queries/{id}"), None::<&()>).await
    }

    /// `GET /api/v1/queries/{id}/result`: the Parquet file.
    pub async fn batch_result(&self, id: &str) -> Result<bytes::Bytes, ClientError> {
        Self::bytes(self.send(Method::GET, &format!("/api/v1/queries/{id}/result"), None::<&()>).await?).await
    }

    /// `GET /api/v1/tables`.
    pub async fn tables(&self) -> Result<Vec<TableInfo>, ClientError> {
        self.json(Method::GET, "/api/v1/tables", None::<&()>).await
    }
}
