//! Standard Webhooks signatures: every request carries `webhook-id`,
//! `webhook-timestamp` and `webhook-signature`, the last being `v1,` and the
//! base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the destination's
//! secret. The id is the delivery's idempotency key (the same on every
//! attempt); the timestamp is taken afresh for each attempt.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Secret bytes a destination may have (the spec's range).
pub const MIN_SECRET_BYTES: usize = 24;
pub const MAX_SECRET_BYTES: usize = 64;
/// How far a receiver's clock may be from a request's timestamp.
pub const TOLERANCE_SECS: i64 = 300;

/// A destination's signing secret. Never printed: `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecret({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret is `whsec_` and base64; this one does not start with `whsec_`")]
    Prefix,
    #[error("a signing secret's part after `whsec_` must be base64")]
    NotBase64,
    #[error("a signing secret must have {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, got {got}")]
    Length { got: usize },
}

impl WebhookSecret {
    /// A fresh random secret of 32 bytes.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        WebhookSecret(bytes)
    }

    /// Parse `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix("whsec_").ok_or(SecretError::Prefix)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SecretError::Length { got: bytes.len() });
        }
        Ok(WebhookSecret(bytes))
    }

    /// The `whsec_` form, to hand its owner once.
    pub fn expose(&self) -> String {
        format!("whsec_{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes()))
    }

    /// Whether `signatures` (the header: space-separated `v1,<base64>`
    /// entries) holds a valid signature of this request, and its timestamp
    /// is within [`TOLERANCE_SECS`] of `now`. Compared in constant time; an
    /// empty or truncated signature never matches.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], signatures: &str, now: i64) -> bool {
        if (now - timestamp).abs() > TOLERANCE_SECS {
            return false;
        }
        signatures.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|candidate| match STANDARD.decode(candidate) {
            Ok(tag) if tag.len() == 32 => self.mac(id, timestamp, body).verify_slice(&tag).is_ok(),
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_signs_as_published() {
        // The Standard Webhooks specification's example.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, &signature, 1614265330));
    }

    #[test]
    fn tampering_truncating_and_stale_requests_do_not_verify() {
        let secret = WebhookSecret::generate();
        let good = secret.sign("d1", 1000, b"{}");
        assert!(secret.verify("d1", 1000, b"{}", &good, 1000));
        assert!(secret.verify("d1", 1000, b"{}", &format!("v1,bogus {good}"), 1000), "one valid entry among several");
        assert!(!secret.verify("d1", 1000, b"{ }", &good, 1000), "another body");
        assert!(!secret.verify("d2", 1000, b"{}", &good, 1000), "another id");
        assert!(!secret.verify("d1", 1001, b"{}", &good, 1001), "another timestamp");
        assert!(!secret.verify("d1", 1000, b"{}", "v1,", 1000), "a bare v1,");
        assert!(!secret.verify("d1", 1000, b"{}", &good[..good.len() - 8], 1000), "a truncated signature");
        assert!(!secret.verify("d1", 1000, b"{}", &good, 1000 + TOLERANCE_SECS + 1), "too old");
        assert!(!WebhookSecret::generate().verify("d1", 1000, b"{}", &good, 1000), "another secret");
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert_eq!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Err(SecretError::Prefix));
        assert_eq!(WebhookSecret::parse("whsec_???"), Err(SecretError::NotBase64));
        assert_eq!(WebhookSecret::parse("whsec_c2hvcnQ="), Err(SecretError::Length { got: 5 }));
        let secret = WebhookSecret::generate();
        assert_eq!(WebhookSecret::parse(&secret.expose()).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "WebhookSecret(32 bytes)");
    }
}
