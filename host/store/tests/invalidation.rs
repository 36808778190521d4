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

/// Another DAG of the org reading `transfers` (a shared read), on the
/// ranges its own source emits.
const AUDIT: &str = r#"name: audit
jobs:
  - name: ticks
    kind: source
    operator: src.wasm
  - name: check
    operator: check.wasm
    inputs:
      - from: { job: ticks, output: 0 }
      - from: { dataset: transfers }
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
                let partitions = p
                    .outputs_to
                    .iter()
                    .map(|to| WrittenPartition {
                        output: to.output,
                        version_uuid: to.version_uuid.clone(),
                        partition_key: key.clone(),
                        range: Some((start, end)),
                        scope: None,
                        object_key: format!("org/{org}/dataset/{}/version/{}/{key}.parquet", to.dataset_uuid, to.version_uuid),
                        staging_key: format!("staging/{}/{key}", p.task),
                        rows: 1,
                        bytes: 1,
                    })
                    .collect();
                let events = if emitting.contains(&p.job_name.as_str()) {
                    vec![EmittedEvent { output: 0, partition_key: key.clone(), range: Some((start, end)), cursor: None }]
                } else {
                    vec![]
                };
                Completion { auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events, state: vec![], partitions }
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
    let audit = s.deploy(org, &dag(AUDIT), AUDIT, "ann", T0).await.unwrap();
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
