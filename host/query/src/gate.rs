//! The caps on queries running at once in one server: per org (a query over
//! it is refused straight away, the API answers 429, rather than queued
//! behind a tenant's long scans) and in total (each query is a process that
//! may reach its address-space limit, so the total bounds the server's
//! memory whatever the number of orgs; the API answers 503).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use trace_store::OrgId;

use crate::error::QueryError;

#[derive(Debug)]
pub struct Gate {
    per_org: usize,
    total: usize,
    running: Mutex<HashMap<OrgId, usize>>,
}

/// A running query's place; dropping it frees the place.
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
    org: OrgId,
}

impl Gate {
    /// `per_org` queries of one org (unless its quota says otherwise) and
    /// `total` of all orgs at once.
    pub fn new(per_org: usize, total: usize) -> Arc<Self> {
        Arc::new(Gate { per_org, total, running: Mutex::new(HashMap::new()) })
    }

    /// A place for one more query of `org`, if it has fewer than its cap
    /// running (`cap` is the org's own, its quota, else the server's) and
    /// the server fewer than its total.
    pub fn enter(self: &Arc<Self>, org: OrgId, cap: Option<usize>) -> Result<Permit, QueryError> {
        let limit = cap.unwrap_or(self.per_org);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let n = running.get(&org).copied().unwrap_or(0);
        if n >= limit {
            return Err(QueryError::TooManyQueries { running: n, limit });
        }
        // Summed over the orgs with a query running: at most `total` of them.
        let all: usize = running.values().sum();
        if all >= self.total {
            return Err(QueryError::ServerBusy { running: all, limit: self.total });
        }
        running.insert(org, n + 1);
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
        let gate = Gate::new(2, 10);
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
        let gate = Gate::new(5, 10);
        let _a = gate.enter(1, Some(1)).unwrap();
        match gate.enter(1, Some(1)) {
            Err(QueryError::TooManyQueries { running: 1, limit: 1 }) => {}
            other => panic!("expected the org's cap, got {other:?}"),
        }
        assert!(matches!(gate.enter(1, Some(0)), Err(QueryError::TooManyQueries { limit: 0, .. })));
        gate.enter(2, None).unwrap();
    }

    #[test]
    fn the_servers_total_holds_whatever_the_number_of_orgs() {
        let gate = Gate::new(2, 3);
        let first = gate.enter(1, None).unwrap();
        let _others: Vec<Permit> = (2..=3).map(|org| gate.enter(org, None).unwrap()).collect();
        match gate.enter(4, None) {
            Err(QueryError::ServerBusy { running: 3, limit: 3 }) => {}
            other => panic!("expected the server's total, got {other:?}"),
        }
        // An org's own quota does not lift the server's total.
        assert!(matches!(gate.enter(4, Some(100)), Err(QueryError::ServerBusy { running: 3, limit: 3 })));
        // Org 1 is under its own cap; the server is not.
        assert!(matches!(gate.enter(1, None), Err(QueryError::ServerBusy { .. })));
        drop(first);
        let _fourth = gate.enter(4, None).unwrap();
        assert_eq!((gate.running(4), gate.running(1)), (1, 0), "a refused query took no place");
        assert!(matches!(gate.enter(1, None), Err(QueryError::ServerBusy { running: 3, limit: 3 })));
    }
}
