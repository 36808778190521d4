//! `range_aggregator`: turns a stream of small ranges (say one event per
//! block range) into deterministic manifests of fixed-size windows (say one
//! per 10,000 blocks). A window `[w, w + size)` with `w` a multiple of
//! `config.range_size` is emitted exactly once, by the task whose input
//! range completes its coverage, whatever order the ranges arrive in.
//!
//! Arrival order is not the platform's promise: a source task whose worker
//! dies is retried after its attempt times out, and by then the next range
//! has often been delivered. So coverage is durable state, not a cursor:
//! the covered ranges, merged into disjoint intervals, the lowest kept as
//! `origin`..`next` and the others (ahead of it or behind it) as `ahead`.
//! A range already covered (a redelivery) is ignored; one that partly
//! overlaps what is covered conflicts and fails the task, naming both.
//! Windows partly before the first range ever seen are emitted only if the
//! rest of them arrives later.

use trace_guest::prelude::*;

const NEXT: &str = "next";
const ORIGIN: &str = "origin";
const AHEAD: &str = "ahead";

/// Disjoint covered intervals the state may hold: each gap is a range still
/// in flight, so thousands of them mean something upstream is wrong.
const MAX_INTERVALS: usize = 10_000;

struct RangeAggregator;

impl Operator for RangeAggregator {
    fn run(ctx: &TaskContext, event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let size = config::u64_field(&config, "range_size")?;
        if size == 0 {
            return Err(fatal("config.range_size must be at least 1"));
        }
        let Range { start, end } = event.range.ok_or_else(|| fatal("range_aggregator needs input events with a range"))?;
        if start >= end {
            return Err(fatal(format!("empty or backwards input range [{start}, {end})")));
        }
        let mut covered = load()?;
        let merged = match cover(&mut covered, start, end) {
            Coverage::Duplicate(within) => {
                log::info(&format!("range [{start}, {end}) already aggregated (within [{}, {})); ignoring duplicate", within.0, within.1));
                return Ok(());
            }
            Coverage::Conflict(other) => {
                return Err(fatal(format!(
                    "input range [{start}, {end}) overlaps the already aggregated [{}, {}) without matching it",
                    other.0, other.1
                )));
            }
            Coverage::Added(merged) => merged,
        };
        if covered.len() > MAX_INTERVALS {
            return Err(fatal(format!(
                "too many separate ranges waiting for the ranges between them: got={}, limit={MAX_INTERVALS}",
                covered.len()
            )));
        }
        for w in completed_windows(merged, (start, end), size) {
            events::emit(Event::range(0, w, w + size))?;
        }
        store(&covered)
    }
}

enum Coverage {
    /// Already covered by this interval.
    Duplicate((u64, u64)),
    /// Partly overlaps this covered interval.
    Conflict((u64, u64)),
    /// Added; this is the covered interval it is now part of.
    Added((u64, u64)),
}

/// Add `[start, end)` to the sorted, disjoint, non-adjacent `covered`.
fn cover(covered: &mut Vec<(u64, u64)>, start: u64, end: u64) -> Coverage {
    if let Some(&within) = covered.iter().find(|(s, e)| *s <= start && end <= *e) {
        return Coverage::Duplicate(within);
    }
    if let Some(&other) = covered.iter().find(|(s, e)| start < *e && *s < end) {
        return Coverage::Conflict(other);
    }
    // Merge with the intervals it touches on either side.
    let (mut s, mut e) = (start, end);
    covered.retain(|&(cs, ce)| {
        let touches = ce == s || cs == e;
        if touches {
            s = s.min(cs);
            e = e.max(ce);
        }
        !touches
    });
    let at = covered.partition_point(|&(cs, _)| cs < s);
    covered.insert(at, (s, e));
    Coverage::Added((s, e))
}

/// Windows `[w, w + size)` inside `merged` that `added` overlaps: before it
/// arrived, each had a part uncovered, so each is complete only now.
fn completed_windows(merged: (u64, u64), added: (u64, u64), size: u64) -> impl Iterator<Item = u64> {
    let first = merged.0.div_ceil(size) * size;
    let from = first.max(added.0 / size * size);
    (0..)
        .map(move |i| from + i * size)
        .take_while(move |&w| w < added.1 && w + size <= merged.1)
        .filter(move |&w| w + size > added.0)
}

