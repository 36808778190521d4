//! Identity and the dataset registry, on SQLite and on PostgreSQL.

mod support;

use support::written;
use trace_store::*;

const T0: Millis = 1_000_000;

const V1: &str = support::ERC20_DAG;

fn dag(text: &str) -> trace_dag::Dag {
    trace_dag::parse("dag.yaml", text).unwrap()
}

fn by_name(all: &[DatasetView], name: &str) -> DatasetView {
    all.iter().find(|d| d.name == name).unwrap_or_else(|| panic!("no dataset {name}")).clone()
}

async fn tokens_authenticate_their_user_until_revoked<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let other = s.create_org("globex", T0).await.unwrap();
    let ann = s.create_user(org, "ann", Role::Developer, "tester", T0).await.unwrap();
    // Names are unique per org, not globally.
    s.create_user(other, "ann", Role::Viewer, "tester", T0).await.unwrap();
    assert!(matches!(s.create_user(org, "ann", Role::Admin, "tester", T0).await, Err(StoreError::UserExists(_))));

    let token = s.create_token(ann, "laptop", "tester", T0).await.unwrap();
    assert!(token.starts_with("trc_") && token.len() > 40, "{token}");
    let who = s.authenticate(&token).await.unwrap().unwrap();
    assert_eq!((who.org, who.name.as_str(), who.role), (org, "ann", Role::Developer));
    assert_eq!(s.authenticate("trc_not-a-token").await.unwrap(), None);
    assert!(matches!(s.create_token(9_999, "x", "tester", T0).await, Err(StoreError::NoSuchUser(9_999))));

    assert_eq!(s.revoke_tokens(ann, "tester", T0).await.unwrap(), 1);
    assert_eq!(s.authenticate(&token).await.unwrap(), None, "a revoked token no longer works");
}
on_both!(tokens_authenticate_their_user_until_revoked);

async fn deploy_registers_datasets_and_keeps_versions_whose_lineage_is_unchanged<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    let v1 = s.datasets(org).await.unwrap();
    assert_eq!(v1.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["block_counts", "erc20_transfers"]);
    let t1 = by_name(&v1, "erc20_transfers");
    assert_eq!((t1.dag.as_str(), t1.producer_job.as_str(), t1.output_index), ("erc20", "transfers", 0));
    assert_eq!(t1.uuid.len(), 36);
    assert_ne!(t1.uuid, by_name(&v1, "block_counts").uuid);
    assert!(t1.version.is_some());

    // Edit the UDF's threshold: its dataset gets a new version, the other
    // dataset (whose lineage did not change) keeps its version.
    let v2_text = V1.replace("min_value: 100", "min_value: 500");
    s.deploy(org, &dag(&v2_text), &v2_text, "bob", T0 + 1).await.unwrap();
    let v2 = s.datasets(org).await.unwrap();
    let t2 = by_name(&v2, "erc20_transfers");
    assert_eq!(t2.uuid, t1.uuid, "the dataset's identity survives deploys");
    assert_ne!(t2.version, t1.version, "a changed producer rematerializes into a new version");
    assert_eq!(by_name(&v2, "block_counts").version, by_name(&v1, "block_counts").version);
    assert_eq!(t2.deployers, vec!["ann".to_owned(), "bob".to_owned()]);

    // An upstream edit changes every downstream lineage.
    let v3_text = v2_text.replace("operator: src.wasm", "operator: src2.wasm");
    s.deploy(org, &dag(&v3_text), &v3_text, "bob", T0 + 2).await.unwrap();
    let v3 = s.datasets(org).await.unwrap();
    assert_ne!(by_name(&v3, "block_counts").version, by_name(&v2, "block_counts").version);
    assert_ne!(by_name(&v3, "erc20_transfers").version, t2.version);
}
on_both!(deploy_registers_datasets_and_keeps_versions_whose_lineage_is_unchanged);

async fn a_dataset_has_one_producing_dag<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    let rival = V1.replace("name: erc20\n", "name: rival\n");
    let err = s.deploy(org, &dag(&rival), &rival, "ann", T0).await.unwrap_err();
    assert!(
        err.to_string().contains("dataset \"block_counts\" is already produced by DAG \"erc20\"")
            || err.to_string().contains("dataset \"erc20_transfers\" is already produced by DAG \"erc20\""),
        "{err}"
    );
    // The refused deploy left nothing behind: no DAG called rival.
    assert!(s.active_job(org, "rival", "blocks").await.unwrap().is_none());
    // Another org may use the same dataset names.
    let globex = s.create_org("globex", T0).await.unwrap();
    s.deploy(globex, &dag(&rival), &rival, "zed", T0).await.unwrap();
    assert_eq!(s.datasets(globex).await.unwrap().len(), 2);
}
on_both!(a_dataset_has_one_producing_dag);

