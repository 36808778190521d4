//! For tests of the Query Service and of what serves it (feature
//! `testing`): publish a dataset the way a run does, through the system
//! database's own deploy, trigger, claim and completion.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use trace_storage::Storage;
use trace_store::{Completion, Db, Millis, OrgId, Outcome, Store, WrittenPartition};

/// A DAG `pipe` whose source `src` publishes `transfers`; a different `min`
/// changes the producer's lineage, so deploying it makes a new version.
pub fn dag(min: u32) -> String {
    format!("name: pipe\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\n    config: {{ min: {min} }}\npublish:\n  - {{ job: src, output_index: 0, dataset: transfers }}\n")
}

/// Deploy `yaml` (one source job `src`), run it over [0, 10) as run `run`
/// and commit a Parquet file with an `id` column of `ids` as its output;
/// returns the dataset version it wrote.
pub async fn publish(db: &Db, storage: &Storage, org: OrgId, yaml: &str, run: &str, ids: &[i64], now: Millis) -> String {
    let batch = RecordBatch::try_new(Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])), vec![Arc::new(Int64Array::from(ids.to_vec()))])
        .expect("a batch");
    let parquet = trace_batches::parquet_bytes("output 0", &[trace_batches::encode_ipc(&[batch]).expect("ipc")]).expect("parquet").expect("rows");
    let rows = ids.len() as u64;
    publish_with(db, org, yaml, run, 1, now, async |key: String| {
        let bytes = parquet.bytes.len() as u64;
        storage.put(&key.as_str().into(), parquet.bytes.clone().into()).await.expect("put");
        (rows, bytes)
    })
    .await
}

/// Like [`publish`], with `partitions` files (at most 10: one over the
/// run's range [0, 10), or ranges [i, i+1)) that `write` puts at the object key it is given,
/// returning their rows and bytes.
pub async fn publish_with(db: &Db, org: OrgId, yaml: &str, run: &str, partitions: u64, now: Millis, mut write: impl AsyncFnMut(String) -> (u64, u64)) -> String {
    assert!((1..=10).contains(&partitions), "1 to 10 partitions");
    let d = db.deploy(org, &trace_dag::parse("pipe.yaml", yaml).expect("a valid DAG"), yaml, "user:ann", now).await.expect("deploy");
    db.trigger(d.job("src"), run, Some((0, 10)), "user:ann", now).await.expect("trigger");
    let p = db.claim_payloads(1, now).await.expect("claim").pop().expect("one task");
    let to = &p.outputs_to[0];
    let mut written = Vec::new();
    for i in 0..partitions {
        let (start, end) = if partitions == 1 { (0, 10) } else { (i, i + 1) };
        let key = format!("{start}_{end}");
        let object_key = format!("org/{org}/dataset/{}/version/{}/{key}.parquet", to.dataset_uuid, to.version_uuid);
        let (rows, bytes) = write(object_key.clone()).await;
        written.push(WrittenPartition {
            output: 0,
            version_uuid: to.version_uuid.clone(),
            partition_key: key,
            range: Some((start, end)),
            scope: None,
            deduped_against: vec![],
            object_key,
            staging_key: format!("org/{org}/staging/{run}-{i}.parquet"),
            rows,
            bytes,
        });
    }
    let done = Completion { usage: None, log: None, auth: p.attempt.clone().expect("an attempt"), outcome: Outcome::Succeeded, events: vec![], state: vec![], partitions: written };
    db.complete_many(&[done], now).await.expect("complete").pop().expect("one").expect("completed");
    to.version_uuid.clone()
}
