//! The per-org cap on queries running at once in one server: a query over
//! it is refused straight away (the API answers 429) rather than queued
//! behind a tenant's long scans.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use trace_store::OrgId;

use crate::error::QueryError;

#[derive(Debug)]
pub struct Gate {
    per_org: usize,
    running: Mutex<HashMap<OrgId, usize>>,
}

/// A running query's place; dropping it frees the place.
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
    org: OrgId,
}

impl Gate {
    pub fn new(per_org: usize) -> Arc<Self> {
        Arc::new(Gate { per_org, running: Mutex::new(HashMap::new()) })
    }

    /// A place for one more query of `org`, if it has fewer than the cap running.
    pub fn enter(self: &Arc<Self>, org: OrgId) -> Result<Permit, QueryError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let n = running.entry(org).or_insert(0);
        if *n >= self.per_org {
            return Err(QueryError::TooManyQueries { running: *n, limit: self.per_org });
        }
        *n += 1;
        Ok(Permit { gate: self.clone(), org })
    }

    /// Queries of `org` running now.
    #[cfg(test)]
    pub fn running(&self, org: OrgId) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).get(&org).copied().unwrap_or(0)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut running = self.gate.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&self.org) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.org);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_over_its_cap_is_refused_and_others_are_not() {
        let gate = Gate::new(2);
        let a = gate.enter(1).unwrap();
        let _b = gate.enter(1).unwrap();
        match gate.enter(1) {
            Err(QueryError::TooManyQueries { running: 2, limit: 2 }) => {}
            other => panic!("expected the cap, got {other:?}"),
        }
        let _other_org = gate.enter(2).unwrap();
        drop(a);
        assert_eq!(gate.running(1), 1);
        gate.enter(1).unwrap();
    }
}
