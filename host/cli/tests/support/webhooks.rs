//! A webhook receiver on 127.0.0.1, as a user would run one: it checks
//! every request's signature and keeps what it accepted.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use trace_delivery::WebhookSecret;

/// What a receiver accepted: each request's `webhook-id` and JSON body, in
/// arrival order (a redelivery appears twice), and how many it refused.
#[derive(Default)]
pub struct Received {
    pub accepted: Vec<(String, Value)>,
    pub bad_signatures: usize,
}

type Shared = (Arc<Mutex<Received>>, Arc<WebhookSecret>);

async fn accept(State((received, secret)): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut r = received.lock().unwrap();
    if !secret.verify(&h("webhook-id"), h("webhook-timestamp").parse().unwrap_or(0), &body, &h("webhook-signature"), now) {
        r.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    r.accepted.push((h("webhook-id"), serde_json::from_slice(&body).unwrap_or(Value::Null)));
    StatusCode::NO_CONTENT
}

/// Start a receiver checking signatures with `secret`; returns its URL.
pub async fn receiver(secret: WebhookSecret) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let app = axum::Router::new().route("/hook", axum::routing::post(accept)).with_state((received.clone(), Arc::new(secret)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}
