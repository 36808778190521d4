//! The control plane's store: the same behaviour suite on SQLite and on
//! PostgreSQL (a throwaway cluster on 127.0.0.1).

mod support;

use trace_store::*;

const DAG: &str = r#"name: pipe
worker_pools:
  ingest:
    slots:
      - env: { RPC_URL: "https://node-1" }
      - env: { RPC_URL: "https://node-2" }
jobs:
  - name: src
    kind: source
    operator: src.wasm
    pool: ingest
    scaling: { max_concurrency: 5 }
    max_attempts: 2
    timeout: 10s
  - name: agg
    operator: agg.wasm
    inputs:
      - from: { job: src, output: 0 }
    scaling: { max_concurrency: 3 }
    max_attempts: 3
    timeout: 5s
"#;

const T0: Millis = 1_000_000;

async fn deployed<S: Store>(s: &S) -> (OrgId, Deployed) {
    let org = s.create_org("acme", T0).await.unwrap();
    let dag = trace_dag::parse("pipe.yaml", DAG).unwrap();
    let d = s.deploy(org, &dag, DAG, "tester", T0).await.unwrap();
    (org, d)
}

fn range_event(start: u64, end: u64) -> EmittedEvent {
    EmittedEvent { output: 0, partition_key: format!("{start}_{end}"), range: Some((start, end)), cursor: None }
}

/// Trigger a source run and claim its task; returns the claim.
async fn running_source<S: Store>(s: &S, d: &Deployed, run: &str) -> Claim {
    let ingested = s.trigger(d.job("src"), run, Some((0, 100)), "tester", T0).await.unwrap();
    let task = ingested.tasks[0];
    let claims = s.claim(10, T0).await.unwrap();
    claims.into_iter().find(|c| c.task == task).expect("the source task is claimed")
}

async fn idempotent_event_intake<S: Store>(s: S) {
    let (org, d) = deployed(&s).await;
    let first = s.trigger(d.job("src"), "run-1", Some((0, 100)), "tester", T0).await.unwrap();
    let again = s.trigger(d.job("src"), "run-1", Some((0, 100)), "tester", T0).await.unwrap();
    assert_eq!(first.tasks.len(), 1);
    assert!(again.duplicate && again.tasks.is_empty(), "the same run twice is one run");
    assert_eq!(again.event_id, first.event_id);

    let claim = s.claim(1, T0).await.unwrap().pop().unwrap();
    let a = s.post_events(&claim.auth(), &[range_event(0, 10)], T0).await.unwrap();
    let b = s.post_events(&claim.auth(), &[range_event(0, 10)], T0).await.unwrap();
    assert_eq!(a[0].tasks.len(), 1, "one task for the one subscribed job");
    assert!(b[0].duplicate && b[0].tasks.is_empty(), "the same event twice makes one task");
    assert_eq!(s.tasks_of_job(d.job("agg")).await.unwrap().len(), 1);
    assert_eq!(s.event_count(org).await.unwrap(), 2, "one trigger, one dataset event");
}
on_both!(idempotent_event_intake);

async fn stale_attempts_are_rejected<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let first = running_source(&s, &d, "run-1").await;
    let reaped = s.reap(first.deadline + 1).await.unwrap();
    assert_eq!(reaped.retried, vec![first.task]);
    let later = first.deadline + 1 + retry_backoff(1);
    let second = s.claim(10, later).await.unwrap().pop().expect("the retry is claimed");
    assert_eq!((second.task, second.attempt), (first.task, 2));

    let err = s.complete(&first.auth(), &Outcome::Succeeded, &[], &vec![], later).await.unwrap_err();
    assert!(matches!(err, StoreError::StaleAttempt { attempt: 1, current: 2, .. }), "{err}");
    assert_eq!(err.to_string(), format!("stale attempt: task {} attempt 1 was superseded by attempt 2", first.task));
    let err = s.post_events(&first.auth(), &[range_event(0, 10)], later).await.unwrap_err();
    assert!(matches!(err, StoreError::StaleAttempt { .. }), "{err}");
    assert!(s.complete(&second.auth(), &Outcome::Succeeded, &[], &vec![], later).await.is_ok());
}
on_both!(stale_attempts_are_rejected);

