//! Org secrets at rest. A value is sealed with ChaCha20-Poly1305 under the
//! deployment's secret key, with the org and the secret's name as
//! associated data: a sealed value copied to another row or org does not
//! open. The key comes from the environment (`TRACE_SECRET_KEY`, base64 of
//! 32 bytes) or a file (`TRACE_SECRET_KEY_FILE`), never from a DAG or the
//! database. Nothing here prints a key or a value.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::Zeroizing;

/// The environment variable holding the key (base64 of 32 bytes).
pub const KEY_ENV: &str = "TRACE_SECRET_KEY";
/// The environment variable naming a file that holds it.
pub const KEY_FILE_ENV: &str = "TRACE_SECRET_KEY_FILE";
/// Largest secret value.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Longest secret name.
pub const MAX_NAME_CHARS: usize = 128;

const VERSION: &str = "v1.";
const NONCE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("no secret key: set {KEY_ENV} (base64 of 32 bytes) or {KEY_FILE_ENV} (a file holding it)")]
    NoKey,
    #[error("the secret key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("reading the secret key file {path}: {message}")]
    KeyFile { path: String, message: String },
    #[error("a secret name must be 1 to {MAX_NAME_CHARS} of letters, digits, `_`, `-`, `.` and `/`, starting with a letter or digit; got {0:?}")]
    BadName(String),
    #[error("a secret value must be 1 to {MAX_VALUE_BYTES} bytes, got {got}")]
    BadValue { got: usize },
    /// Wrong key, or a value moved from another org or name, or tampered.
    #[error("secret {name:?} does not open with this key (a different key, or a value that was moved or altered)")]
    DoesNotOpen { name: String },
}

/// The deployment's key. Its `Debug` never shows it.
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// A secret's value, opened: never printed, wiped when dropped.
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue({} bytes)", self.0.len())
    }
}

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The value itself: only for host-side code that uses it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The value as text (secrets set from a terminal are text).
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

/// Whether `name` may name a secret.
pub fn check_name(name: &str) -> Result<(), SecretError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if ok { Ok(()) } else { Err(SecretError::BadName(name.to_owned())) }
}

fn associated(org: i64, name: &str) -> Vec<u8> {
    format!("trace-secret/v1/{org}/{name}").into_bytes()
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = Zeroizing::new(BASE64.decode(text.trim()).map_err(|_| SecretError::BadKey)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SecretError::BadKey)?;
        Ok(Self::from_bytes(key))
    }

    /// A new random key, for a new deployment (print it once with [`SecretKey::to_base64`]).
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random source is available");
        Self::from_bytes(key)
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(*self.0)
    }

    /// The key from `TRACE_SECRET_KEY`, else from the file `TRACE_SECRET_KEY_FILE` names.
    pub fn from_env() -> Result<Self, SecretError> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Self::from_base64(&text);
        }
        let path = std::env::var(KEY_FILE_ENV).map_err(|_| SecretError::NoKey)?;
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| SecretError::KeyFile { path: path.clone(), message: e.to_string() })?);
        Self::from_base64(&text)
    }

    /// `value` sealed for secret `name` of org `org`: `v1.` and base64 of
    /// a random nonce and the ciphertext.
    pub fn seal(&self, org: i64, name: &str, value: &[u8]) -> Result<String, SecretError> {
        check_name(name)?;
        if value.is_empty() || value.len() > MAX_VALUE_BYTES {
            return Err(SecretError::BadValue { got: value.len() });
        }
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the OS random source is available");
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.0.as_slice()));
        let aad = associated(org, name);
        let sealed = cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: value, aad: &aad }).expect("in-memory encryption does not fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", BASE64.encode(out)))
    }

    /// Open what [`SecretKey::seal`] made for the same org and name.
    pub fn open(&self, org: i64, name: &str, sealed: &str) -> Result<SecretValue, SecretError> {
        let fail = || SecretError::DoesNotOpen { name: name.to_owned() };
        let bytes = BASE64.decode(sealed.strip_prefix(VERSION).ok_or_else(fail)?).map_err(|_| fail())?;
        if bytes.len() <= NONCE_BYTES {
            return Err(fail());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.0.as_slice()));
        let aad = associated(org, name);
        let value = cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad }).map_err(|_| fail())?;
        Ok(SecretValue::new(value))
    }
}

/// Open secret `name` of `org` as text with `key`, if there is a key: for
/// host-side code that hands the value on (an RPC key). The error names the
/// secret and what is wrong, never the value.
pub fn open_text(key: Option<&SecretKey>, org: i64, name: &str, sealed: &str) -> Result<String, String> {
    let key = key.ok_or_else(|| format!("secret {name:?} cannot be opened: this control plane has no {KEY_ENV}"))?;
    let value = key.open(org, name, sealed).map_err(|e| e.to_string())?;
    value.expose_str().map(str::to_owned).ok_or_else(|| format!("secret {name:?} is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_org_and_name() {
        let key = SecretKey::generate();
        let sealed = key.seal(7, "rpc/key-1", b"hunter2").unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains("hunter2"));
        assert_eq!(key.open(7, "rpc/key-1", &sealed).unwrap().expose(), b"hunter2");
        // Sealing twice gives different text (a fresh nonce each time).
        assert_ne!(sealed, key.seal(7, "rpc/key-1", b"hunter2").unwrap());
        let refused = SecretError::DoesNotOpen { name: "rpc/key-1".into() };
        assert_eq!(key.open(8, "rpc/key-1", &sealed).unwrap_err(), refused, "moved to another org");
        assert_eq!(SecretKey::generate().open(7, "rpc/key-1", &sealed).unwrap_err(), refused, "another key");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.open(7, "rpc/key-1", std::str::from_utf8(&tampered).unwrap()).unwrap_err(), refused);
        assert!(key.open(7, "rpc/key-2", &sealed).is_err(), "moved to another name");
        assert!(key.open(7, "rpc/key-1", "v1.").is_err() && key.open(7, "rpc/key-1", "garbage").is_err());
    }

    #[test]
    fn names_values_and_keys_are_checked_and_never_printed() {
        assert!(check_name("rpc/key-1").is_ok() && check_name("ALCHEMY_KEY").is_ok());
        for bad in ["", "/etc", "a b", "a;b", &"x".repeat(129)] {
            assert!(matches!(check_name(bad), Err(SecretError::BadName(_))), "{bad:?}");
        }
        let key = SecretKey::generate();
        assert_eq!(key.seal(1, "a", b"").unwrap_err(), SecretError::BadValue { got: 0 });
        assert_eq!(key.seal(1, "a", &vec![1; MAX_VALUE_BYTES + 1]).unwrap_err(), SecretError::BadValue { got: MAX_VALUE_BYTES + 1 });
        assert_eq!(SecretKey::from_base64(&key.to_base64()).unwrap().seal(1, "a", b"v").map(|s| key.open(1, "a", &s).unwrap().expose().to_vec()).unwrap(), b"v");
        assert_eq!(SecretKey::from_base64("c2hvcnQ=").unwrap_err(), SecretError::BadKey);
        assert_eq!(format!("{key:?}"), "SecretKey(…)");
        assert_eq!(format!("{:?}", SecretValue::new(b"hunter2".to_vec())), "SecretValue(7 bytes)");
    }
}
