//! The frame around every page: the navigation, who is signed in, and the
//! stylesheet (embedded in the binary).

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use trace_store::Principal;

const CSS: &str = include_str!("../assets/console.css");

pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], CSS).into_response()
}

const NAV: [(&str, &str); 6] = [
    ("/console", "Overview"),
    ("/console/dags", "DAGs"),
    ("/console/tasks", "Tasks"),
    ("/console/datasets", "Datasets"),
    ("/console/deliveries", "Deliveries"),
    ("/console/usage", "Usage"),
];

/// A whole page.
pub fn shell(title: &str, who: Option<&Principal>, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Trace" }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                @if let Some(who) = who {
                    header.top {
                        span.brand { "Trace" }
                        nav {
                            @for (href, label) in NAV {
                                a href=(href) class=[(label == title).then_some("here")] { (label) }
                            }
                            a href="/console/query" class=[("Query" == title).then_some("here")] { "Query" }
                        }
                        span.who #who { (who.name) " · " (who.role.as_str()) " · org " (who.org) }
                        form.inline method="post" action="/console/logout" { button #signout type="submit" { "Sign out" } }
                    }
                }
                main {
                    @if who.is_some() { h1 { (title) } }
                    (body)
                }
            }
        }
    };
    Html(page.into_string())
}

/// A page that only says what went wrong.
pub fn bare(title: &str, message: &str) -> Html<String> {
    shell(title, None, html! {
        div.problem-page {
            h1 { (title) }
            p.problem #problem { (message) }
            p { a href="/console" { "Back to the console" } }
        }
    })
}

/// A status as a coloured tag.
pub fn status(s: &str) -> Markup {
    html! { span class={ "status " (s) } { (s) } }
}
