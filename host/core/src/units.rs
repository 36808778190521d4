//! Sizes and durations as people write them (`256MiB`, `30s`), for the CLI
//! and DAG files alike.

use std::time::Duration;

/// Parse `512`, `64KiB`, `256MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size like 256MiB"))?;
    let mul = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {s:?}; use B, KiB, MiB or GiB")),
    };
    n.checked_mul(mul).ok_or_else(|| format!("{s:?} is too large"))
}

/// Parse `500ms`, `30s`, `2m`, `24h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 30s"))?;
    let seconds = |per: u64| n.checked_mul(per).map(Duration::from_secs).ok_or_else(|| format!("{s:?} is too long a duration"));
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => seconds(60),
        "h" => seconds(3_600),
        "d" => seconds(86_400),
        other => Err(format!("unknown duration unit {other:?} in {s:?}; use ms, s, m, h or d")),
    }
}

/// Parse `START..END` (a half-open range; `START <= END`).
pub fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once("..").ok_or_else(|| format!("{s:?} is not a range like 0..1000"))?;
    let start: u64 = a.trim().parse().map_err(|_| format!("range start {a:?} is not a number"))?;
    let end: u64 = b.trim().parse().map_err(|_| format!("range end {b:?} is not a number"))?;
    if start > end {
        return Err(format!("range is backwards: start={start} > end={end}"));
    }
    Ok((start, end))
}

/// [`parse_range`] that also refuses an empty range.
pub fn parse_nonempty_range(s: &str) -> Result<(u64, u64), String> {
    match parse_range(s)? {
        (start, end) if start == end => Err(format!("range {start}..{end} is empty")),
        r => Ok(r),
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[i]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_durations() {
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert!(parse_bytes("12 parsecs").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration(&format!("{}d", u64::MAX)).unwrap_err().contains("too long"));
        assert!(parse_duration("soon").is_err());
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(parse_range("3..9"), Ok((3, 9)));
        assert!(parse_range("9..3").unwrap_err().contains("backwards: start=9 > end=3"));
        assert!(parse_nonempty_range("4..4").is_err());
        assert!(parse_range("x..3").is_err() && parse_range("3").is_err());
    }
}