fn load() -> Result<Vec<(u64, u64)>, OperatorError> {
    let (Some(origin), Some(next)) = (state::get_u64(ORIGIN)?, state::get_u64(NEXT)?) else {
        return Ok(Vec::new());
    };
    let mut covered = vec![(origin, next)];
    if let Some(bytes) = state::get(AHEAD) {
        if bytes.len() % 16 != 0 {
            return Err(fatal(format!("state {AHEAD:?} is not a list of ranges ({} bytes)", bytes.len())));
        }
        for pair in bytes.chunks_exact(16) {
            let word = |at: usize| u64::from_le_bytes(pair[at..at + 8].try_into().expect("8 bytes"));
            covered.push((word(0), word(8)));
        }
        covered.sort_unstable();
    }
    Ok(covered)
}

/// The lowest interval as `origin`..`next` (as an in-order stream always
/// kept it), the rest as `ahead`.
fn store(covered: &[(u64, u64)]) -> Result<(), OperatorError> {
    let Some((&(origin, next), rest)) = covered.split_first() else { return Ok(()) };
    state::put_u64(ORIGIN, origin)?;
    state::put_u64(NEXT, next)?;
    if rest.is_empty() {
        state::delete(AHEAD);
        return Ok(());
    }
    let bytes: Vec<u8> = rest.iter().flat_map(|(s, e)| s.to_le_bytes().into_iter().chain(e.to_le_bytes())).collect();
    state::put(AHEAD, &bytes)
}

trace_guest::export_operator!(RangeAggregator);

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed ranges in `order`; the windows emitted, in emission order.
    fn windows(order: &[(u64, u64)], size: u64) -> Vec<u64> {
        let mut covered = Vec::new();
        let mut out = Vec::new();
        for &(s, e) in order {
            if let Coverage::Added(merged) = cover(&mut covered, s, e) {
                out.extend(completed_windows(merged, (s, e), size));
            }
        }
        out
    }

    #[test]
    fn in_order_and_shuffled_inputs_emit_the_same_windows_once() {
        let ranges: Vec<_> = (0..35).map(|i| (i * 1000, (i + 1) * 1000)).collect();
        let in_order = windows(&ranges, 10_000);
        assert_eq!(in_order, vec![0, 10_000, 20_000]);
        let mut reversed = ranges.clone();
        reversed.reverse();
        let mut got = windows(&reversed, 10_000);
        got.sort_unstable();
        assert_eq!(got, in_order);
        // One range held back (a retried source task) and delivered last.
        let mut held: Vec<_> = ranges.iter().copied().filter(|r| r.0 != 12_000).collect();
        held.push((12_000, 13_000));
        let got = windows(&held, 10_000);
        assert_eq!(got, vec![0, 20_000, 10_000]);
        // Redelivered ranges change nothing.
        let mut twice = ranges.clone();
        twice.extend(ranges.iter().copied());
        assert_eq!(windows(&twice, 10_000), in_order);
    }

    #[test]
    fn a_window_begun_before_the_first_range_waits_for_the_rest() {
        assert_eq!(windows(&[(5_000, 20_000)], 10_000), vec![10_000]);
        assert_eq!(windows(&[(5_000, 20_000), (0, 5_000)], 10_000), vec![10_000, 0]);
    }

    #[test]
    fn partial_overlaps_conflict_and_duplicates_are_recognised() {
        let mut covered = Vec::new();
        assert!(matches!(cover(&mut covered, 0, 10), Coverage::Added((0, 10))));
        assert!(matches!(cover(&mut covered, 20, 30), Coverage::Added((20, 30))));
        assert!(matches!(cover(&mut covered, 2, 5), Coverage::Duplicate((0, 10))));
        assert!(matches!(cover(&mut covered, 5, 15), Coverage::Conflict((0, 10))));
        assert!(matches!(cover(&mut covered, 10, 20), Coverage::Added((0, 30))));
        assert_eq!(covered, vec![(0, 30)]);
    }
}
