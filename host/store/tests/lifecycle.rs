//! Rollback and purge, on SQLite and on PostgreSQL.

mod support;

use trace_store::*;

const T0: Millis = 1_000_000;

const V1: &str = support::ERC20_DAG;

fn dag(text: &str) -> trace_dag::Dag {
    trace_dag::parse("dag.yaml", text).unwrap()
}

async fn version_of<S: Registry>(s: &S, org: OrgId, name: &str) -> String {
    s.datasets(org).await.unwrap().into_iter().find(|d| d.name == name).unwrap().version.unwrap()
}

async fn rollback_restores_the_previous_pointer_set_and_cancels_queued_work<S: Store + Registry + Lifecycle>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    let (t1, c1) = (version_of(&s, org, "erc20_transfers").await, version_of(&s, org, "block_counts").await);
    let v2 = V1.replace("min_value: 100", "min_value: 500");
    let d2 = s.deploy(org, &dag(&v2), &v2, "ann", T0 + 1).await.unwrap();
    let t2 = version_of(&s, org, "erc20_transfers").await;
    assert_ne!(t2, t1);
    assert_eq!(version_of(&s, org, "block_counts").await, c1);
    let queued = s.trigger(d2.job("blocks"), "r1", Some((0, 10)), "ann", T0 + 2).await.unwrap().tasks[0];

    let back = s.rollback(org, "erc20", "user:ann", T0 + 3).await.unwrap();
    assert_eq!(back, RolledBack { from_version: 2, to_version: 1, canceled: 1, stopping: 0, replayed: 0, moved: 0 });
    assert_eq!(version_of(&s, org, "erc20_transfers").await, t1, "readers see the previous version again");
    assert_eq!(version_of(&s, org, "block_counts").await, c1);
    assert_eq!(s.task(queued).await.unwrap().status, TaskStatus::Canceled);
    assert!(s.active_job(org, "erc20", "blocks").await.unwrap().is_some());
    assert_eq!(s.audit_tail(1).await.unwrap()[0].action, "dag.rollback");

    let err = s.rollback(org, "erc20", "user:ann", T0 + 4).await.unwrap_err();
    assert!(matches!(err, StoreError::NothingToRollBackTo(_)), "{err}");
    assert!(matches!(s.rollback(org, "nope", "user:ann", T0).await, Err(StoreError::NoSuchDag(_))));
}
on_both!(rollback_restores_the_previous_pointer_set_and_cancels_queued_work);

async fn purge_removes_only_an_unused_version<S: Store + Registry + Lifecycle>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    let t1 = version_of(&s, org, "erc20_transfers").await;
    let v2 = V1.replace("min_value: 100", "min_value: 500");
    s.deploy(org, &dag(&v2), &v2, "ann", T0 + 1).await.unwrap();
    let t2 = version_of(&s, org, "erc20_transfers").await;

    let err = s.purge_version(org, "erc20_transfers", &t2, "root", T0).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionInUse { .. }), "the active version's data stays: {err}");
    let purged = s.purge_version(org, "erc20_transfers", &t1, "root", T0).await.unwrap();
    assert_eq!((purged.version_uuid.as_str(), purged.object_keys.len()), (t1.as_str(), 0));
    assert_eq!(version_of(&s, org, "erc20_transfers").await, t2, "the version in use is untouched");
    assert!(matches!(
        s.purge_version(org, "erc20_transfers", "00000000-0000-4000-8000-000000000000", "root", T0).await,
        Err(StoreError::NoSuchDatasetVersion { .. })
    ));
    // DAG version 1 points at the purged version: it cannot come back.
    let err = s.rollback(org, "erc20", "root", T0 + 2).await.unwrap_err();
    assert!(matches!(err, StoreError::RollbackOntoPurged { version: 1, .. }), "{err}");
    assert_eq!(version_of(&s, org, "erc20_transfers").await, t2, "a refused rollback changes nothing");
    assert_eq!(s.audit_tail(1).await.unwrap()[0].action, "dataset.purge");
}
on_both!(purge_removes_only_an_unused_version);

