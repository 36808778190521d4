//! Errors as one line for people and logs.

/// `e` and its causes, outermost first, joined by `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    std::iter::successors(Some(e), |e| e.source()).map(ToString::to_string).collect::<Vec<_>>().join(": ")
}