async fn read_roles_gate_who_sees_a_dataset<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    s.deploy(org, &dag(V1), V1, "user:ann", T0).await.unwrap();
    let who = |name: &str, role| Principal { user: 0, org, name: name.to_owned(), role };
    let t = by_name(&s.datasets(org).await.unwrap(), "erc20_transfers");
    assert!(t.read_roles.is_empty());
    assert!(t.readable_by(&who("root", Role::Admin)), "admins read everything");
    assert!(t.readable_by(&who("ann", Role::Developer)), "the producing DAG's deployer reads it");
    assert!(!t.readable_by(&who("vic", Role::Viewer)), "empty read_roles: private");

    s.set_read_roles(org, "erc20_transfers", &["viewer".to_owned()], "root", T0).await.unwrap();
    let t = by_name(&s.datasets(org).await.unwrap(), "erc20_transfers");
    assert_eq!(t.read_roles, vec!["viewer".to_owned()]);
    assert!(t.readable_by(&who("vic", Role::Viewer)));
    assert!(matches!(s.set_read_roles(org, "nope", &[], "root", T0).await, Err(StoreError::NoSuchDataset(_))));
    assert!(matches!(s.set_read_roles(org, "erc20_transfers", &["wizard".to_owned()], "root", T0).await, Err(StoreError::BadRole(_))));
}
on_both!(read_roles_gate_who_sees_a_dataset);

async fn every_change_is_audited_with_its_actor<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d = s.deploy(org, &dag(V1), V1, "user:ann", T0).await.unwrap();
    let task = s.trigger(d.job("blocks"), "r1", Some((0, 10)), "user:bob", T0).await.unwrap().tasks[0];
    s.trigger(d.job("blocks"), "r1", Some((0, 10)), "user:bob", T0).await.unwrap();
    s.cancel(task, "user:cy", T0).await.unwrap();
    let user = s.create_user(org, "dee", Role::Viewer, "user:ann", T0).await.unwrap();
    s.create_token(user, "ci", "user:ann", T0).await.unwrap();
    let log: Vec<(String, String)> = s.audit_tail(10).await.unwrap().into_iter().rev().map(|e| (e.actor, e.action)).collect();
    let pairs: Vec<(&str, &str)> = log.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        pairs,
        vec![
            ("system", "org.create"),
            ("user:ann", "dag.deploy"),
            ("user:bob", "job.trigger"), // the repeated trigger changed nothing: not audited
            ("user:cy", "task.cancel"),
            ("user:ann", "user.create"),
            ("user:ann", "token.create"),
        ]
    );
    let tail = s.audit_tail(1).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert!(!tail[0].detail.contains("trc_"), "a token never reaches the audit log: {:?}", tail[0]);
}
on_both!(every_change_is_audited_with_its_actor);

#[tokio::test]
async fn the_audit_log_is_append_only_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let lite = SqliteStore::open(&path).await.unwrap();
    lite.migrate().await.unwrap();
    lite.create_org("acme", T0).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    for sql in ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"] {
        let err = sqlx::query(sql).execute(&raw).await.unwrap_err();
        assert!(err.to_string().contains("audit_log is append-only"), "{sql}: {err}");
    }

    let url = trace_testbed::database();
    let pg = PgStore::connect(&url, 2).await.unwrap();
    pg.migrate().await.unwrap();
    pg.create_org("acme", T0).await.unwrap();
    let raw = sqlx::PgPool::connect(&url).await.unwrap();
    for sql in ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let err = sqlx::query(sql).execute(&raw).await.unwrap_err();
        assert!(err.to_string().contains("audit_log is append-only"), "{sql}: {err}");
    }
    assert_eq!(pg.audit_tail(10).await.unwrap().len(), 1);
}