async fn late_completion_of_the_current_attempt_is_accepted<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let claim = running_source(&s, &d, "run-1").await;
    s.reap(claim.deadline + 1).await.unwrap();
    assert_eq!(s.task(claim.task).await.unwrap().status, TaskStatus::Pending);
    // No newer attempt has started: the late report completes the task.
    let done = s.complete(&claim.auth(), &Outcome::Succeeded, &[range_event(0, 10)], &vec![], claim.deadline + 2).await.unwrap();
    assert!(done.late);
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.events[0].tasks.len(), 1, "its final events still flow");
    assert!(s.claim(10, claim.deadline + 60_000).await.unwrap().iter().all(|c| c.task != claim.task), "not retried");
    let err = s.complete(&claim.auth(), &Outcome::Succeeded, &[], &vec![], claim.deadline + 3).await.unwrap_err();
    assert!(matches!(err, StoreError::TaskFinished { status: TaskStatus::Completed, .. }), "{err}");
}
on_both!(late_completion_of_the_current_attempt_is_accepted);

/// Found by the chaos soak: a range aggregator's attempt timed out while its
/// worker was cut off, the next range's task ran and wrote the coverage
/// state, then the late report overwrote it and a window was never emitted.
async fn a_late_report_may_not_write_state<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let claim = running_source(&s, &d, "run-1").await;
    s.reap(claim.deadline + 1).await.unwrap();
    let state = vec![("next".to_owned(), Some(b"10".to_vec()))];
    let err = s.complete(&claim.auth(), &Outcome::Succeeded, &[range_event(0, 10)], &state, claim.deadline + 2).await.unwrap_err();
    assert!(matches!(err, StoreError::LateStateWrite { attempt: 1, .. }), "{err}");
    assert_eq!(s.task(claim.task).await.unwrap().status, TaskStatus::Pending, "it runs again, on the state as it is then");
    // On time, the same report writes its state.
    let retry = s.claim(10, claim.deadline + 60_000).await.unwrap().into_iter().find(|c| c.task == claim.task).expect("retried");
    let done = s.complete(&retry.auth(), &Outcome::Succeeded, &[range_event(0, 10)], &state, claim.deadline + 60_001).await.unwrap();
    assert!(!done.late);
}
on_both!(a_late_report_may_not_write_state);

async fn late_completion_of_a_canceled_task_is_refused<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let claim = running_source(&s, &d, "run-1").await;
    s.reap(claim.deadline + 1).await.unwrap();
    assert_eq!(s.cancel(claim.task, "tester", claim.deadline + 2).await.unwrap(), TaskStatus::Canceled);
    let err = s.complete(&claim.auth(), &Outcome::Succeeded, &[], &vec![], claim.deadline + 3).await.unwrap_err();
    assert!(matches!(err, StoreError::TaskFinished { status: TaskStatus::Canceled, .. }), "{err}");
}
on_both!(late_completion_of_a_canceled_task_is_refused);

async fn final_events_commit_with_the_completion_or_not_at_all<S: Store>(s: S) {
    let (org, d) = deployed(&s).await;
    let claim = running_source(&s, &d, "run-1").await;
    let before = s.event_count(org).await.unwrap();
    let bad = EmittedEvent { output: 3, ..range_event(10, 20) };
    let err = s.complete(&claim.auth(), &Outcome::Succeeded, &[range_event(0, 10), bad], &vec![], T0).await.unwrap_err();
    assert!(matches!(err, StoreError::NoSuchOutput { output: 3, outputs: 1, .. }), "{err}");
    assert_eq!(s.event_count(org).await.unwrap(), before, "the good event rolled back too");
    assert_eq!(s.task(claim.task).await.unwrap().status, TaskStatus::Running);
    assert!(s.tasks_of_job(d.job("agg")).await.unwrap().is_empty());

    let done = s.complete(&claim.auth(), &Outcome::Succeeded, &[range_event(0, 10), range_event(10, 20)], &vec![], T0).await.unwrap();
    assert_eq!(done.events.len(), 2);
    assert_eq!(s.tasks_of_job(d.job("agg")).await.unwrap().len(), 2);
    assert_eq!(s.task(claim.task).await.unwrap().status, TaskStatus::Completed);
}
on_both!(final_events_commit_with_the_completion_or_not_at_all);

