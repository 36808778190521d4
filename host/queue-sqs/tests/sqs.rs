//! The SQS queue against an SQS-compatible server on 127.0.0.1 (moto's
//! server from PyPI, started here; `.ci/run` installs it).

use std::time::Duration;

use trace_queue_sqs::{SqsConfig, SqsQueue};
use trace_testbed::moto;

fn config(port: u16) -> SqsConfig {
    SqsConfig {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    }
}

#[tokio::test]
async fn task_ids_round_trip_and_unacknowledged_messages_come_back() {
    let server = moto();
    let queue = SqsQueue::open(SqsQueue::client(&config(server.port)), "trace-tasks", Duration::from_secs(1)).await.unwrap();
    for task in [11, 12, 13] {
        queue.send(task).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        got.extend(queue.receive(10, Duration::from_secs(1)).await.unwrap());
    }
    let mut tasks: Vec<_> = got.iter().map(|d| d.task).collect();
    tasks.sort();
    assert_eq!(tasks, vec![11, 12, 13], "thin messages: task ids only");

    // Acknowledge two; the third, unacknowledged (its worker "died"),
    // reappears after the visibility timeout with a higher receive count.
    for d in got.iter().filter(|d| d.task != 13) {
        queue.ack(d).await.unwrap();
    }
    assert!(queue.receive(10, Duration::from_secs(0)).await.unwrap().is_empty(), "in flight: invisible");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let again = queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].task, 13);
    assert!(again[0].receive_count >= 2, "{:?}", again[0]);
    queue.ack(&again[0]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(queue.receive(10, Duration::from_secs(0)).await.unwrap().is_empty(), "acknowledged messages are gone");
}

#[tokio::test]
async fn a_message_without_a_task_id_is_an_error_not_a_crash() {
    let server = moto();
    let client = SqsQueue::client(&config(server.port));
    let queue = SqsQueue::open(client.clone(), "trace-bad", Duration::from_secs(30)).await.unwrap();
    let url = client.get_queue_url().queue_name("trace-bad").send().await.unwrap().queue_url.unwrap();
    client.send_message().queue_url(url).message_body("not-a-number").send().await.unwrap();
    let err = queue.receive(10, Duration::from_secs(1)).await.unwrap_err();
    assert!(err.to_string().contains("does not carry a task id"), "{err}");
}

const PIPELINE: &str = r#"name: over_sqs
jobs:
  - name: blocks
    kind: source
    operator: op_range_splitter.wasm
    config: { range_size: 1000 }
  - name: windows
    operator: op_range_aggregator.wasm
    inputs:
      - from: { job: blocks, output: 0 }
    config: { range_size: 5000 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_runs_with_tasks_dispatched_over_sqs() {
    use std::sync::Arc;
    use trace_control::dev::{self, DevRun};
    use trace_store::{Db, SqliteStore, TaskStatus};

    let server = moto();
    let queue = SqsQueue::open(SqsQueue::client(&config(server.port)), "trace-dispatch", Duration::from_secs(30)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap()));
    let dag = trace_dag::parse("sqs.yaml", PIPELINE).unwrap();
    let run = DevRun {
        dag: &dag,
        yaml: PIPELINE,
        operators: std::path::Path::new(trace_artifacts::NOOP).parent().unwrap(),
        database: std::path::Path::new(""),
        range: (0, 10_000),
        workers: 2,
        timeout: Duration::from_secs(120),
        cache_dir: None,
        poll: Duration::from_millis(100),
        storage: None,
        destinations: Vec::new(),
        webhook_secret: None,
        secrets: Vec::new(),
        chunk: None,
        fuel: false,
        org: None,
    };
    let done = dev::run_on(db, Arc::new(queue.clone()), run, |_| {}).await.unwrap().progress;
    // 1 source task, 10 block ranges, 2 windows: every task id went through SQS.
    assert_eq!(done.counts, vec![(TaskStatus::Completed, 11)]);
    assert_eq!(done.events, 1 + 10 + 2);
    assert!(queue.receive(10, Duration::from_secs(0)).await.unwrap().is_empty(), "every message was acknowledged");
}

#[tokio::test]
async fn an_unreachable_queue_is_retried_then_reported() {
    use trace_control::queue::TaskQueue;
    let server = moto();
    let queue = SqsQueue::open(SqsQueue::client(&config(server.port)), "trace-gone", Duration::from_secs(30)).await.unwrap();
    drop(server);
    let started = std::time::Instant::now();
    let err = TaskQueue::recv(&queue).await.unwrap_err();
    assert_eq!(err.op, "ReceiveMessage");
    let waited: u32 = (1..trace_queue_sqs::MAX_RECEIVE_FAILURES).map(|i| 1 << i).sum();
    assert!(started.elapsed() >= trace_queue_sqs::RECEIVE_BACKOFF * waited, "gave up after {:?}", started.elapsed());
}

fn rows(task: i64) -> trace_protocol::buffered::BufferedRows {
    trace_protocol::buffered::BufferedRows {
        org: 1,
        dataset_uuid: "0a1b2c3d-0000-4000-8000-00000000abcd".into(),
        job: 7,
        task,
        output: 0,
        columns: vec!["alert_key".into()],
        rows: vec![vec![serde_json::json!(format!("k{task}"))]],
    }
}

#[tokio::test]
async fn a_full_buffer_holds_writers_back_and_an_unacknowledged_message_comes_back() {
    use trace_protocol::buffered::Buffer;
    let server = moto();
    let buffer = std::sync::Arc::new(trace_queue_sqs::SqsBuffer::new(SqsQueue::client(&config(server.port)), "trace-test", Duration::from_secs(1), 2));
    let dataset = rows(0).dataset_uuid;
    assert_eq!(buffer.queue_name(&dataset), "trace-test-buf-0a1b2c3d00004000800000000000abcd");
    buffer.push(rows(1)).await.unwrap();
    buffer.push(rows(2)).await.unwrap();
    assert_eq!(buffer.pending().await.unwrap(), 2);
    // Two waiting is the bound: a third writer waits, it is not refused.
    let third = tokio::spawn({
        let buffer = buffer.clone();
        async move { buffer.push(rows(3)).await }
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!third.is_finished(), "a full buffer must hold the writer back");
    let mut got = Vec::new();
    while got.len() < 2 {
        got.extend(buffer.receive(&dataset, 10, 1000).await.unwrap());
    }
    // Received (in flight) is out of the way of writers; the third goes in.
    third.await.unwrap().unwrap();
    let tasks: std::collections::BTreeSet<i64> = got.iter().map(|d| d.rows.task).collect();
    assert_eq!(tasks, [1, 2].into());
    // Acknowledge one; the other's "sink" died: it comes back after the visibility timeout.
    let kept = got.iter().find(|d| d.rows.task == 1).unwrap();
    buffer.ack(&dataset, kept).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut again = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while again.len() < 2 && std::time::Instant::now() < deadline {
        again.extend(buffer.receive(&dataset, 10, 1000).await.unwrap());
    }
    let tasks: std::collections::BTreeSet<i64> = again.iter().map(|d| d.rows.task).collect();
    assert_eq!(tasks, [2, 3].into(), "the unacknowledged message and the third writer's");
    for d in &again {
        buffer.ack(&dataset, d).await.unwrap();
    }
    assert_eq!(buffer.pending().await.unwrap(), 0);
}
