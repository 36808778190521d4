//! What a destination may be: checked the same way by the CLI and the API
//! before anything is stored.

use trace_secrets::{SecretError, SecretKey};

use crate::signing::WebhookSecret;

/// Under what name a destination's signing secret is sealed (the name is
/// bound into the seal: it does not open as another destination's).
fn sealed_name(destination: &str) -> String {
    format!("destination/{destination}")
}

/// `secret` sealed for destination `name` of `org`: what the system
/// database stores.
pub fn seal_secret(key: &SecretKey, org: i64, name: &str, secret: &WebhookSecret) -> Result<String, SecretError> {
    key.seal(org, &sealed_name(name), secret.expose().as_bytes())
}

/// The signing secret of destination `name` of `org`, from its sealed form.
pub fn open_secret(key: &SecretKey, org: i64, name: &str, sealed: &str) -> Result<WebhookSecret, String> {
    let value = key.open(org, &sealed_name(name), sealed).map_err(|e| e.to_string())?;
    let text = value.expose_str().ok_or("the signing secret is not text")?;
    WebhookSecret::parse(text).map_err(|e| e.to_string())
}

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
    fn a_sealed_signing_secret_opens_only_as_its_own_destination() {
        let key = SecretKey::generate();
        let secret = WebhookSecret::generate();
        let sealed = seal_secret(&key, 3, "ops", &secret).unwrap();
        assert!(!sealed.contains(&secret.expose()));
        assert_eq!(open_secret(&key, 3, "ops", &sealed).unwrap().expose(), secret.expose());
        assert!(open_secret(&key, 3, "pager", &sealed).is_err());
        assert!(open_secret(&key, 4, "ops", &sealed).is_err());
        assert!(open_secret(&SecretKey::generate(), 3, "ops", &sealed).is_err());
    }

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
