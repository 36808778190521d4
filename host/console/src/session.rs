//! Signing in and out, and what every console request passes through: the
//! token cookie, the same-origin rule for form posts, and the headers that
//! keep pages out of other sites' frames and scripts out of pages.

use axum::extract::{Form, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;
use trace_api::PublicState;
use trace_store::{Principal, Registry, Role};

use crate::error::ConsoleError;

pub const COOKIE: &str = "trace_console";
/// How long a sign-in lasts in the browser.
pub const SESSION_SECONDS: u32 = 12 * 3600;
/// Longest token the sign-in form takes (Trace's are far shorter).
pub const MAX_TOKEN_CHARS: usize = 256;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The token in the request's console cookie.
fn token_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_CHARS)
}

/// Who is signed in, if their role is at least `needs`.
pub async fn signed_in(s: &PublicState, headers: &HeaderMap, needs: Role) -> Result<Principal, ConsoleError> {
    let token = token_of(headers).ok_or(ConsoleError::SignIn)?;
    let who = s.db.authenticate(token).await?.ok_or(ConsoleError::SignIn)?;
    if who.role < needs {
        return Err(ConsoleError::Forbidden(format!("this needs the {} role; {} is {}", needs.as_str(), who.name, who.role.as_str())));
    }
    Ok(who)
}

pub async fn login_page() -> Response {
    form(StatusCode::OK, None)
}

fn form(status: StatusCode, problem: Option<&str>) -> Response {
    let body = html! {
        form.signin method="post" action="/console/login" {
            h1 { "Trace console" }
            @if let Some(p) = problem { p.problem #signin-problem { (p) } }
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="off" required maxlength=(MAX_TOKEN_CHARS) placeholder="trc_…";
            button #signin type="submit" { "Sign in" }
            p.hint { "An admin creates one with " code { "trace token create USER" } "." }
        }
    };
    (status, crate::layout::shell("Sign in", None, body)).into_response()
}

#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

pub async fn login(State(s): State<Arc<PublicState>>, Form(f): Form<SignIn>) -> Result<Response, ConsoleError> {
    let token = f.token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(form(StatusCode::BAD_REQUEST, Some(&format!("A token is 1 to {MAX_TOKEN_CHARS} printable characters."))));
    }
    if s.db.authenticate(token).await?.is_none() {
        return Ok(form(StatusCode::UNAUTHORIZED, Some("That token is not valid (revoked, mistyped, or of another deployment).")));
    }
    let cookie = format!("{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}");
    let mut response = Redirect::to("/console").into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| ConsoleError::SignIn)?);
    Ok(response)
}

pub async fn logout() -> Response {
    let mut response = Redirect::to("/console/login").into_response();
    let cookie = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a fixed cookie"));
    response
}

/// A form post from another site (a cross-site request carrying the
/// cookie) is refused; browsers name the origin of every post.
fn cross_site(request: &Request) -> bool {
    let h = request.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return true;
    }
    match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), h.get(header::HOST).and_then(|v| v.to_str().ok())) {
        (Some(origin), Some(host)) => origin.split_once("://").is_none_or(|(_, rest)| rest != host),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Middleware on every console route.
pub async fn guard(request: Request, next: Next) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD && cross_site(&request) {
        return (StatusCode::FORBIDDEN, crate::layout::bare("Forbidden", "The console takes form posts only from its own pages.")).into_response();
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Not `no-referrer`: with it a browser sends `Origin: null` on form posts.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_its_cookie_only() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("other=1; trace_console=trc_abc; x=2"));
        assert_eq!(token_of(&h), Some("trc_abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("trace_consoleX=trc_abc"));
        assert_eq!(token_of(&h), None);
        h.insert(header::COOKIE, HeaderValue::from_static("trace_console="));
        assert_eq!(token_of(&h), None);
    }

    #[test]
    fn posts_from_another_origin_are_cross_site() {
        let post = |origin: Option<&str>, site: Option<&str>| {
            let mut r = Request::builder().method("POST").uri("/console/logout").header("host", "127.0.0.1:7070");
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            if let Some(s) = site {
                r = r.header("sec-fetch-site", s);
            }
            cross_site(&r.body(axum::body::Body::empty()).unwrap())
        };
        assert!(!post(Some("http://127.0.0.1:7070"), Some("same-origin")));
        assert!(post(Some("http://evil.example"), None));
        assert!(post(None, Some("cross-site")));
        assert!(post(Some("http://127.0.0.1:7070"), Some("same-site")));
        assert!(!post(None, None), "not a browser: nothing to forge");
    }
}