async fn partitions_become_visible_only_with_an_accepted_success<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d = s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    s.trigger(d.job("blocks"), "r1", Some((0, 10)), "ann", T0).await.unwrap();
    let source = s.claim_payloads(1, T0).await.unwrap().pop().unwrap();
    assert_eq!(source.outputs_to.len(), 1, "the source's unpublished output is an internal dataset");
    assert!(s.datasets(org).await.unwrap().iter().all(|d| !d.name.starts_with('~')), "internal datasets are not listed");
    let emit = EmittedEvent { output: 0, partition_key: "0_10".into(), range: Some((0, 10)), cursor: None };
    let done = Completion { usage: None, log: None, auth: source.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![emit], state: vec![], partitions: vec![] };
    s.complete_many(&[done], T0).await.unwrap().pop().unwrap().unwrap();

    let claimed = s.claim_payloads(10, T0).await.unwrap();
    let of = |job: &str| claimed.iter().find(|p| p.job_name == job).unwrap().clone();
    let (transfers, counts) = (of("transfers"), of("counts"));
    let to = transfers.outputs_to[0].clone();
    assert_eq!(to.dataset_uuid, by_name(&s.datasets(org).await.unwrap(), "erc20_transfers").uuid);
    let report = |p: &TaskPayload, outcome: Outcome, w: Vec<WrittenPartition>| Completion {
        usage: None, log: None,
        auth: p.attempt.clone().unwrap(),
        outcome,
        events: vec![],
        state: vec![],
        partitions: w,
    };

    // A failed attempt registers nothing, even with files listed.
    let failed = Outcome::Failed { retryable: true, message: "boom".into() };
    s.complete_many(&[report(&transfers, failed, vec![written(org, &to, "0_10", 5)])], T0).await.unwrap().pop().unwrap().unwrap();
    assert!(s.partitions(org, "erc20_transfers").await.unwrap().is_empty());

    // A job cannot register a file into another job's dataset, nor outside
    // its version's path.
    let wrong = s.complete_many(&[report(&counts, Outcome::Succeeded, vec![written(org, &to, "0_10", 5)])], T0).await.unwrap().pop().unwrap();
    assert!(matches!(wrong, Err(StoreError::BadPartition { .. })), "{wrong:?}");
    let mut outside = written(org, &counts.outputs_to[0], "0_10", 5);
    outside.object_key = format!("org/{}/dataset/x/version/y/0_10.parquet", org + 1);
    let wrong = s.complete_many(&[report(&counts, Outcome::Succeeded, vec![outside])], T0).await.unwrap().pop().unwrap();
    assert!(matches!(wrong, Err(StoreError::BadPartition { .. })), "{wrong:?}");

    // The retry succeeds: its file is registered, under the same key.
    let retry = s.claim_payloads(10, T0 + 60_000).await.unwrap().into_iter().find(|p| p.job_name == "transfers").unwrap();
    assert_eq!(retry.attempt.as_ref().unwrap().attempt, 2);
    let w = written(org, &to, "0_10", 7);
    s.complete_many(&[report(&retry, Outcome::Succeeded, vec![w.clone()])], T0).await.unwrap().pop().unwrap().unwrap();
    let parts = s.partitions(org, "erc20_transfers").await.unwrap();
    let staging_key = Some(w.staging_key.clone());
    assert_eq!(parts, vec![PartitionView { partition_key: "0_10".into(), range: Some((0, 10)), object_key: w.object_key, rows: 7, bytes: 56, staging_key }]);
}
on_both!(partitions_become_visible_only_with_an_accepted_success);

async fn a_task_covering_too_many_partitions_is_refused_alone<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let d = s.deploy(org, &dag(V1), V1, "ann", T0).await.unwrap();
    let n = MAX_INPUT_PARTITIONS as u64 + 1;
    s.trigger(d.job("blocks"), "r1", Some((0, n)), "ann", T0).await.unwrap();
    let source = s.claim_payloads(1, T0).await.unwrap().pop().unwrap();
    let to = &source.outputs_to[0];
    // One file per block: one more than a task may read.
    let files = (0..n).map(|i| written(org, to, &format!("{i}_{}", i + 1), 1)).collect();
    let events = vec![
        EmittedEvent { output: 0, partition_key: "all".into(), range: Some((0, n)), cursor: None },
        EmittedEvent { output: 0, partition_key: "some".into(), range: Some((0, 10)), cursor: None },
    ];
    let done = Completion { usage: None, log: None, auth: source.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events, state: vec![], partitions: files };
    s.complete_many(&[done], T0).await.unwrap().pop().unwrap().unwrap();

    // The claim succeeds: the two tasks over everything carry a refusal
    // naming the limit, the two over ten blocks read their ten files.
    let claimed = s.claim_payloads(10, T0).await.unwrap();
    assert_eq!(claimed.len(), 2, "one task per job at a time");
    for p in &claimed {
        let refusal = p.refusal.as_deref().unwrap_or_else(|| panic!("task {} over {:?} should be refused", p.task, p.range));
        assert_eq!(refusal, format!("task {} input 0 covers too many partitions: more than limit={MAX_INPUT_PARTITIONS}", p.task));
        assert!(p.inputs_from[0].partitions.is_empty());
    }
    for p in &claimed {
        let failed = Outcome::Failed { retryable: false, message: p.refusal.clone().unwrap() };
        let report = Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: failed, events: vec![], state: vec![], partitions: vec![] };
        s.complete_many(&[report], T0).await.unwrap().pop().unwrap().unwrap();
    }
    let claimed = s.claim_payloads(10, T0).await.unwrap();
    assert_eq!(claimed.len(), 2);
    for p in &claimed {
        assert_eq!((p.range, p.refusal.as_deref(), p.inputs_from[0].partitions.len()), (Some((0, 10)), None, 10));
    }
}
on_both!(a_task_covering_too_many_partitions_is_refused_alone);


