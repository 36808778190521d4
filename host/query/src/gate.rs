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

    /// A place for one more query of `org`, if it has fewer than its cap
    /// running: `cap` is the org's own (its quota), else the server's.
    pub fn enter(self: &Arc<Self>, org: OrgId, cap: Option<usize>) -> Result<Permit, QueryError> {
        let limit = cap.unwrap_or(self.per_org);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let n = running.entry(org).or_insert(0);
        if *n >= limit {
            return Err(QueryError::TooManyQueries { running: *n, limit });
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
        let a = gate.enter(1, None).unwrap();
        let _b = gate.enter(1, None).unwrap();
        match gate.enter(1, None) {
            Err(QueryError::TooManyQueries { running: 2, limit: 2 }) => {}
            other => panic!("expected the cap, got {other:?}"),
        }
        let _other_org = gate.enter(2, None).unwrap();
        drop(a);
        assert_eq!(gate.running(1), 1);
        gate.enter(1, None).unwrap();
    }

    #[test]
    fn an_orgs_own_cap_overrides_the_servers() {
        let gate = Gate::new(5);
        let _a = gate.enter(1, Some(1)).unwrap();
        match gate.enter(1, Some(1)) {
            Err(QueryError::TooManyQueries { running: 1, limit: 1 }) => {}
            other => panic!("expected the org's cap, got {other:?}"),
        }
        assert!(matches!(gate.enter(1, Some(0)), Err(QueryError::TooManyQueries { limit: 0, .. })));
        gate.enter(2, None).unwrap();
    }
}