/// Run `ranges` through `blocks` (a job of any version): each source task
/// emits its range, each `transfers` task commits one file. Returns the
/// object keys written.
async fn fill<S: Store>(s: &S, org: OrgId, blocks: JobId, ranges: &[(u64, u64)], now: Millis) -> Vec<String> {
    for (i, r) in ranges.iter().enumerate() {
        s.trigger(blocks, &format!("fill-{blocks}-{i}"), Some(*r), "ann", now).await.unwrap();
    }
    let mut keys = Vec::new();
    loop {
        let claimed = s.claim_payloads(64, now).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        let reports: Vec<Completion> = claimed
            .iter()
            .map(|p| {
                let (start, end) = p.range.unwrap();
                let mut c = Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![], state: vec![], partitions: vec![] };
                if p.job_name == "blocks" {
                    c.events.push(EmittedEvent { output: 0, partition_key: format!("{start}_{end}"), range: Some((start, end)), cursor: None });
                } else if p.job_name == "transfers" {
                    let to = &p.outputs_to[0];
                    let key = format!("org/{org}/dataset/{}/version/{}/{start}_{end}.parquet", to.dataset_uuid, to.version_uuid);
                    keys.push(key.clone());
                    c.partitions.push(WrittenPartition {
                        output: 0,
                        version_uuid: to.version_uuid.clone(),
                        partition_key: format!("{start}_{end}"),
                        range: Some((start, end)),
                        scope: None,
                        deduped_against: vec![],
                        object_key: key,
                        staging_key: "staged".into(),
                        rows: 1,
                        bytes: 1,
                    });
                }
                c
            })
            .collect();
        for r in s.complete_many(&reports, now).await.unwrap() {
            r.unwrap();
        }
    }
    keys.sort();
    keys
}

async fn cutover_is_atomic_for_a_concurrent_reader<S: Store + Registry + Lifecycle>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d1 = s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    let old = fill(&s, org, d1.job("blocks"), &[(0, 10), (10, 20), (20, 30)], T0).await;
    let old_version = version_of(&s, org, "erc20_transfers").await;

    // Stage v2: readers keep v1 while v2's jobs fill its new version.
    let v2 = V1.replace("min_value: 100", "min_value: 500");
    let d2 = s.stage(org, &dag(&v2), &v2, "ann", T0 + 1).await.unwrap();
    assert_eq!(version_of(&s, org, "erc20_transfers").await, old_version, "a staged version is invisible");
    let blocks2 = s.version_job(org, "erc20", d2.version, "blocks").await.unwrap().unwrap();
    assert_eq!(s.active_job(org, "erc20", "blocks").await.unwrap(), Some(d1.job("blocks")));
    let new = fill(&s, org, blocks2, &[(0, 10), (10, 20), (20, 30)], T0 + 2).await;
    assert_ne!(old, new);
    let keys = |p: Vec<PartitionView>| p.into_iter().map(|x| x.object_key).collect::<Vec<_>>();
    assert_eq!(keys(s.partitions(org, "erc20_transfers").await.unwrap()), old);

    // A reader polls while the cutover commits: every read is all old or all new.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let reader = async {
        let mut seen = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let mut k = keys(s.partitions(org, "erc20_transfers").await.unwrap());
            k.sort();
            seen.push(k);
        }
        seen
    };
    let switch = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let switched = s.cutover(org, "erc20", d2.version, "ann", T0 + 3).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        switched
    };
    let (seen, switched) = tokio::join!(reader, switch);
    assert_eq!((switched.from_version, switched.to_version), (1, 2));
    assert!(seen.iter().all(|k| *k == old || *k == new), "a read mixed versions");
    assert!(seen.first() == Some(&old) && seen.last() == Some(&new), "{} reads", seen.len());

    assert!(matches!(s.cutover(org, "erc20", 2, "ann", T0).await, Err(StoreError::AlreadyActive { .. })));
    assert!(matches!(s.cutover(org, "erc20", 9, "ann", T0).await, Err(StoreError::NoSuchDagVersion { .. })));
    s.rollback(org, "erc20", "ann", T0 + 4).await.unwrap();
    assert_eq!(keys(s.partitions(org, "erc20_transfers").await.unwrap()), old, "rollback restores the old files' version");
    assert_eq!(s.audit_tail(2).await.unwrap().iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), vec!["dag.rollback", "dag.cutover"]);
}
on_both!(cutover_is_atomic_for_a_concurrent_reader);

async fn rematerialize_replays_exactly_the_edited_jobs<S: Store + Registry + Lifecycle>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d1 = s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    fill(&s, org, d1.job("blocks"), &[(0, 10), (10, 20)], T0).await;
    let v2 = V1.replace("min_value: 100", "min_value: 500");
    let d2 = s.stage(org, &dag(&v2), &v2, "ann", T0 + 1).await.unwrap();
    assert_eq!(s.rematerialize(org, "erc20", d2.version, "ann", T0 + 2).await.unwrap(), 2, "the two transfers tasks, not counts or blocks");
    assert_eq!(s.rematerialize(org, "erc20", d2.version, "ann", T0 + 2).await.unwrap(), 0);
    let queued = s.tasks_of_job(d2.job("transfers")).await.unwrap();
    assert_eq!(queued.iter().map(|t| t.event_range.unwrap()).collect::<Vec<_>>(), vec![(0, 10), (10, 20)]);
    assert!(s.tasks_of_job(d2.job("counts")).await.unwrap().is_empty());
    assert!(matches!(s.rematerialize(org, "erc20", 1, "ann", T0).await, Err(StoreError::AlreadyActive { .. })));

    // The active version keeps working while v2 is staged: the windows it
    // completes meanwhile are replayed by the cutover, to drain after it.
    fill(&s, org, d1.job("blocks"), &[(20, 30)], T0 + 3).await;
    let cut = s.cutover(org, "erc20", d2.version, "ann", T0 + 4).await.unwrap();
    assert_eq!(cut.replayed, 1);
    let queued = s.tasks_of_job(d2.job("transfers")).await.unwrap();
    assert_eq!(queued.iter().map(|t| t.event_range.unwrap()).collect::<Vec<_>>(), vec![(0, 10), (10, 20), (20, 30)]);
}
on_both!(rematerialize_replays_exactly_the_edited_jobs);

