//! A DAG file error: the file, the line when known, and what is wrong.

use std::fmt;

/// Why a DAG file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DagError {
    pub file: String,
    /// 1-based line of the offending entry, when it can be found.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for DagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl DagError {
    pub(crate) fn from_yaml(file: &str, e: serde_norway::Error) -> Self {
        let line = e.location().map(|l| l.line());
        // serde's text repeats the position at the end; keep the reason only.
        let mut message = e.to_string();
        if let Some(at) = message.find(" at line ") {
            message.truncate(at);
        }
        Self { file: file.to_owned(), line, message }
    }
}

/// A validation finding before it is tied to a line: `anchor` is a YAML
/// `key: value` pair whose first occurrence marks the offending entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub anchor: Option<(String, String)>,
    pub message: String,
}

impl Problem {
    pub fn at(key: impl Into<String>, value: impl Into<String>, message: impl Into<String>) -> Self {
        Self { anchor: Some((key.into(), value.into())), message: message.into() }
    }

    pub fn locate(self, file: &str, text: &str) -> DagError {
        let line = self.anchor.as_ref().and_then(|(key, value)| find_line(text, key, value));
        DagError { file: file.to_owned(), line, message: self.message }
    }
}

/// The first line holding `key: value` (as a mapping entry, a list item or
/// inside a flow mapping), 1-based.
fn find_line(text: &str, key: &str, value: &str) -> Option<usize> {
    let unquote = |v: &str| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
    text.lines().position(|line| {
        let mut rest = line;
        while let Some(at) = rest.find(key) {
            let before = rest[..at].chars().last();
            let after = &rest[at + key.len()..];
            let starts_key = before.is_none_or(|c| c.is_whitespace() || c == '{' || c == ',' || c == '-');
            if starts_key
                && let Some(v) = after.strip_prefix(':') {
                    let v = v.split([',', '}', '#']).next().unwrap_or("");
                    if unquote(v) == value {
                        return true;
                    }
                }
            rest = after;
        }
        false
    })
    .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::find_line;

    #[test]
    fn finds_block_flow_and_list_entries() {
        let text = "jobs:\n  - name: a\n  - name: \"b\"\npublish:\n  - { job: b, output_index: 0, dataset: x }\n";
        assert_eq!(find_line(text, "name", "a"), Some(2));
        assert_eq!(find_line(text, "name", "b"), Some(3));
        assert_eq!(find_line(text, "dataset", "x"), Some(5));
        assert_eq!(find_line(text, "name", "zz"), None);
    }
}
