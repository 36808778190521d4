//! Update strategy `replace`: a rewritten partition re-runs exactly the
//! downstream tasks that read it, transitively, on SQLite and PostgreSQL.

mod support;

use std::collections::BTreeSet;

use trace_store::*;

const T0: Millis = 1_000_000;

/// blocks → transfers → totals, transfers published; every job writes one
/// file per task.
const CHAIN: &str = r#"name: chain
jobs:
  - name: blocks
    kind: source
    operator: src.wasm
  - name: transfers
    operator: udf.wasm
    inputs:
      - from: { job: blocks, output: 0 }
  - name: totals
    operator: count.wasm
    inputs:
      - from: { job: transfers, output: 0 }
publish:
  - { job: transfers, output_index: 0, dataset: transfers }
"#;


fn dag(text: &str) -> trace_dag::Dag {
    trace_dag::parse("dag.yaml", text).unwrap()
}

/// Run every runnable task: each writes one partition for its range to each
/// of its outputs; jobs named in `emitting` also emit their range. Returns
/// the completions' results.
async fn drain<S: Store>(s: &S, org: OrgId, emitting: &[&str], now: Millis) -> Vec<Completed> {
    let mut done = Vec::new();
    loop {
        let claimed = s.claim_payloads(64, now).await.unwrap();
        if claimed.is_empty() {
            return done;
        }
        let reports: Vec<Completion> = claimed
            .iter()
            .map(|p| {
                let (start, end) = p.range.unwrap();
                let key = format!("{start}_{end}");
                let partitions = p.outputs_to.iter().map(|to| support::written(org, to, &key, 1)).collect();
                let events = if emitting.contains(&p.job_name.as_str()) {
                    vec![EmittedEvent { output: 0, partition_key: key.clone(), range: Some((start, end)), cursor: None }]
                } else {
                    vec![]
                };
                Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events, state: vec![], partitions }
            })
            .collect();
        done.extend(s.complete_many(&reports, now).await.unwrap().into_iter().map(Result::unwrap));
    }
}

/// Ranges of a job's tasks, in creation order.
async fn ranges<S: Store>(s: &S, job: JobId) -> Vec<(u64, u64)> {
    s.tasks_of_job(job).await.unwrap().iter().map(|t| t.event_range.unwrap()).collect()
}

async fn rewriting_a_range_reruns_exactly_its_downstream_transitively<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let chain = s.deploy(org, &dag(CHAIN), CHAIN, "ann", T0).await.unwrap();
    // Another DAG of the org reads `transfers` (a shared read).
    let reader = support::shared_reader("audit", "transfers");
    let audit = s.deploy(org, &dag(&reader), &reader, "ann", T0).await.unwrap();
    s.trigger_many(chain.job("blocks"), &[("a".into(), (0, 10)), ("b".into(), (10, 20))], "ann", T0).await.unwrap();
    s.trigger(audit.job("ticks"), "t", Some((0, 20)), "ann", T0).await.unwrap();
    let first = drain(&s, org, &["blocks", "transfers", "ticks"], T0).await;
    assert!(first.iter().all(|c| c.invalidated.is_empty()), "first writes invalidate nothing");
    assert_eq!(ranges(&s, chain.job("totals")).await, vec![(0, 10), (10, 20)]);
    assert_eq!(ranges(&s, audit.job("check")).await, vec![(0, 20)]);

    // A repair run rewrites blocks [0, 10) and emits nothing: the platform's
    // invalidation alone re-runs what read it, level after level.
    s.trigger(chain.job("blocks"), "repair", Some((0, 10)), "ann", T0 + 1).await.unwrap();
    let second = drain(&s, org, &["ticks"], T0 + 1).await;
    let invalidated: usize = second.iter().map(|c| c.invalidated.len()).sum();
    assert_eq!(invalidated, 3, "transfers [0,10), then totals [0,10) and the shared reader's [0,20)");
    assert_eq!(ranges(&s, chain.job("transfers")).await, vec![(0, 10), (10, 20), (0, 10)]);
    assert_eq!(ranges(&s, chain.job("totals")).await, vec![(0, 10), (10, 20), (0, 10)]);
    assert_eq!(ranges(&s, audit.job("check")).await, vec![(0, 20), (0, 20)]);
    let totals = s.tasks_of_job(chain.job("totals")).await.unwrap();
    assert!(totals.iter().all(|t| t.status == TaskStatus::Completed));
    assert_eq!(totals.iter().map(|t| t.invalidation).collect::<Vec<_>>(), vec![false, false, true], "the re-run is an invalidation");

    // A rewrite whose own event already queues the reader: one re-run, not two.
    s.trigger(chain.job("blocks"), "again", Some((10, 20)), "ann", T0 + 2).await.unwrap();
    drain(&s, org, &["blocks", "transfers"], T0 + 2).await;
    assert_eq!(ranges(&s, chain.job("transfers")).await, vec![(0, 10), (10, 20), (0, 10), (10, 20)]);
    assert_eq!(ranges(&s, chain.job("totals")).await, vec![(0, 10), (10, 20), (0, 10), (10, 20)]);
    assert_eq!(ranges(&s, audit.job("check")).await.len(), 3, "[10,20) of transfers overlaps the shared reader's [0,20)");

    // A range nobody downstream read invalidates nothing.
    s.trigger(chain.job("blocks"), "far", Some((100, 110)), "ann", T0 + 3).await.unwrap();
    s.trigger(chain.job("blocks"), "far-again", Some((100, 110)), "ann", T0 + 3).await.unwrap();
    let far = drain(&s, org, &[], T0 + 3).await;
    assert!(far.iter().all(|c| c.invalidated.is_empty()));
    let files: BTreeSet<_> = s.partitions(org, "transfers").await.unwrap().into_iter().map(|p| p.partition_key).collect();
    assert_eq!(files.into_iter().collect::<Vec<_>>(), vec!["0_10", "10_20"], "rewrites replace, never add");
}
on_both!(rewriting_a_range_reruns_exactly_its_downstream_transitively);

