//! The queue's depth (the dispatcher's gauges), on SQLite and PostgreSQL:
//! open tasks in total and per job name, due, backing off and running.

mod support;

use trace_store::*;

const T0: Millis = 1_000_000;

fn depth_of<'a>(d: &'a QueueDepth, job: &str) -> &'a JobDepth {
    d.by_job.iter().find(|j| j.job == job).unwrap_or_else(|| panic!("no {job} in {d:?}"))
}

async fn depth_counts_open_tasks_per_job<S: Store>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    let text = "name: deep\njobs:\n  - name: a\n    kind: source\n    operator: a.wasm\n    max_attempts: 3\n    scaling: { max_concurrency: 5 }\n  - name: b\n    kind: source\n    operator: b.wasm\n";
    let d = trace_dag::parse("dag.yaml", text).unwrap();
    let deployed = s.deploy(org, &d, text, "ann", T0).await.unwrap();
    for i in 0..3 {
        s.trigger(deployed.job("a"), &format!("a{i}"), Some((i * 10, i * 10 + 10)), "ann", T0).await.unwrap();
    }
    s.trigger(deployed.job("b"), "b0", Some((0, 10)), "ann", T0 + 1).await.unwrap();
    assert_eq!(s.queue_depth(T0 + 2).await.unwrap().due, 4);

    let [first, second] = <[Claim; 2]>::try_from(s.claim(2, T0 + 2).await.unwrap()).unwrap();
    // One fails and will be retried after a backoff; the other runs on.
    let failed = Outcome::Failed { retryable: true, message: "node down".into() };
    let report = Completion { auth: first.auth(), outcome: failed, events: vec![], state: vec![], partitions: vec![], usage: None, log: None };
    s.complete_many(&[report], T0 + 3).await.unwrap();

    let depth = s.queue_depth(T0 + 4).await.unwrap();
    assert_eq!((depth.due, depth.backing_off, depth.running), (2, 1, 1), "{depth:?}");
    assert_eq!(depth.by_job.iter().map(|j| j.job.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let a = depth_of(&depth, "a");
    assert_eq!((a.due, a.backing_off, a.running), (1, 1, 1), "{second:?}");
    let b = depth_of(&depth, "b");
    assert_eq!((b.due, b.backing_off, b.running), (1, 0, 0));
}
on_both!(depth_counts_open_tasks_per_job);

/// Per-job figures are bounded (one metric series per job name, whatever
/// tenants name their jobs); the totals still count every open task.
async fn depth_reports_at_most_max_depth_jobs_names<S: Store>(s: S) {
    let org = s.create_org("acme", T0).await.unwrap();
    // Two DAGs: one of as many jobs as a DAG may have, one more job after it
    // in name order.
    let source = |name: String| format!("  - name: {name}\n    kind: source\n    operator: s.wasm\n");
    let many: String = (0..MAX_DEPTH_JOBS).map(|i| source(format!("j{i:04}"))).collect();
    let mut jobs = Vec::new();
    for (dag, body) in [("many", many), ("last", source("z_last".into()))] {
        let text = format!("name: {dag}\njobs:\n{body}");
        let deployed = s.deploy(org, &trace_dag::parse("dag.yaml", &text).unwrap(), &text, "ann", T0).await.unwrap();
        jobs.extend(deployed.jobs.iter().map(|(_, id)| *id));
    }
    for (i, job) in jobs.iter().enumerate() {
        s.trigger(*job, &format!("r{i}"), Some((0, 10)), "ann", T0).await.unwrap();
    }
    let depth = s.queue_depth(T0 + 1).await.unwrap();
    assert_eq!(depth.due, MAX_DEPTH_JOBS as i64 + 1, "the total counts every job");
    assert_eq!(depth.by_job.len(), MAX_DEPTH_JOBS);
    assert_eq!((depth.by_job[0].job.as_str(), depth.by_job[MAX_DEPTH_JOBS - 1].job.as_str()), ("j0000", "j0999"));
    assert!(depth.by_job.iter().all(|j| j.job != "z_last" && j.due == 1));
}
on_both!(depth_reports_at_most_max_depth_jobs_names);
