//! The OpenAPI document: valid OpenAPI 3.1 (read back by an independent
//! parser), served without a token, and listing exactly the routes the
//! router serves: each documented operation answers (401 without a token,
//! never 404 or 405), and each route in the router's source is documented.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

/// (method, path template) of every `.route(…)` in the router's source.
fn routed() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/public.rs");
    let mut out = BTreeSet::new();
    for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"/api/v1/")) {
        let path = line.split('"').nth(1).unwrap().to_owned();
        let rest = line.split_once("\",").unwrap().1;
        for method in METHODS {
            // `get(`, `.post(`, `axum::routing::delete(`: a method router.
            let called = rest.match_indices(&format!("{method}(")).any(|(i, _)| i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric() && rest.as_bytes()[i - 1] != b'_');
            if called {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1_and_matches_the_router() {
    let f = common::fixture().await;
    let res = f.app.clone().oneshot(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), 200, "served without a token");
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let parsed = oas3::from_json(std::str::from_utf8(&bytes).unwrap()).expect("an OpenAPI 3.1 parser reads it");
    assert_eq!(parsed.info.title, "Trace public API");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            let what = format!("{method} {path}");
            assert_eq!(op["security"], serde_json::json!([{"bearer": []}]), "{what}: a bearer token");
            let problem = &op["responses"]["4XX"]["content"]["application/problem+json"]["schema"];
            assert_eq!(problem["$ref"], "#/components/schemas/Problem", "{what}: errors are problems");
            // Every `{param}` in the path is declared as a path parameter.
            let declared: BTreeSet<&str> = op["parameters"].as_array().map(|ps| ps.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect()).unwrap_or_default();
            let in_path: BTreeSet<&str> = path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
            assert_eq!(declared, in_path, "{what}: path parameters");
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let mut routes = routed();
    assert!(routes.remove(&("get".to_owned(), "/api/v1/openapi.json".to_owned())), "the document's own route");
    assert_eq!(routes, documented, "the router and the document list the same operations");
    assert!(documented.len() >= 33, "{documented:?}");

    // Each documented operation is served: without a token it is refused
    // as unauthorized, not missing.
    for (method, path) in &documented {
        let uri = path.replace("{id}", "1").split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/");
        let req = Request::builder().method(method.to_uppercase().as_str()).uri(&uri).header("content-type", "application/json").body(Body::from("{}")).unwrap();
        let status = f.app.clone().oneshot(req).await.unwrap().status().as_u16();
        assert!(status == 401 || status == 422 || status == 400, "{method} {uri}: {status}");
    }
}
