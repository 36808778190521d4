//! What a destination may be: checked the same way by the CLI and the API
//! before anything is stored.

/// Longest webhook URL accepted.
pub const MAX_URL_BYTES: usize = 2048;
/// Bounds on a destination's per-sender limits.
pub const MAX_IN_FLIGHT: u32 = 256;
pub const MAX_PER_MINUTE: u32 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadDestination {
    #[error("a destination name must match ^[a-z][a-z0-9_]{{0,63}}$, got {0:?}")]
    Name(String),
    #[error("the webhook URL must be an http:// or https:// URL with a host, got {0:?}")]
    Url(String),
    #[error("the webhook URL is too long: got={got} bytes, limit={limit} bytes")]
    UrlTooLong { got: usize, limit: usize },
    #[error("{what} must be between 1 and {limit}, got {got}")]
    Limit { what: &'static str, got: u32, limit: u32 },
}

/// Check a destination's name, URL and limits.
pub fn check(name: &str, url: &str, max_in_flight: u32, per_minute: u32) -> Result<(), BadDestination> {
    let name_ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        return Err(BadDestination::Name(name.to_owned()));
    }
    if url.len() > MAX_URL_BYTES {
        return Err(BadDestination::UrlTooLong { got: url.len(), limit: MAX_URL_BYTES });
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| BadDestination::Url(url.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(BadDestination::Url(url.to_owned()));
    }
    if !(1..=MAX_IN_FLIGHT).contains(&max_in_flight) {
        return Err(BadDestination::Limit { what: "max_in_flight", got: max_in_flight, limit: MAX_IN_FLIGHT });
    }
    if !(1..=MAX_PER_MINUTE).contains(&per_minute) {
        return Err(BadDestination::Limit { what: "per_minute", got: per_minute, limit: MAX_PER_MINUTE });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_checked_before_they_are_stored() {
        assert_eq!(check("ops", "https://hooks.example.com/x", 4, 600), Ok(()));
        assert_eq!(check("Ops", "https://a.b", 4, 600), Err(BadDestination::Name("Ops".into())));
        assert_eq!(check("ops", "ftp://a.b/x", 4, 600), Err(BadDestination::Url("ftp://a.b/x".into())));
        assert_eq!(check("ops", "not a url", 4, 600), Err(BadDestination::Url("not a url".into())));
        let long = format!("https://a.b/{}", "x".repeat(MAX_URL_BYTES));
        assert!(matches!(check("ops", &long, 4, 600), Err(BadDestination::UrlTooLong { limit: MAX_URL_BYTES, .. })));
        assert_eq!(check("ops", "https://a.b", 0, 600).unwrap_err().to_string(), "max_in_flight must be between 1 and 256, got 0");
        assert_eq!(check("ops", "https://a.b", 4, 60_001).unwrap_err().to_string(), "per_minute must be between 1 and 60000, got 60001");
    }
}