async fn cutover_moves_queued_and_running_work_to_the_new_version<S: Store + Registry + Lifecycle>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d1 = s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    let v2 = V1.replace("min_value: 100", "min_value: 500");
    let d2 = s.stage(org, &dag(&v2), &v2, "ann", T0 + 1).await.unwrap();
    // v1 keeps taking source runs while v2 is staged: one starts running,
    // one is still queued when the cutover commits.
    s.trigger(d1.job("blocks"), "early", Some((0, 10)), "ann", T0 + 2).await.unwrap();
    let running = s.claim_payloads(1, T0 + 2).await.unwrap().pop().unwrap();
    s.trigger(d1.job("blocks"), "late", Some((10, 20)), "ann", T0 + 3).await.unwrap();

    let cut = s.cutover(org, "erc20", d2.version, "ann", T0 + 4).await.unwrap();
    assert_eq!((cut.moved, cut.canceled, cut.stopping), (2, 1, 1), "{cut:?}");
    let blocks2 = s.version_job(org, "erc20", d2.version, "blocks").await.unwrap().unwrap();
    let moved = s.tasks_of_job(blocks2).await.unwrap();
    assert_eq!(moved.iter().map(|t| (t.event_range.unwrap(), t.status)).collect::<Vec<_>>(), vec![
        ((0, 10), TaskStatus::Pending),
        ((10, 20), TaskStatus::Pending)
    ]);
    let old = s.task(running.task).await.unwrap();
    assert!(old.status == TaskStatus::Running && old.cancel_requested, "the running v1 task is asked to stop: {old:?}");

    // The moved runs drain as v2's work (one at a time: the job's concurrency).
    let claimed = s.claim_payloads(10, T0 + 5).await.unwrap();
    assert_eq!(claimed.iter().map(|p| (p.job, p.range)).collect::<Vec<_>>(), vec![(blocks2, Some((0, 10)))]);
}
on_both!(cutover_moves_queued_and_running_work_to_the_new_version);

async fn history_lists_dag_and_dataset_versions_with_their_state<S: Store + Registry + Lifecycle + History>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let other = s.create_org("globex", T0).await.unwrap();
    s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    let v2 = V1.replace("min_value: 100", "min_value: 500");
    s.stage(org, &dag(&v2), &v2, "bob", T0 + 1).await.unwrap();
    let states = |h: Vec<DagVersionView>| h.into_iter().map(|v| (v.version, v.state, v.deployed_by)).collect::<Vec<_>>();
    assert_eq!(states(s.dag_versions(org).await.unwrap()), vec![(2, VersionState::Staged, "bob".into()), (1, VersionState::Active, "ann".into())]);
    assert!(s.dag_versions(org).await.unwrap().iter().all(|v| v.jobs > 0));
    assert!(s.dag_versions(other).await.unwrap().is_empty(), "another org's DAGs are not listed");

    s.cutover(org, "erc20", 2, "ann", T0 + 2).await.unwrap();
    assert_eq!(states(s.dag_versions(org).await.unwrap()), vec![(2, VersionState::Active, "bob".into()), (1, VersionState::Previous, "ann".into())]);
    let versions = s.dataset_versions(org, "erc20_transfers").await.unwrap();
    assert_eq!(versions.iter().map(|v| (v.dag_version, v.active)).collect::<Vec<_>>(), vec![(2, true), (1, false)]);
    assert!(versions.iter().all(|v| v.partitions == 0 && v.rows == 0 && v.purged_at.is_none()));
    assert_eq!(versions[0].uuid, version_of(&s, org, "erc20_transfers").await);
    s.purge_version(org, "erc20_transfers", &versions[1].uuid, "root", T0 + 3).await.unwrap();
    assert_eq!(s.dataset_versions(org, "erc20_transfers").await.unwrap()[1].purged_at, Some(T0 + 3));
    assert!(s.dataset_versions(other, "erc20_transfers").await.unwrap().is_empty());
}
on_both!(history_lists_dag_and_dataset_versions_with_their_state);