async fn reaper_retries_until_max_attempts<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let source = running_source(&s, &d, "run-1").await;
    let done = s.complete(&source.auth(), &Outcome::Succeeded, &[range_event(0, 10)], &vec![], T0).await.unwrap();
    let task = done.events[0].tasks[0];
    let mut now = T0;
    for attempt in 1..=3 {
        let claim = s.claim(10, now).await.unwrap().into_iter().find(|c| c.task == task).expect("claimed");
        assert_eq!(claim.attempt, attempt);
        assert_eq!(claim.deadline, now + 5_000, "the job's 5s timeout");
        now = claim.deadline + 1;
        let reaped = s.reap(now).await.unwrap();
        let view = s.task(task).await.unwrap();
        if attempt < 3 {
            assert_eq!(reaped.retried, vec![task]);
            assert_eq!(view.status, TaskStatus::Pending);
            assert_eq!(view.available_at, now + retry_backoff(attempt));
            assert!(s.claim(10, now).await.unwrap().is_empty(), "not before its backoff");
            now = view.available_at;
        } else {
            assert_eq!(reaped.failed, vec![task]);
            assert_eq!(view.status, TaskStatus::Failed);
            assert_eq!(view.last_error.as_deref(), Some(format!("attempt 3 timed out: {}", trace_store::NO_REPORT).as_str()));
        }
    }
    assert!(s.claim(10, now + 1_000_000).await.unwrap().is_empty(), "a failed task is not retried");
}
on_both!(reaper_retries_until_max_attempts);

async fn operator_failures_retry_only_when_retryable<S: Store>(s: S) {
    let (org, d) = deployed(&s).await;
    let claim = running_source(&s, &d, "run-1").await;
    let retry = Outcome::Failed { retryable: true, message: "rpc 503".into() };
    let r = s.complete(&claim.auth(), &retry, &[range_event(0, 10)], &vec![], T0).await.unwrap();
    assert_eq!(r.status, TaskStatus::Pending);
    assert!(r.events.is_empty(), "a failed attempt's final events are dropped");
    let second = s.claim(10, T0 + retry_backoff(1)).await.unwrap().pop().unwrap();
    // max_attempts is 2 for `src`: the second retryable failure is final.
    let r = s.complete(&second.auth(), &retry, &[], &vec![], T0 + 2_000).await.unwrap();
    assert_eq!(r.status, TaskStatus::Failed);
    assert_eq!(s.task(claim.task).await.unwrap().last_error.as_deref(), Some("rpc 503"));

    let other = running_source(&s, &d, "run-2").await;
    let fatal = Outcome::Failed { retryable: false, message: "bad config".into() };
    assert_eq!(s.complete(&other.auth(), &fatal, &[], &vec![], T0).await.unwrap().status, TaskStatus::Failed);

    // What `trace dev` shows when a run ends with failures: the newest
    // failed tasks with their errors, never a task still to be retried.
    let pending = running_source(&s, &d, "run-3").await;
    s.complete(&pending.auth(), &retry, &[], &vec![], T0).await.unwrap();
    let failed = s.failed_tasks(org, 10).await.unwrap();
    let seen: Vec<(TaskId, Option<&str>)> = failed.iter().map(|t| (t.id, t.last_error.as_deref())).collect();
    assert_eq!(seen, vec![(other.task, Some("bad config")), (claim.task, Some("rpc 503"))]);
    assert_eq!(s.failed_tasks(org, 1).await.unwrap().len(), 1, "at most the limit");
}
on_both!(operator_failures_retry_only_when_retryable);

