//! Operator state as one task sees it: reads go to the job's state
//! underneath, writes are buffered and handed back only if the task
//! succeeds. Every write is charged as it is made: distinct keys and bytes
//! this task writes (each becomes a database row to commit), and the job's
//! whole state as it would be after the task (every task of the job is
//! handed all of it).

use std::collections::HashMap;

use crate::capabilities::{StateStore, StateTotals};
use crate::limits::{LimitExceeded, Limits};

pub struct StateOverlay {
    base: Box<dyn StateStore>,
    writes: HashMap<String, Option<Vec<u8>>>,
    /// Keys plus values of `writes` (a delete counts its key).
    written_bytes: u64,
    /// The job's totals before this task, read on the first write.
    base_totals: Option<StateTotals>,
    /// What this task's writes add to the job's totals (negative: removes).
    key_delta: i64,
    byte_delta: i64,
}

impl StateOverlay {
    pub(crate) fn new(base: Box<dyn StateStore>) -> Self {
        Self { base, writes: HashMap::new(), written_bytes: 0, base_totals: None, key_delta: 0, byte_delta: 0 }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(v) => v.clone(),
            None => self.base.get(key),
        }
    }

    pub(crate) fn put(&mut self, key: String, value: Vec<u8>, limits: &Limits) -> Result<(), LimitExceeded> {
        self.write(key, Some(value), limits)
    }

    pub(crate) fn delete(&mut self, key: String, limits: &Limits) -> Result<(), LimitExceeded> {
        self.write(key, None, limits)
    }

    /// Charge and buffer one write; a write over a limit changes nothing.
    fn write(&mut self, key: String, value: Option<Vec<u8>>, limits: &Limits) -> Result<(), LimitExceeded> {
        let earlier = self.writes.get(&key);
        if earlier.is_none() && self.writes.len() >= limits.max_state_keys {
            return Err(LimitExceeded::StateKeys { got: self.writes.len() + 1, limit: limits.max_state_keys });
        }
        let new_len = value.as_ref().map(Vec::len);
        let row = |len: Option<usize>| (key.len() + len.unwrap_or(0)) as u64;
        let written_bytes = self.written_bytes - earlier.map_or(0, |v| row(v.as_ref().map(Vec::len))) + row(new_len);
        if written_bytes > limits.max_state_bytes {
            return Err(LimitExceeded::StateBytes { got: written_bytes, limit: limits.max_state_bytes });
        }

        // The job's totals: what the key held before (this task's earlier
        // write, else the base), replaced by what it holds now.
        let before = match earlier {
            Some(v) => v.as_ref().map(Vec::len),
            None => self.base.value_len(&key),
        };
        let held = |len: Option<usize>| len.map_or(0, |l| (key.len() + l) as i64);
        let key_delta = self.key_delta - i64::from(before.is_some()) + i64::from(new_len.is_some());
        let byte_delta = self.byte_delta - held(before) + held(new_len);
        let base = *self.base_totals.get_or_insert_with(|| self.base.totals());
        let keys = (base.keys as i64 + key_delta).max(0) as usize;
        let bytes = (base.bytes as i64 + byte_delta).max(0) as u64;
        // Only growth is refused: a job over its limit can still shrink.
        if new_len.is_some() {
            if keys > limits.max_job_state_keys && key_delta > self.key_delta {
                return Err(LimitExceeded::JobStateKeys { got: keys, limit: limits.max_job_state_keys });
            }
            if bytes > limits.max_job_state_bytes && byte_delta > self.byte_delta {
                return Err(LimitExceeded::JobStateBytes { got: bytes, limit: limits.max_job_state_bytes });
            }
        }
        (self.written_bytes, self.key_delta, self.byte_delta) = (written_bytes, key_delta, byte_delta);
        self.writes.insert(key, value);
        Ok(())
    }

    pub(crate) fn into_writes(self) -> HashMap<String, Option<Vec<u8>>> {
        self.writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryState;

    fn overlay(base: &[(&str, usize)]) -> StateOverlay {
        let base = base.iter().map(|(k, n)| (k.to_string(), vec![0u8; *n])).collect();
        StateOverlay::new(Box::new(MemoryState(base)))
    }

    #[test]
    fn distinct_keys_per_task_are_bounded_and_rewrites_are_free() {
        let limits = Limits::default().with_max_state_keys(2);
        let mut o = overlay(&[]);
        o.put("a".into(), vec![1], &limits).unwrap();
        o.put("b".into(), vec![1], &limits).unwrap();
        o.put("a".into(), vec![2], &limits).unwrap();
        o.delete("b".into(), &limits).unwrap();
        assert_eq!(o.put("c".into(), vec![1], &limits), Err(LimitExceeded::StateKeys { got: 3, limit: 2 }));
        assert_eq!(o.get("c"), None);
    }

    #[test]
    fn bytes_per_task_count_what_is_held_now() {
        let limits = Limits::default().with_max_state_bytes(10);
        let mut o = overlay(&[]);
        o.put("k".into(), vec![0; 9], &limits).unwrap();
        // Overwriting replaces the earlier bytes rather than adding to them.
        o.put("k".into(), vec![0; 9], &limits).unwrap();
        assert_eq!(o.put("j".into(), vec![], &limits), Err(LimitExceeded::StateBytes { got: 11, limit: 10 }));
    }

    #[test]
    fn the_jobs_whole_state_is_bounded_after_the_task() {
        let limits = Limits::default().with_max_job_state_bytes(100).with_max_job_state_keys(3);
        let mut o = overlay(&[("old", 90)]);
        o.put("new".into(), vec![0; 4], &limits).unwrap(); // 93 + 7 = 100
        assert_eq!(o.put("more".into(), vec![0; 1], &limits), Err(LimitExceeded::JobStateBytes { got: 105, limit: 100 }));
        // Shrinking the old value makes room.
        o.put("old".into(), vec![0; 10], &limits).unwrap();
        o.put("more".into(), vec![0; 1], &limits).unwrap();
        assert_eq!(o.put("four".into(), vec![], &limits), Err(LimitExceeded::JobStateKeys { got: 4, limit: 3 }));
        o.delete("old".into(), &limits).unwrap();
        o.put("four".into(), vec![], &limits).unwrap();
    }

    #[test]
    fn a_job_over_its_limit_may_still_shrink() {
        let limits = Limits::default().with_max_job_state_bytes(10);
        let mut o = overlay(&[("big", 50)]);
        o.put("big".into(), vec![0; 40], &limits).unwrap();
        o.delete("big".into(), &limits).unwrap();
        assert_eq!(o.into_writes().get("big"), Some(&None));
    }
}