async fn a_shared_read_is_checked_against_read_roles_at_every_claim<S: Store + Registry>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    s.create_user(org, "ann", Role::Developer, "root", T0).await.unwrap();
    s.create_user(org, "bob", Role::Developer, "root", T0).await.unwrap();
    s.deploy(org, &dag(V1), V1, "user:ann", T0).await.unwrap();
    s.set_read_roles(org, "erc20_transfers", &["developer".to_owned()], "root", T0).await.unwrap();
    // bob may read it now (the API checks this at deploy).
    let text = support::shared_reader("reader", "erc20_transfers");
    let reader = s.deploy(org, &dag(&text), &text, "user:bob", T0).await.unwrap();
    let ticks = reader.job("ticks");
    let check = |run: &'static str| {
        let s = &s;
        async move {
            s.trigger(ticks, run, Some((0, 10)), "user:bob", T0).await.unwrap();
            let tick = s.claim_payloads(10, T0).await.unwrap().into_iter().find(|p| p.job_name == "ticks").unwrap();
            let emit = EmittedEvent { output: 0, partition_key: run.into(), range: Some((0, 10)), cursor: None };
            let done = Completion { usage: None, log: None, auth: tick.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![emit], state: vec![], partitions: vec![] };
            s.complete_many(&[done], T0).await.unwrap().pop().unwrap().unwrap();
            let p = s.claim_payloads(10, T0).await.unwrap().into_iter().find(|p| p.job_name == "check").unwrap();
            let failed = Outcome::Failed { retryable: false, message: "done".into() };
            let report = Completion { usage: None, log: None, auth: p.attempt.clone().unwrap(), outcome: failed, events: vec![], state: vec![], partitions: vec![] };
            s.complete_many(&[report], T0).await.unwrap().pop().unwrap().unwrap();
            p
        }
    };
    let allowed = check("r1").await;
    assert_eq!((allowed.refusal.as_deref(), allowed.inputs_from.len()), (None, 2), "{allowed:?}");

    // An admin makes the dataset private again: bob's DAG keeps running,
    // but its next task may not read it.
    s.set_read_roles(org, "erc20_transfers", &[], "root", T0).await.unwrap();
    let denied = check("r2").await;
    assert_eq!(
        denied.refusal.as_deref(),
        Some("job `check` may not read dataset \"erc20_transfers\": user:bob, who deployed its DAG version, is no longer allowed by its read_roles")
    );
    assert_eq!(denied.inputs_from.iter().map(|f| f.input).collect::<Vec<_>>(), vec![0], "nothing of the dataset is handed out");

    // The producing DAG's own deployer and operators on the database keep reading.
    let own = support::shared_reader("own_reader", "erc20_transfers");
    let d = s.deploy(org, &dag(&own), &own, "user:ann", T0).await.unwrap();
    s.trigger(d.job("ticks"), "r3", Some((0, 10)), "user:ann", T0).await.unwrap();
    let tick = s.claim_payloads(10, T0).await.unwrap().into_iter().find(|p| p.job_name == "ticks").unwrap();
    let emit = EmittedEvent { output: 0, partition_key: "r3".into(), range: Some((0, 10)), cursor: None };
    let done = Completion { usage: None, log: None, auth: tick.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![emit], state: vec![], partitions: vec![] };
    s.complete_many(&[done], T0).await.unwrap().pop().unwrap().unwrap();
    let p = s.claim_payloads(10, T0).await.unwrap().into_iter().find(|p| p.job_name == "check").unwrap();
    assert_eq!(p.refusal, None);
}
on_both!(a_shared_read_is_checked_against_read_roles_at_every_claim);