async fn cancel_before_fetch_and_during_run<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let pending = s.trigger(d.job("src"), "run-1", None, "tester", T0).await.unwrap().tasks[0];
    assert_eq!(s.cancel(pending, "tester", T0).await.unwrap(), TaskStatus::Canceled);
    assert!(s.claim(10, T0).await.unwrap().is_empty(), "a canceled task is never claimed");

    let claim = running_source(&s, &d, "run-2").await;
    assert_eq!(s.cancel(claim.task, "tester", T0).await.unwrap(), TaskStatus::Running, "running tasks cancel cooperatively");
    assert!(s.task(claim.task).await.unwrap().cancel_requested, "the worker's fetch sees the cancel");
    let r = s.complete(&claim.auth(), &Outcome::Canceled, &[], &vec![], T0).await.unwrap();
    assert_eq!(r.status, TaskStatus::Canceled);
    // Its slot is free again: two new runs both get one.
    s.trigger(d.job("src"), "run-3", None, "tester", T0).await.unwrap();
    s.trigger(d.job("src"), "run-4", None, "tester", T0).await.unwrap();
    assert_eq!(s.claim(10, T0).await.unwrap().len(), 2);
}
on_both!(cancel_before_fetch_and_during_run);

async fn a_failed_task_can_be_retried_once_more<S: Store>(s: S) {
    let (org, d) = deployed(&s).await;
    let claim = running_source(&s, &d, "run-1").await;
    let fatal = Outcome::Failed { retryable: false, message: "bad config".into() };
    s.complete(&claim.auth(), &fatal, &[], &vec![], T0).await.unwrap();
    assert_eq!(s.task(claim.task).await.unwrap().status, TaskStatus::Failed);

    // Only a failed task is retried; a pending or completed one is left alone.
    let other = s.trigger(d.job("src"), "run-2", Some((100, 200)), "tester", T0).await.unwrap().tasks[0];
    assert_eq!(s.retry(other, "tester", T0).await.unwrap(), TaskStatus::Pending);

    assert_eq!(s.retry(claim.task, "tester", T0 + 5).await.unwrap(), TaskStatus::Pending);
    assert!(s.failed_tasks(org, 10).await.unwrap().is_empty());
    let again = s.claim(10, T0 + 5).await.unwrap().into_iter().find(|c| c.task == claim.task).expect("claimed again");
    assert_eq!(again.attempt, claim.attempt + 1);
    // The earlier attempt's credential is dead; the new one completes it.
    assert!(s.complete(&claim.auth(), &Outcome::Succeeded, &[], &vec![], T0 + 6).await.is_err());
    s.complete(&again.auth(), &Outcome::Succeeded, &[range_event(0, 100)], &vec![], T0 + 6).await.unwrap();
    assert_eq!(s.task(claim.task).await.unwrap().status, TaskStatus::Completed);
    assert_eq!(s.retry(claim.task, "tester", T0 + 7).await.unwrap(), TaskStatus::Completed, "a completed task stays completed");
}
on_both!(a_failed_task_can_be_retried_once_more);

async fn leases_never_exceed_pool_size_or_concurrency<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    for run in 0..5 {
        s.trigger(d.job("src"), &format!("run-{run}"), Some((run * 10, run * 10 + 10)), "tester", T0).await.unwrap();
    }
    // `src` asks for 5 but its pool has 2 slots.
    let claims = s.claim(10, T0).await.unwrap();
    assert_eq!(claims.len(), 2);
    let slots: std::collections::BTreeSet<_> = claims.iter().map(|c| c.slot.unwrap()).collect();
    assert_eq!(slots.len(), 2, "each running task holds its own slot");
    assert!(s.claim(10, T0).await.unwrap().is_empty(), "no slot is free");

    // Finishing one frees its slot for exactly one more.
    let done = s.complete(&claims[0].auth(), &Outcome::Succeeded, &(0..5).map(|i| range_event(i * 10, i * 10 + 10)).collect::<Vec<_>>(), &vec![], T0).await.unwrap();
    assert_eq!(done.events.len(), 5);
    let next = s.claim(10, T0).await.unwrap();
    let src_claims = next.iter().filter(|c| c.job == d.job("src")).count();
    let agg_claims = next.iter().filter(|c| c.job == d.job("agg")).count();
    assert_eq!(src_claims, 1);
    assert_eq!(agg_claims, 3, "agg runs at most max_concurrency = 3 at once");
    assert!(s.claim(10, T0).await.unwrap().is_empty());
}
on_both!(leases_never_exceed_pool_size_or_concurrency);

