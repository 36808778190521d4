//! Admission of a query's text: one read-only statement. DuckDB's lockdown
//! (see `engine`) is what makes a query harmless; this check turns what it
//! would refuse anyway, and statements that would only waste the query's
//! DuckDB, into a clear error before anything is set up.

use crate::error::QueryError;

/// Longest query text accepted.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// Statements a query may be.
const READ_ONLY: &[&str] = &["select", "with", "from", "values", "table", "explain", "describe", "summarize", "show", "pivot", "unpivot"];

/// Check `sql` is one read-only statement; returns it without a trailing `;`.
pub fn admit(sql: &str) -> Result<&str, QueryError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(QueryError::TooLong { got: sql.len(), limit: MAX_SQL_BYTES });
    }
    let body = skip_blank(sql);
    if body.is_empty() {
        return Err(QueryError::Empty);
    }
    let word: String = body.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_ascii_lowercase();
    let opens_subquery = body.starts_with('(');
    if !opens_subquery && !READ_ONLY.contains(&word.as_str()) {
        let got = if word.is_empty() { body.chars().take(16).collect() } else { word.to_ascii_uppercase() };
        return Err(QueryError::NotReadOnly { got });
    }
    if word == "explain" {
        // EXPLAIN ANALYZE runs what it explains: the statement after it
        // must pass too.
        let rest = skip_blank(&body["explain".len()..]);
        let rest = rest.strip_prefix_ignore_case("analyze").map_or(rest, skip_blank);
        admit(rest)?;
    }
    let sql = sql.trim_end().trim_end_matches(';');
    if has_second_statement(sql) {
        return Err(QueryError::SeveralStatements);
    }
    Ok(sql)
}

/// Whether a `;` outside strings, quoted names and comments is followed by
/// anything but blanks and comments. (DuckDB would run every statement but
/// the last one and return that one's rows.)
fn has_second_statement(sql: &str) -> bool {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                // An E'…' string escapes with backslashes; others double the quote.
                let escapes = i > 0 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !b[i - 2].is_ascii_alphanumeric());
                i += 1;
                while i < b.len() {
                    if escapes && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += 1;
                }
            }
            b'$' => {
                // $tag$ … $tag$ (and $$ … $$) quoting.
                let tag_end = b[i + 1..].iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_')).map(|n| i + 1 + n);
                if let Some(end) = tag_end.filter(|&e| b[e] == b'$') {
                    let tag = &sql[i..=end];
                    i = sql[end + 1..].find(tag).map_or(b.len(), |n| end + 1 + n + tag.len() - 1);
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 1);
            }
            b';' => return !only_blank(&sql[i + 1..]),
            _ => {}
        }
        i += 1;
    }
    false
}

/// Whether `s` is nothing but blanks, comments and empty statements.
fn only_blank(mut s: &str) -> bool {
    loop {
        s = skip_blank(s);
        match s.strip_prefix(';') {
            Some(rest) => s = rest,
            None => return s.is_empty(),
        }
    }
}

/// `s` after leading whitespace and comments (`-- …` and `/* … */`).
fn skip_blank(mut s: &str) -> &str {
    loop {
        let t = s.trim_start();
        if let Some(rest) = t.strip_prefix("--") {
            s = rest.find('\n').map_or("", |i| &rest[i + 1..]);
        } else if let Some(rest) = t.strip_prefix("/*") {
            s = rest.find("*/").map_or("", |i| &rest[i + 2..]);
        } else {
            return t;
        }
    }
}

trait StripIgnoreCase {
    fn strip_prefix_ignore_case(&self, prefix: &str) -> Option<&str>;
}

impl StripIgnoreCase for str {
    fn strip_prefix_ignore_case(&self, prefix: &str) -> Option<&str> {
        let head = self.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix).then(|| &self[prefix.len()..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_statements_pass_and_others_are_named() {
        for ok in ["SELECT 1", "  -- a comment\n with x as (select 1) select * from x;", "/* c */ FROM t", "(select 1)", "explain select 1", "EXPLAIN ANALYZE SELECT 1"] {
            assert!(admit(ok).is_ok(), "{ok}");
        }
        for (bad, word) in [("COPY t TO 'x'", "COPY"), ("attach 'x'", "ATTACH"), ("INSTALL httpfs", "INSTALL"), ("load httpfs", "LOAD"), ("SET threads=8", "SET"), ("RESET threads", "RESET"), ("PRAGMA version", "PRAGMA"), ("CREATE TABLE t AS SELECT 1", "CREATE"), ("/* x */ call pragma_version()", "CALL"), ("EXPLAIN ANALYZE COPY t TO 'x'", "COPY")] {
            match admit(bad) {
                Err(QueryError::NotReadOnly { got }) => assert_eq!(got, word, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(admit(" -- nothing\n "), Err(QueryError::Empty)));
        for several in ["SELECT 1; SELECT 2", "select ';'; copy t to 'x'", "SELECT $$;$$; DROP TABLE t", "SELECT 1 /* ; */; ATTACH 'x'", "SELECT E'\\';'; SET x=1"] {
            assert!(matches!(admit(several), Err(QueryError::SeveralStatements)), "{several}");
        }
        for one in ["SELECT ';'", "SELECT \"a;b\" FROM t", "SELECT $x$;$x$", "SELECT 1 -- ; SELECT 2", "SELECT 1 /* ; */", "SELECT 'it''s;'", "SELECT 1;;  -- done"] {
            assert!(admit(one).is_ok(), "{one}");
        }
        assert_eq!(admit("select 1 ;  ").unwrap(), "select 1 ");
    }
}
