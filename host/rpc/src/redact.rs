//! Secret values out of text the guest sees. A hostile operator may call a
//! method that echoes its request, or provoke an error that quotes the URL:
//! whatever comes back passes through here first.

/// What replaces a secret value.
pub const REDACTED: &str = "[redacted]";

/// Replaces each of a slot's secret values (as is, and percent-encoded, the
/// way a URL carries it) with [`REDACTED`].
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.needles.len())
    }
}

impl Redactor {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles = Vec::new();
        for v in values.into_iter().filter(|v| !v.is_empty()) {
            let encoded = percent_encode(v);
            if encoded != v {
                needles.push(encoded);
            }
            needles.push(v.to_owned());
        }
        // Longest first, so a value inside another is not half replaced.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Self { needles }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` without any secret value.
    pub fn scrub(&self, text: String) -> String {
        let mut text = text;
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), REDACTED);
            }
        }
        text
    }
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_as_is_and_percent_encoded() {
        let r = Redactor::new(["k/ey 1", "abc123"]);
        assert_eq!(r.scrub("url http://h/v2/k%2Fey%201?x=abc123".into()), "url http://h/v2/[redacted]?x=[redacted]");
        assert_eq!(r.scrub("raw k/ey 1.".into()), "raw [redacted].");
        assert_eq!(r.scrub("nothing here".into()), "nothing here");
        assert!(Redactor::new([""]).is_empty());
        assert!(!format!("{r:?}").contains("abc123"));
    }
}