/// Dispatchers claiming at once (candidates are read without row locks):
/// no task is claimed twice, and the job and pool limits hold across them.
async fn concurrent_claims_never_share_a_task_or_overrun_limits<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    for run in 0..5 {
        s.trigger(d.job("src"), &format!("run-{run}"), Some((run * 10, run * 10 + 10)), "tester", T0).await.unwrap();
    }
    let (a, b, c, e) = tokio::join!(s.claim(10, T0), s.claim(10, T0), s.claim(10, T0), s.claim(10, T0));
    let src: Vec<Claim> = [a, b, c, e].into_iter().flat_map(Result::unwrap).collect();
    assert_eq!(src.len(), 2, "the pool has 2 slots: {src:?}");
    assert_ne!(src[0].slot, src[1].slot);
    assert_ne!(src[0].task, src[1].task);

    let events: Vec<EmittedEvent> = (0..20).map(|i| range_event(i * 5, i * 5 + 5)).collect();
    s.complete(&src[0].auth(), &Outcome::Succeeded, &events, &vec![], T0).await.unwrap();
    let (a, b, c, e) = tokio::join!(s.claim(10, T0), s.claim(10, T0), s.claim(10, T0), s.claim(10, T0));
    let next: Vec<Claim> = [a, b, c, e].into_iter().flat_map(Result::unwrap).collect();
    let agg: std::collections::BTreeSet<TaskId> = next.iter().filter(|c| c.job == d.job("agg")).map(|c| c.task).collect();
    assert_eq!(agg.len(), 3, "agg runs at most 3 at once: {next:?}");
    assert_eq!(next.iter().filter(|c| c.job == d.job("agg")).count(), 3, "no agg task claimed twice");
    assert_eq!(next.iter().filter(|c| c.job == d.job("src")).count(), 1, "the freed slot goes to one source task");
    for claim in &next {
        assert_eq!(claim.attempt, 1);
        // Each claim's attempt exists and speaks with its credential.
        s.complete(&claim.auth(), &Outcome::Succeeded, &[], &vec![], T0).await.unwrap();
    }
}
on_both!(concurrent_claims_never_share_a_task_or_overrun_limits);

async fn credentials_are_scoped_to_one_attempt<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let a = running_source(&s, &d, "run-1").await;
    let b = running_source(&s, &d, "run-2").await;
    assert_ne!(a.credential, b.credential);
    let forged = AttemptAuth { credential: b.credential.clone(), ..a.auth() };
    let err = s.complete(&forged, &Outcome::Succeeded, &[], &vec![], T0).await.unwrap_err();
    assert!(matches!(err, StoreError::BadCredential { .. }), "{err}");
    assert!(matches!(s.task(999_999).await.unwrap_err(), StoreError::NoSuchTask(999_999)));
}
on_both!(credentials_are_scoped_to_one_attempt);

async fn redeploying_makes_a_new_active_version<S: Store>(s: S) {
    let (org, d1) = deployed(&s).await;
    let dag = trace_dag::parse("pipe.yaml", DAG).unwrap();
    let d2 = s.deploy(org, &dag, DAG, "tester", T0 + 1).await.unwrap();
    assert_eq!((d1.version, d2.version), (1, 2));
    assert_eq!(d1.dag_id, d2.dag_id);
    assert_ne!(d1.job("src"), d2.job("src"), "jobs belong to their version");
    assert!(matches!(s.create_org("acme", T0).await.unwrap_err(), StoreError::OrgExists(_)));
}
on_both!(redeploying_makes_a_new_active_version);

