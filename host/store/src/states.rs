//! Named states for people: what a task or an attempt is doing, in the
//! words `trace tasks`, `trace task ID`, the API and the console share. A
//! worker that died, a database that restarted (its reports never landed)
//! and a queue message delivered twice each show as a state, not silence.

use crate::model::{AttemptView, Millis, TaskStatus, TaskView};

/// What an attempt with no report by its deadline most likely met.
pub const NO_REPORT: &str = "no report by its deadline (its worker died or stalled, or could not reach the control plane)";

impl TaskView {
    /// `retrying` for a task waiting for another attempt; otherwise its status.
    pub fn state(&self) -> &'static str {
        match self.status {
            TaskStatus::Pending if self.attempts > 0 => "retrying",
            s => s.as_str(),
        }
    }
}

impl AttemptView {
    /// The attempt's state at `now`, with the duplicates it saw.
    pub fn state(&self, now: Millis) -> String {
        let base = match (self.outcome.as_deref(), self.finished_at) {
            (Some("timeout"), _) => format!("timed out: {NO_REPORT}"),
            (Some(outcome), _) => outcome.to_owned(),
            (None, None) if now > self.deadline_at => "overdue: past its deadline with no report; it is retried shortly".to_owned(),
            (None, None) => "running".to_owned(),
            (None, Some(_)) => "ended".to_owned(),
        };
        match self.duplicate_deliveries {
            0 => base,
            1 => format!("{base}; 1 duplicate queue delivery dropped"),
            n => format!("{base}; {n} duplicate queue deliveries dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(outcome: Option<&str>, finished_at: Option<Millis>, duplicate_deliveries: i32) -> AttemptView {
        AttemptView { attempt: 1, started_at: 0, deadline_at: 1_000, finished_at, outcome: outcome.map(str::to_owned), log: None, duplicate_deliveries }
    }

    #[test]
    fn each_failure_mode_has_a_name() {
        assert_eq!(attempt(None, None, 0).state(500), "running");
        assert!(attempt(None, None, 0).state(1_500).starts_with("overdue: "));
        assert_eq!(attempt(Some("timeout"), Some(2_000), 0).state(3_000), format!("timed out: {NO_REPORT}"));
        assert_eq!(attempt(Some("succeeded"), Some(900), 1).state(3_000), "succeeded; 1 duplicate queue delivery dropped");
        assert_eq!(attempt(Some("succeeded"), Some(900), 2).state(3_000), "succeeded; 2 duplicate queue deliveries dropped");
    }
}