/// An append job fed by a source, two of its tasks allowed at once.
const APPENDS: &str = r#"name: appends
jobs:
  - name: src
    kind: source
    operator: src.wasm
    scaling: { max_concurrency: 3 }
  - name: facts
    operator: udf.wasm
    inputs:
      - from: { job: src, output: 0 }
    update_strategy: append
    unique_key: [id]
    scaling: { max_concurrency: 2 }
publish:
  - { job: facts, output_index: 0, dataset: facts }
"#;

/// What a worker reports for an append task: its own file, deduplicated
/// against the files its payload listed.
fn appended(org: OrgId, p: &TaskPayload) -> Completion {
    let to = &p.outputs_to[0];
    let append = to.append.as_ref().expect("an append target");
    let (start, end) = p.range.unwrap();
    let key = format!("{start}_{end}.t{}", p.task);
    let w = WrittenPartition {
        output: 0,
        version_uuid: to.version_uuid.clone(),
        partition_key: key.clone(),
        range: p.range,
        scope: Some(format!("{start}_{end}")),
        deduped_against: append.existing.iter().map(|x| x.object_key.clone()).collect(),
        object_key: format!("org/{org}/dataset/{}/version/{}/{key}.parquet", to.dataset_uuid, to.version_uuid),
        staging_key: format!("staging/{key}"),
        rows: 1,
        bytes: 1,
    };
    Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![], state: vec![], partitions: vec![w] }
}

async fn concurrent_appends_to_a_range_never_both_commit_unseen_rows<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d = s.deploy(org, &dag(APPENDS), APPENDS, "ann", T0).await.unwrap();
    let runs: Vec<(String, (u64, u64))> = ["r1", "r2", "r3"].iter().map(|r| (r.to_string(), (0, 10))).collect();
    s.trigger_many(d.job("src"), &runs, "ann", T0).await.unwrap();
    let sources = s.claim_payloads(10, T0).await.unwrap();
    assert_eq!(sources.len(), 3);
    let done: Vec<Completion> = sources
        .iter()
        .map(|p| {
            let emit = EmittedEvent { output: 0, partition_key: p.partition_key.clone(), range: Some((0, 10)), cursor: None };
            Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![emit], state: vec![], partitions: vec![] }
        })
        .collect();
    s.complete_many(&done, T0).await.unwrap().into_iter().for_each(|r| drop(r.unwrap()));

    // Two appends to [0, 10) run at once; neither saw the other's file.
    let both = s.claim_payloads(10, T0).await.unwrap();
    assert_eq!(both.len(), 2, "the job's concurrency");
    assert!(both.iter().all(|p| p.outputs_to[0].append.as_ref().unwrap().existing.is_empty()));
    let (a, b) = (&both[0], &both[1]);
    assert_eq!(s.complete_many(&[appended(org, a)], T0).await.unwrap().pop().unwrap().unwrap().status, TaskStatus::Completed);
    // The second commits after the first: it becomes a retry, writing nothing.
    let lost = s.complete_many(&[appended(org, b)], T0).await.unwrap().pop().unwrap().unwrap();
    assert_eq!(lost.status, TaskStatus::Pending);
    let b_view = s.task(b.task).await.unwrap();
    assert!(b_view.last_error.as_deref().unwrap().starts_with("append conflict: another task added to 0_10 of output 0"), "{b_view:?}");
    assert_eq!(s.partitions(org, "facts").await.unwrap().len(), 1);

    // b's retry and the third task both see the first file now.
    let next = s.claim_payloads(10, T0 + 60_000).await.unwrap();
    assert_eq!(next.len(), 2);
    for p in &next {
        let existing = &p.outputs_to[0].append.as_ref().unwrap().existing;
        assert_eq!(existing.iter().map(|x| x.partition_key.clone()).collect::<Vec<_>>(), vec![format!("0_10.t{}", a.task)]);
    }
    // Reported in one batch: the first commits, the second missed its file
    // and is retried.
    let results = s.complete_many(&[appended(org, &next[0]), appended(org, &next[1])], T0).await.unwrap();
    let statuses: Vec<_> = results.into_iter().map(|r| r.unwrap().status).collect();
    assert_eq!(statuses, vec![TaskStatus::Completed, TaskStatus::Pending]);
    let last = s.claim_payloads(10, T0 + 120_000).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].outputs_to[0].append.as_ref().unwrap().existing.len(), 2);
    assert_eq!(s.complete_many(&[appended(org, &last[0])], T0).await.unwrap().pop().unwrap().unwrap().status, TaskStatus::Completed);
    assert_eq!(s.partitions(org, "facts").await.unwrap().len(), 3, "one file per task, each deduplicated against all before it");
}
on_both!(concurrent_appends_to_a_range_never_both_commit_unseen_rows);

