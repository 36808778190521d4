//! Per-org quotas at the claim, on SQLite and on PostgreSQL: an org at a
//! limit waits (its tasks stay pending, nothing fails) while other orgs'
//! work is claimed past it.

mod support;

use trace_store::*;

/// Inside an hour, a second past its start.
const T0: Millis = 400_000 * HOUR_MS + 1_000;

fn dag(name: &str) -> (trace_dag::Dag, String) {
    let text = format!("name: {name}\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\n    scaling: {{ max_concurrency: 100 }}\n");
    (trace_dag::parse("dag.yaml", &text).unwrap(), text)
}

/// An org with `n` pending source tasks, available at `at`.
async fn org_with_tasks<S: Store>(s: &S, name: &str, n: u64, at: Millis) -> OrgId {
    let org = s.create_org(name, at).await.unwrap();
    let (d, text) = dag(name);
    let job = s.deploy(org, &d, &text, "ann", at).await.unwrap().job("src");
    for i in 0..n {
        s.trigger(job, &format!("r{i}"), Some((i * 10, i * 10 + 10)), "ann", at).await.unwrap();
    }
    org
}

async fn orgs_of<S: Store>(s: &S, claims: &[Claim]) -> Vec<OrgId> {
    let mut out = Vec::new();
    for c in claims {
        out.push(s.task(c.task).await.unwrap().org);
    }
    out
}

async fn finish<S: Store>(s: &S, c: &Claim) {
    let auth = AttemptAuth { task: c.task, attempt: c.attempt, credential: c.credential.clone() };
    let done = Completion { auth, outcome: Outcome::Succeeded, events: vec![], state: vec![], partitions: vec![], usage: None, log: None };
    s.complete_many(&[done], T0 + 100).await.unwrap().pop().unwrap().unwrap();
}

async fn running_limit_holds_and_others_pass<S: Store + Quotas>(s: S) {
    let busy = org_with_tasks(&s, "busy", 10, T0).await;
    let other = org_with_tasks(&s, "other", 3, T0 + 1).await;
    s.set_quota(busy, &Quota { max_running: Some(2), ..Quota::default() }, "root", T0).await.unwrap();

    // The busy org's ten tasks come first; two are claimed, the rest wait.
    let first = s.claim(4, T0 + 10).await.unwrap();
    assert_eq!(orgs_of(&s, &first).await, vec![busy, busy]);
    // At its limit it is left out, so the other org's work is not stuck behind it.
    let second = s.claim(4, T0 + 11).await.unwrap();
    assert_eq!(orgs_of(&s, &second).await, vec![other, other, other]);
    assert!(s.claim(4, T0 + 12).await.unwrap().is_empty());
    assert_eq!(s.quota_usage(busy, T0 + 12).await.unwrap().running, 2);
    let counts = s.status_counts(busy).await.unwrap();
    assert!(counts.contains(&(TaskStatus::Pending, 8)), "waiting, not failed: {counts:?}");

    finish(&s, &first[0]).await;
    let third = s.claim(4, T0 + 20).await.unwrap();
    assert_eq!(orgs_of(&s, &third).await, vec![busy], "one place freed, one task started");

    // Without a quota the org runs freely again; the change is audited.
    s.set_quota(busy, &Quota::default(), "root", T0 + 30).await.unwrap();
    assert_eq!(s.quota(busy).await.unwrap(), None);
    assert_eq!(s.claim(100, T0 + 31).await.unwrap().len(), 7);
}
on_both!(running_limit_holds_and_others_pass);

async fn hourly_starts_wait_for_the_next_hour<S: Store + Quotas>(s: S) {
    let org = org_with_tasks(&s, "hourly", 5, T0).await;
    s.set_quota(org, &Quota { max_tasks_per_hour: Some(3), ..Quota::default() }, "root", T0).await.unwrap();
    let claims = s.claim(10, T0 + 10).await.unwrap();
    assert_eq!(claims.len(), 3);
    for c in &claims {
        finish(&s, c).await;
    }
    assert!(s.claim(10, T0 + 20).await.unwrap().is_empty(), "three started this hour");
    assert_eq!(s.quota_usage(org, T0 + 20).await.unwrap().started_this_hour, 3);
    let next_hour = hour_of(T0) + HOUR_MS + 5;
    assert_eq!(s.claim(10, next_hour).await.unwrap().len(), 2, "a new hour, new room");
    assert_eq!(s.quota_usage(org, next_hour).await.unwrap().started_this_hour, 2);
}
on_both!(hourly_starts_wait_for_the_next_hour);

async fn stored_bytes_at_the_limit_stop_new_work<S: Store + Quotas>(s: S) {
    let org = org_with_tasks(&s, "full", 2, T0).await;
    s.set_quota(org, &Quota { max_stored_bytes: Some(0), ..Quota::default() }, "root", T0).await.unwrap();
    assert!(s.claim(10, T0 + 10).await.unwrap().is_empty(), "0 bytes stored is at a 0-byte limit");
    let quota = Quota { max_stored_bytes: Some(1 << 30), max_queries: Some(2), fuel_per_task: Some(5_000_000), ..Quota::default() };
    s.set_quota(org, &quota, "root", T0).await.unwrap();
    let claimed = s.claim(10, T0 + 11).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(s.quota(org).await.unwrap(), Some(quota));
    // The org's fuel budget travels with each of its tasks.
    assert_eq!(s.fetch(claimed[0].task).await.unwrap().fuel, Some(5_000_000));
    assert_eq!(s.quota_usage(org, T0 + 11).await.unwrap().stored_bytes, 0);
}
on_both!(stored_bytes_at_the_limit_stop_new_work);
