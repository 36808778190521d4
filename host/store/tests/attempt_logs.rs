//! An attempt's log kept with it, on SQLite and on PostgreSQL: read back
//! with the attempts, the first report's log kept when a report repeats,
//! and an attempt that logged nothing has none.

mod support;

use trace_store::*;

const T0: Millis = 1_000_000;

async fn logs_are_kept_with_their_attempts<S: Store>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let text = "name: logged\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\n    max_attempts: 3\n";
    let d = trace_dag::parse("dag.yaml", text).unwrap();
    let job = s.deploy(org, &d, text, "ann", T0).await.unwrap().job("src");
    s.trigger(job, "r1", Some((0, 10)), "ann", T0).await.unwrap();
    let report = |c: &Claim, outcome: Outcome, log: Option<&str>| Completion {
        auth: c.auth(),
        outcome,
        events: vec![],
        state: vec![],
        partitions: vec![],
        usage: None,
        log: log.map(str::to_owned),
    };
    let first = s.claim(1, T0).await.unwrap().pop().unwrap();
    let failed = Outcome::Failed { retryable: true, message: "node down".into() };
    s.complete_many(&[report(&first, failed.clone(), Some("dialing node-1\nrefused 'é' ✓\n"))], T0 + 10).await.unwrap();
    // The same report again (a retried call) with another log: the first stays.
    s.complete_many(&[report(&first, failed, Some("other"))], T0 + 11).await.unwrap();
    let second = s.claim(1, T0 + 60_000).await.unwrap().pop().expect("the retry");
    s.complete_many(&[report(&second, Outcome::Succeeded, None)], T0 + 60_010).await.unwrap();

    let attempts = s.attempts(first.task).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].log.as_deref(), Some("dialing node-1\nrefused 'é' ✓\n"));
    assert_eq!(attempts[1].log, None);
}
on_both!(logs_are_kept_with_their_attempts);