/// What a task of keyed work reports: a source emits `keys` (no range);
/// any other task writes one partition of its event's key (appended, with
/// its task in the name, for an append target) and, if its job is in
/// `emitting`, emits its key.
fn keyed_report(org: OrgId, p: &TaskPayload, keys: &[&str], emitting: &[&str]) -> Completion {
    let keyed = |key: &str| EmittedEvent { output: 0, partition_key: key.into(), range: None, cursor: None };
    if p.kind == TaskKind::Source {
        let events = keys.iter().map(|k| keyed(k)).collect();
        return Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events, state: vec![], partitions: vec![] };
    }
    let key = p.partition_key.clone();
    let partitions = p
        .outputs_to
        .iter()
        .map(|to| {
            let (name, scope, deduped_against) = match &to.append {
                Some(a) => (format!("{key}.t{}", p.task), Some(key.clone()), a.existing.iter().map(|x| x.object_key.clone()).collect()),
                None => (key.clone(), None, vec![]),
            };
            WrittenPartition {
                output: to.output,
                version_uuid: to.version_uuid.clone(),
                object_key: format!("org/{org}/dataset/{}/version/{}/key_{name}.parquet", to.dataset_uuid, to.version_uuid),
                partition_key: name,
                range: None,
                scope,
                deduped_against,
                staging_key: format!("staging/{}", p.task),
                rows: 1,
                bytes: 1,
            }
        })
        .collect();
    let events = if emitting.contains(&p.job_name.as_str()) { vec![keyed(&key)] } else { vec![] };
    Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events, state: vec![], partitions }
}

/// Run every runnable task of keyed work (see [`keyed_report`]).
async fn drain_keyed<S: Store>(s: &S, org: OrgId, keys: &[&str], emitting: &[&str], now: Millis) -> Vec<Completed> {
    let mut done = Vec::new();
    loop {
        let claimed = s.claim_payloads(64, now).await.unwrap();
        if claimed.is_empty() {
            return done;
        }
        let reports: Vec<Completion> = claimed.iter().map(|p| keyed_report(org, p, keys, emitting)).collect();
        done.extend(s.complete_many(&reports, now).await.unwrap().into_iter().map(Result::unwrap));
    }
}

/// Keys of a job's tasks, in creation order.
async fn keys<S: Store>(s: &S, job: JobId) -> Vec<String> {
    s.tasks_of_job(job).await.unwrap().into_iter().map(|t| t.event_partition_key).collect()
}

async fn a_rewritten_key_invalidates_only_that_key_downstream<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let chain = s.deploy(org, &dag(CHAIN), CHAIN, "ann", T0).await.unwrap();
    s.trigger(chain.job("blocks"), "a", Some((0, 10)), "ann", T0).await.unwrap();
    drain_keyed(&s, org, &["usdc", "dai"], &["transfers"], T0).await;
    assert_eq!(keys(&s, chain.job("totals")).await, vec!["usdc", "dai"]);

    // Only usdc comes again, and transfers emits nothing this time: totals'
    // usdc task re-runs through the invalidation, dai's does not.
    s.trigger(chain.job("blocks"), "b", Some((0, 10)), "ann", T0 + 1).await.unwrap();
    let done = drain_keyed(&s, org, &["usdc"], &[], T0 + 1).await;
    assert_eq!(done.iter().map(|c| c.invalidated.len()).sum::<usize>(), 1);
    assert_eq!(keys(&s, chain.job("totals")).await, vec!["usdc", "dai", "usdc"]);
}
on_both!(a_rewritten_key_invalidates_only_that_key_downstream);

