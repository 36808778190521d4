//! A source job's RPC endpoint: how the host reaches it ([`RpcSettings`], the
//! job's `rpc:` block) and the credentials of the worker slot a task leased
//! ([`SlotGrant`]). Both stay on the host: the guest names a method and
//! passes parameters, nothing more.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most methods an allow-list may name.
pub const MAX_METHODS: usize = 256;
/// Most extra headers.
pub const MAX_HEADERS: usize = 16;
/// Longest URL or header template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 2_048;
/// Most calls in one JSON-RPC batch request.
pub const MAX_BATCH: u32 = 1_000;
/// Largest response the host reads (and hands to the guest).
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// The job's `rpc:` block. Execution-only: changing it does not
/// rematerialize the job. `url` and header values are templates over the
/// leased slot's `env` and `secret_env` names (`${RPC_URL}`,
/// `Bearer ${RPC_KEY}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSettings {
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Methods the operator may call; empty allows any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// HTTP requests per second per slot; none is unlimited.
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// HTTP requests one slot has in flight at once (a batch call is split
    /// into requests of `max_batch` calls, sent this many at a time).
    #[serde(default = "one")]
    pub max_in_flight: u32,
    /// Calls per JSON-RPC batch request.
    #[serde(default = "hundred")]
    pub max_batch: u32,
    /// One HTTP request's time limit, e.g. `30s`.
    #[serde(default = "thirty_seconds")]
    pub timeout: String,
    /// Tries per request on 429, 5xx and connection errors.
    #[serde(default = "five")]
    pub max_attempts: u32,
    /// Largest response body accepted, in bytes.
    #[serde(default = "sixteen_mib")]
    pub max_response_bytes: u64,
}

fn default_url() -> String {
    "${RPC_URL}".into()
}
fn one() -> u32 {
    1
}
fn five() -> u32 {
    5
}
fn hundred() -> u32 {
    100
}
fn thirty_seconds() -> String {
    "30s".into()
}
fn sixteen_mib() -> u64 {
    16 << 20
}