async fn fetch_hands_out_the_attempt_and_commits_state_with_completion<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let claim = running_source(&s, &d, "run-1").await;
    let p = s.fetch(claim.task).await.unwrap();
    assert_eq!(p.attempt, Some(claim.auth()));
    assert_eq!((p.job_name.as_str(), p.kind.as_str(), p.operator.as_str()), ("src", "source", "src.wasm"));
    assert_eq!(p.range, Some((0, 100)));
    assert!(p.state.is_empty() && !p.is_canceled());

    // A failed attempt's state writes are dropped; a successful one's land.
    let writes: StateWrites = vec![("next".into(), Some(vec![1, 2])), ("gone".into(), None)];
    let retry = Outcome::Failed { retryable: true, message: "x".into() };
    s.complete(&claim.auth(), &retry, &[], &writes, T0).await.unwrap();
    assert!(s.fetch(claim.task).await.unwrap().state.is_empty());
    let second = s.claim(10, T0 + retry_backoff(1)).await.unwrap().pop().unwrap();
    s.complete(&second.auth(), &Outcome::Succeeded, &[], &writes, T0 + 2_000).await.unwrap();
    assert_eq!(s.fetch(claim.task).await.unwrap().state, vec![("next".to_owned(), vec![1, 2])]);
    let delete: StateWrites = vec![("next".into(), None)];
    let third = running_source(&s, &d, "run-2").await;
    s.complete(&third.auth(), &Outcome::Succeeded, &[], &delete, T0).await.unwrap();
    assert!(s.fetch(third.task).await.unwrap().state.is_empty(), "state is per job, across its tasks");
}
on_both!(fetch_hands_out_the_attempt_and_commits_state_with_completion);

async fn tasks_and_attempts_can_be_inspected<S: Store>(s: S) {
    let (org, d) = deployed(&s).await;
    assert_eq!(s.org_id("acme").await.unwrap(), Some(org));
    assert_eq!(s.org_id("nobody").await.unwrap(), None);
    assert_eq!(s.active_job(org, "pipe", "agg").await.unwrap(), Some(d.job("agg")));
    assert_eq!(s.active_job(org, "pipe", "nope").await.unwrap(), None);
    let claim = running_source(&s, &d, "run-1").await;
    s.reap(claim.deadline + 1).await.unwrap();
    s.trigger(d.job("src"), "run-2", None, "tester", T0).await.unwrap();
    let newest = s.tasks_of_org(org, 1).await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_ne!(newest[0].id, claim.task, "newest first");
    assert_eq!(s.tasks_of_org(org, 10).await.unwrap().len(), 2);
    let attempts = s.attempts(claim.task).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome.as_deref(), Some("timeout"));
    assert_eq!(attempts[0].started_at, T0);
}
on_both!(tasks_and_attempts_can_be_inspected);

async fn batched_completions_commit_together_and_fail_alone<S: Store>(s: S) {
    let (org, d) = deployed(&s).await;
    let a = running_source(&s, &d, "run-a").await;
    let b = running_source(&s, &d, "run-b").await;
    let before = s.event_count(org).await.unwrap();
    let ok = |c: &Claim, e: EmittedEvent| Completion { usage: None, log: None, auth: c.auth(), outcome: Outcome::Succeeded, events: vec![e], state: vec![], partitions: vec![] };
    let bad_output = Completion { usage: None, log: None, events: vec![range_event(0, 1), EmittedEvent { output: 9, ..range_event(1, 2) }], ..ok(&b, range_event(0, 1)) };
    let forged = Completion { usage: None, log: None, auth: AttemptAuth { credential: "x".into(), ..a.auth() }, ..ok(&a, range_event(5, 6)) };
    let results = s.complete_many(&[ok(&a, range_event(0, 10)), bad_output, forged], T0).await.unwrap();
    assert!(matches!(results[0], Ok(Completed { status: TaskStatus::Completed, .. })));
    assert!(matches!(results[1], Err(StoreError::NoSuchOutput { output: 9, .. })), "{:?}", results[1]);
    assert!(matches!(results[2], Err(StoreError::BadCredential { .. })), "{:?}", results[2]);
    assert_eq!(s.event_count(org).await.unwrap(), before + 1, "only the good completion's event");
    assert_eq!(s.task(a.task).await.unwrap().status, TaskStatus::Completed);
    assert_eq!(s.task(b.task).await.unwrap().status, TaskStatus::Running, "the refused one is untouched");
    let again = s.complete_many(&[ok(&b, range_event(20, 30))], T0).await.unwrap();
    assert!(again[0].is_ok());
}
on_both!(batched_completions_commit_together_and_fail_alone);