/// An append job keyed by contract, and a reader of each key.
const KEYED_APPENDS: &str = r#"name: keyed
jobs:
  - name: src
    kind: source
    operator: src.wasm
  - name: facts
    operator: udf.wasm
    inputs:
      - from: { job: src, output: 0 }
    update_strategy: append
    unique_key: [id]
  - name: readers
    operator: count.wasm
    inputs:
      - from: { job: facts, output: 0 }
"#;

async fn a_reader_of_a_key_reads_every_file_appended_to_it<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d = s.deploy(org, &dag(KEYED_APPENDS), KEYED_APPENDS, "ann", T0).await.unwrap();
    for run in ["a", "b"] {
        s.trigger(d.job("src"), run, Some((0, 10)), "ann", T0).await.unwrap();
        drain_keyed(&s, org, &["usdc", "dai"], &["facts"], T0).await;
    }
    // Two appends to usdc (one file each) and two to dai. A third append to
    // usdc deduplicates against usdc's two files only...
    s.trigger(d.job("src"), "c", Some((0, 10)), "ann", T0).await.unwrap();
    let src = s.claim_payloads(1, T0).await.unwrap().pop().unwrap();
    let emit = EmittedEvent { output: 0, partition_key: "usdc".into(), range: None, cursor: None };
    let done = Completion { usage: None, log: None, auth: src.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![emit], state: vec![], partitions: vec![] };
    s.complete_many(&[done], T0).await.unwrap();
    let fact = s.claim_payloads(1, T0).await.unwrap().pop().unwrap();
    let existing = &fact.outputs_to[0].append.as_ref().unwrap().existing;
    let names: Vec<_> = existing.iter().map(|x| x.partition_key.clone()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("usdc.t")), "{names:?}");
    // ...and the reader it wakes is handed all three usdc files, no dai.
    s.complete_many(&[keyed_report(org, &fact, &[], &["facts"])], T0).await.unwrap().pop().unwrap().unwrap();
    let reader = s.claim_payloads(1, T0).await.unwrap().pop().unwrap();
    assert_eq!((reader.job_name.as_str(), reader.partition_key.as_str()), ("readers", "usdc"));
    let read: Vec<_> = reader.inputs_from[0].partitions.iter().map(|x| x.partition_key.clone()).collect();
    assert_eq!(read.len(), 3, "{read:?}");
    assert!(read.iter().all(|n| n.starts_with("usdc.t")), "{read:?}");
}
on_both!(a_reader_of_a_key_reads_every_file_appended_to_it);

async fn an_append_to_too_many_committed_files_is_refused_alone<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d = s.deploy(org, &dag(APPENDS), APPENDS, "ann", T0).await.unwrap();
    let n = MAX_INPUT_PARTITIONS as u64 + 1;
    let run_source = |run: &'static str| {
        let s = &s;
        let src = d.job("src");
        async move {
            s.trigger(src, run, Some((0, n)), "ann", T0).await.unwrap();
            let p = s.claim_payloads(1, T0).await.unwrap().pop().unwrap();
            let emit = EmittedEvent { output: 0, partition_key: run.into(), range: Some((0, n)), cursor: None };
            let done = Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![emit], state: vec![], partitions: vec![] };
            s.complete_many(&[done], T0).await.unwrap().pop().unwrap().unwrap();
            s.claim_payloads(1, T0).await.unwrap().pop().unwrap()
        }
    };
    // One append over [0, n) commits a file per block: one more than a task may add to.
    let first = run_source("r1").await;
    let mut report = appended(org, &first);
    let one = report.partitions.pop().unwrap();
    report.partitions = (0..n)
        .map(|i| {
            let key = format!("{i}_{}.t{}", i + 1, first.task);
            let mut w = one.clone();
            w.object_key = w.object_key.replace(&one.partition_key, &key);
            w.partition_key = key;
            w.range = Some((i, i + 1));
            w
        })
        .collect();
    assert_eq!(s.complete_many(&[report], T0).await.unwrap().pop().unwrap().unwrap().status, TaskStatus::Completed);

    let next = run_source("r2").await;
    assert_eq!(
        next.refusal.as_deref(),
        Some(format!("task {} output 0 (append) adds to too many committed partitions: more than limit={MAX_INPUT_PARTITIONS}", next.task).as_str())
    );
    assert!(next.outputs_to[0].append.as_ref().unwrap().existing.is_empty(), "nothing of them is handed out");
}
on_both!(an_append_to_too_many_committed_files_is_refused_alone);