impl Default for RpcSettings {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl RpcSettings {
    /// The `${NAME}` references in the URL and header templates.
    pub fn references(&self) -> Result<Vec<String>, String> {
        let mut names = template_names(&self.url)?;
        for value in self.headers.values() {
            names.extend(template_names(value)?);
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// What a DAG file may say, apart from which names its slots define.
    pub fn check(&self) -> Result<(), String> {
        if self.url.len() > MAX_TEMPLATE_BYTES {
            return Err(format!("rpc.url is too long: got={} bytes, limit={MAX_TEMPLATE_BYTES}", self.url.len()));
        }
        let literal = self.url.split("${").next().unwrap_or_default();
        if !(self.url.starts_with("${") || literal.starts_with("http://") || literal.starts_with("https://")) {
            return Err("rpc.url must start with http:// or https:// (or a ${NAME} that holds the whole URL)".into());
        }
        if self.headers.len() > MAX_HEADERS {
            return Err(format!("too many rpc.headers: got={}, limit={MAX_HEADERS}", self.headers.len()));
        }
        for (name, value) in &self.headers {
            let token = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !token {
                return Err(format!("rpc.headers: {name:?} is not a header name (letters, digits and `-`, at most 64)"));
            }
            if value.len() > MAX_TEMPLATE_BYTES || value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(format!("rpc.headers.{name}: the value must be one line of at most {MAX_TEMPLATE_BYTES} bytes"));
            }
        }
        if self.methods.len() > MAX_METHODS {
            return Err(format!("too many rpc.methods: got={}, limit={MAX_METHODS}", self.methods.len()));
        }
        if let Some(m) = self.methods.iter().find(|m| !is_method_name(m)) {
            return Err(format!("rpc.methods: {m:?} is not a method name (letters, digits and `_`, at most 128)"));
        }
        match self.requests_per_second {
            Some(r) if !(1..=100_000).contains(&r) => {
                return Err(format!("rpc.requests_per_second must be between 1 and 100000, got {r}"));
            }
            _ => {}
        }
        if !(1..=256).contains(&self.max_in_flight) {
            return Err(format!("rpc.max_in_flight must be between 1 and 256, got {}", self.max_in_flight));
        }
        if !(1..=MAX_BATCH).contains(&self.max_batch) {
            return Err(format!("rpc.max_batch must be between 1 and {MAX_BATCH}, got {}", self.max_batch));
        }
        if !(1..=20).contains(&self.max_attempts) {
            return Err(format!("rpc.max_attempts must be between 1 and 20, got {}", self.max_attempts));
        }
        if !(1_024..=MAX_RESPONSE_BYTES).contains(&self.max_response_bytes) {
            return Err(format!("rpc.max_response_bytes must be between 1024 and {MAX_RESPONSE_BYTES}, got {}", self.max_response_bytes));
        }
        self.references().map(|_| ())
    }
}

/// Whether `name` may be a JSON-RPC method an operator calls.
pub fn is_method_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `${NAME}` references in `template`, in order.
pub fn template_names(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed ${{ in {template:?}"))?;
        let name = &after[..end];
        let ok = !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(format!("${{{name}}} in {template:?} is not an environment name (letters, digits and `_`)"));
        }
        names.push(name.to_owned());
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// What a task's leased worker slot holds, handed to host-side capabilities
/// only: its `env` and its `secret_env` opened. Its `Debug` shows secret
/// names, never values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotGrant {
    /// The slot's index in its pool (`None`: the job has no pool).
    pub slot: Option<u32>,
    pub env: BTreeMap<String, String>,
    /// Environment name → the secret's value.
    pub secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for SlotGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotGrant").field("slot", &self.slot).field("env", &self.env).field("secrets", &self.secrets.keys().collect::<Vec<_>>()).finish()
    }
}

impl Drop for SlotGrant {
    fn drop(&mut self) {
        // Overwrite the values before their memory is freed.
        for value in self.secrets.values_mut() {
            zeroize::Zeroize::zeroize(value);
        }
    }
}

impl SlotGrant {
    /// `template` with each `${NAME}` replaced by the slot's env or secret
    /// `NAME`; an unknown name is an error that names it.
    pub fn render(&self, template: &str) -> Result<String, String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| "unclosed ${".to_owned())?;
            let name = &after[..end];
            let value = self.secrets.get(name).or_else(|| self.env.get(name)).ok_or_else(|| match self.slot {
                Some(slot) => format!("the leased slot {slot} has no env or secret_env named {name}"),
                None => format!("the job has no worker pool, so ${{{name}}} has no value"),
            })?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_from_env_and_secrets_and_name_what_is_missing() {
        let grant = SlotGrant {
            slot: Some(1),
            env: [("RPC_URL".to_owned(), "http://127.0.0.1:8545".to_owned())].into(),
            secrets: [("RPC_KEY".to_owned(), "k-123".to_owned())].into(),
        };
        assert_eq!(grant.render("${RPC_URL}/v2/${RPC_KEY}").unwrap(), "http://127.0.0.1:8545/v2/k-123");
        assert_eq!(grant.render("Bearer ${RPC_KEY}").unwrap(), "Bearer k-123");
        assert_eq!(grant.render("${NOPE}").unwrap_err(), "the leased slot 1 has no env or secret_env named NOPE");
        assert!(!format!("{grant:?}").contains("k-123"), "{grant:?}");
        assert_eq!(template_names("a${B}c${D_1}").unwrap(), ["B", "D_1"]);
        assert!(template_names("${a b}").is_err() && template_names("${open").is_err());
    }

    #[test]
    fn settings_have_defaults_and_bounds() {
        let s = RpcSettings::default();
        assert_eq!((s.url.as_str(), s.max_in_flight, s.max_batch, s.max_attempts), ("${RPC_URL}", 1, 100, 5));
        assert!(s.check().is_ok());
        let bad = |f: fn(&mut RpcSettings)| {
            let mut s = RpcSettings::default();
            f(&mut s);
            s.check().unwrap_err()
        };
        assert!(bad(|s| s.url = "ftp://x".into()).contains("http"));
        assert!(bad(|s| s.max_in_flight = 0).contains("max_in_flight"));
        assert!(bad(|s| s.max_batch = MAX_BATCH + 1).contains("got 1001"));
        assert!(bad(|s| s.requests_per_second = Some(0)).contains("requests_per_second"));
        assert!(bad(|s| s.methods = vec!["eth_call; drop".into()]).contains("not a method name"));
        assert!(bad(|s| { s.headers.insert("X-Key".into(), "a\r\nInjected: 1".into()); }).contains("one line"));
        assert!(bad(|s| s.max_response_bytes = 1).contains("max_response_bytes"));
    }
}