async fn a_large_fan_out_is_recorded_exactly_once_per_event<S: Store>(s: S) {
    let (org, d) = deployed(&s).await;
    let claim = running_source(&s, &d, "run-1").await;
    // 1,200 events cross the 500-event statement chunks; one is repeated.
    let mut events: Vec<_> = (0..1_200).map(|i| range_event(i, i + 1)).collect();
    events[1_100] = range_event(7, 8);
    let before = s.event_count(org).await.unwrap();
    let done = s.complete(&claim.auth(), &Outcome::Succeeded, &events, &vec![], T0).await.unwrap();
    assert_eq!(done.events.len(), 1_200, "one result per event, in order");
    assert!(done.events[1_100].duplicate && done.events[1_100].tasks.is_empty());
    assert_eq!(done.events[1_100].event_id, done.events[7].event_id);
    assert!(done.events.iter().enumerate().all(|(i, e)| i == 1_100 || (!e.duplicate && e.tasks.len() == 1)));
    assert_eq!(s.event_count(org).await.unwrap(), before + 1_199);
    assert_eq!(s.tasks_of_job(d.job("agg")).await.unwrap().len(), 1_199);
}
on_both!(a_large_fan_out_is_recorded_exactly_once_per_event);

async fn a_task_reported_twice_in_one_batch_counts_once<S: Store>(s: S) {
    let (org, d) = deployed(&s).await;
    let a = running_source(&s, &d, "run-a").await;
    let before = s.event_count(org).await.unwrap();
    let report = |e: EmittedEvent| Completion { usage: None, log: None, auth: a.auth(), outcome: Outcome::Succeeded, events: vec![e], state: vec![], partitions: vec![] };
    let results = s.complete_many(&[report(range_event(0, 10)), report(range_event(10, 20))], T0).await.unwrap();
    assert!(results[0].is_ok());
    assert!(
        matches!(results[1], Err(StoreError::TaskFinished { status: TaskStatus::Completed, .. })),
        "the second report of the same attempt is refused: {:?}",
        results[1]
    );
    assert_eq!(s.event_count(org).await.unwrap(), before + 1, "only the first report's event");
    assert_eq!(s.attempts(a.task).await.unwrap().len(), 1);
}
on_both!(a_task_reported_twice_in_one_batch_counts_once);

async fn claims_can_carry_the_full_payload<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    for run in 0..3u64 {
        s.trigger(d.job("src"), &format!("run-{run}"), Some((run * 10, run * 10 + 10)), "tester", T0).await.unwrap();
    }
    let claimed = s.claim_payloads(10, T0).await.unwrap();
    // Pool `ingest` has two slots: two tasks run, the third waits.
    assert_eq!(claimed.len(), 2);
    for p in &claimed {
        assert_eq!(p.status, TaskStatus::Running);
        assert_eq!(p.attempt.as_ref().map(|a| a.attempt), Some(1));
        assert_eq!(p, &s.fetch(p.task).await.unwrap(), "the same payload a fetch returns");
    }
    let done = Completion { usage: None, log: None, auth: claimed[0].attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![], state: vec![], partitions: vec![] };
    s.complete_many(&[done], T0).await.unwrap().pop().unwrap().unwrap();
    let next = s.claim_payloads(10, T0).await.unwrap();
    assert_eq!(next.len(), 1, "the released slot lets the third task run");
    assert_eq!(next[0].range, Some((20, 30)));
}
on_both!(claims_can_carry_the_full_payload);

async fn a_backfill_is_triggered_once_and_resumes<S: Store>(s: S) {
    let (_, d) = deployed(&s).await;
    let chunks: Vec<(String, (u64, u64))> = (0..5u64).map(|i| (format!("backfill:b_1:{}", i * 10), (i * 10, i * 10 + 10))).collect();
    let first = s.trigger_many(d.job("src"), &chunks, "tester", T0).await.unwrap();
    assert!(first.iter().all(|i| !i.duplicate && i.tasks.len() == 1));
    // Run again (a resumed backfill): nothing new.
    let again = s.trigger_many(d.job("src"), &chunks, "tester", T0).await.unwrap();
    assert!(again.iter().all(|i| i.duplicate));
    // A run whose label merely starts alike, and LIKE wildcards, are not counted.
    s.trigger_many(d.job("src"), &[("backfill:b_10:0".to_owned(), (0, 1))], "tester", T0).await.unwrap();
    s.trigger_many(d.job("src"), &[("backfill:bx1:0".to_owned(), (0, 1))], "tester", T0).await.unwrap();

    let progress = s.run_progress(d.job("src"), "backfill:b_1:").await.unwrap();
    assert_eq!((progress.total(), progress.count(TaskStatus::Pending), progress.rows), (5, 5, 0));
    let claim = s.claim(1, T0).await.unwrap().pop().unwrap();
    s.complete(&claim.auth(), &Outcome::Succeeded, &[], &vec![], T0).await.unwrap();
    let progress = s.run_progress(d.job("src"), "backfill:b_1:").await.unwrap();
    assert_eq!((progress.total(), progress.count(TaskStatus::Completed)), (5, 1));
}
on_both!(a_backfill_is_triggered_once_and_resumes);

const BUFFERED_DAG: &str = r#"name: alerting
jobs:
  - name: detect
    kind: source
    operator: detect.wasm
  - name: route
    operator: route.wasm
    inputs:
      - from: { job: detect, output: 0 }
publish:
  - { job: detect, output_index: 0, dataset: alerts, storage: buffered, schema: alert_events }
"#;

/// A task reads at most `MAX_READ_ROWS` of one buffered input's commit: one
/// that holds exactly that many is read whole, one row more is refused by
/// name rather than read into the worker's memory.
async fn a_buffered_input_is_read_up_to_its_row_limit<S: Store + Buffered>(s: S) {
    use trace_protocol::buffered::{BufferedRows, MAX_READ_ROWS};
    let org = s.create_org("acme", T0).await.unwrap();
    let d = s.deploy(org, &trace_dag::parse("alerting.yaml", BUFFERED_DAG).unwrap(), BUFFERED_DAG, "tester", T0).await.unwrap();
    let dataset = s.buffered_datasets().await.unwrap().into_iter().find(|x| x.name == "alerts").unwrap();
    let commit = |from: usize, count: usize| BufferedRows {
        org,
        dataset_uuid: dataset.uuid.clone(),
        job: d.job("detect"),
        task: 1,
        output: 0,
        columns: ["alert_key", "severity", "event_time", "payload"].map(String::from).to_vec(),
        rows: (from..from + count).map(|i| vec![serde_json::json!(format!("k{i}")), serde_json::json!("info"), serde_json::json!(i), serde_json::Value::Null]).collect(),
    };
    for (from, count) in [(0, MAX_READ_ROWS), (MAX_READ_ROWS, MAX_READ_ROWS + 1)] {
        let committed = s.commit_buffered(&commit(from, count), T0).await.unwrap();
        assert_eq!((committed.inserted, committed.tasks), (count as u64, 1));
        let claim = s.claim(10, T0).await.unwrap().pop().expect("the reading task is claimed");
        assert_eq!(claim.job, d.job("route"));
        let read = s.read_buffered(&claim.auth(), 0).await;
        match (count, read) {
            (MAX_READ_ROWS, Ok(read)) => {
                assert_eq!(read.rows.len(), MAX_READ_ROWS);
                assert_eq!((read.rows[0][0].as_str(), read.rows[MAX_READ_ROWS - 1][2].as_i64()), (Some("k0"), Some(MAX_READ_ROWS as i64 - 1)));
            }
            (_, Err(e @ StoreError::TooManyBufferedRows { limit: MAX_READ_ROWS, input: 0, .. })) => {
                assert!(e.to_string().contains(&MAX_READ_ROWS.to_string()), "the limit is named: {e}");
            }
            (count, other) => panic!("{count} rows: {other:?}"),
        }
        s.complete(&claim.auth(), &Outcome::Succeeded, &[], &vec![], T0).await.unwrap();
    }
}
on_both!(a_buffered_input_is_read_up_to_its_row_limit);
