//! The Query Service on a real system database (SQLite and PostgreSQL):
//! datasets resolved by name for the caller, pinned to one version for the
//! whole query, readable only as `read_roles` allow, and past versions
//! readable by id until they are purged.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use trace_query::{render, resolve, run, Caller, Files, Format, QueryError, QueryLimits, QueryRequest};
use trace_storage::Storage;
use trace_store::*;

const T0: Millis = 1_000_000;

/// One source publishing `transfers`; `min` changes its lineage.
fn dag(min: u32) -> String {
    format!("name: pipe\njobs:\n  - name: src\n    kind: source\n    operator: src.wasm\n    config: {{ min: {min} }}\npublish:\n  - {{ job: src, output_index: 0, dataset: transfers }}\n")
}

/// Run the source over [0, 10) and commit a file of `ids` as its output.
async fn publish(db: &Db, storage: &Storage, org: OrgId, text: &str, run: &str, ids: &[i64]) -> String {
    let d = db.deploy(org, &trace_dag::parse("pipe.yaml", text).unwrap(), text, "ann", T0).await.unwrap();
    db.trigger(d.job("src"), run, Some((0, 10)), "ann", T0).await.unwrap();
    let p = db.claim_payloads(1, T0).await.unwrap().pop().unwrap();
    let to = &p.outputs_to[0];
    let object_key = format!("org/{org}/dataset/{}/version/{}/0_10.parquet", to.dataset_uuid, to.version_uuid);
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(ids.to_vec()))],
    )
    .unwrap();
    let parquet = trace_batches::parquet_bytes("output 0", &[trace_batches::encode_ipc(&[batch]).unwrap()]).unwrap().unwrap();
    let bytes = parquet.bytes.len() as u64;
    storage.put(&object_key.as_str().into(), parquet.bytes.into()).await.unwrap();
    let w = WrittenPartition {
        output: 0,
        version_uuid: to.version_uuid.clone(),
        partition_key: "0_10".into(),
        range: Some((0, 10)),
        scope: None,
        deduped_against: vec![],
        object_key,
        staging_key: format!("org/{org}/staging/{run}.parquet"),
        rows: ids.len() as u64,
        bytes,
    };
    let done = Completion { auth: p.attempt.clone().unwrap(), outcome: Outcome::Succeeded, events: vec![], state: vec![], partitions: vec![w] };
    db.complete_many(&[done], T0).await.unwrap().pop().unwrap().unwrap();
    to.version_uuid.clone()
}

fn request(sql: &str) -> QueryRequest {
    QueryRequest { sql: sql.into(), ..Default::default() }
}

async fn ids(db: &Db, files: &Files, caller: &Caller, req: QueryRequest) -> Result<String, QueryError> {
    let r = trace_query::query(db, files, caller, req).await?;
    Ok(String::from_utf8(render(&r, Format::Csv).unwrap()).unwrap())
}

async fn queries_are_pinned_role_gated_and_time_travel(db: Db) {
    db.migrate().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(&dir.path().join("objects")).unwrap();
    let files = Files { storage: storage.clone(), cache_dir: dir.path().join("cache"), max_fetch_bytes: 1 << 20 };
    let org = db.create_org("acme", T0).await.unwrap();
    let other = db.create_org("globex", T0).await.unwrap();
    let user = |name: &str, org: OrgId, role: Role| Principal { user: 0, org, name: name.into(), role };
    let admin = Caller { org, user: Some(user("ann", org, Role::Admin)) };
    let viewer = Caller { org, user: Some(user("vic", org, Role::Viewer)) };
    let outsider = Caller { org: other, user: Some(user("zed", other, Role::Admin)) };

    let v1 = publish(&db, &storage, org, &dag(1), "r1", &[1, 2, 3, 4, 5]).await;
    let sql = "SELECT sum(id) AS s, count(*) AS n FROM transfers";
    assert_eq!(ids(&db, &files, &admin, request(sql)).await.unwrap(), "s,n\n15,5\n");

    // Pinned: resolved once; a new active version (a deploy that changes
    // the producer) does not change what this query reads.
    let pinned = resolve(&db, &files, &admin, &request(sql)).await.unwrap();
    let v2 = publish(&db, &storage, org, &dag(2), "r2", &[10, 20]).await;
    assert_ne!(v1, v2);
    let old = run(&pinned, sql, &QueryLimits::default()).unwrap();
    assert_eq!(String::from_utf8(render(&old, Format::Csv).unwrap()).unwrap(), "s,n\n15,5\n");
    assert_eq!(ids(&db, &files, &admin, request(sql)).await.unwrap(), "s,n\n30,2\n", "a new query reads the new version");
    // Time travel: the old version by its id.
    let as_of = QueryRequest { sql: sql.into(), as_of: BTreeMap::from([("transfers".to_owned(), v1.clone())]), ..Default::default() };
    assert_eq!(ids(&db, &files, &admin, as_of.clone()).await.unwrap(), "s,n\n15,5\n");

    // Private by default: to a viewer and to another org the dataset does
    // not exist, in the same words as a name nobody uses.
    let absent = |e: QueryError| e.to_string().replace("secret_table", "transfers");
    let never = absent(ids(&db, &files, &admin, request("SELECT * FROM secret_table")).await.unwrap_err());
    assert!(never.contains("Table with name transfers does not exist"), "{never}");
    for caller in [&viewer, &outsider] {
        let seen = ids(&db, &files, caller, request("SELECT * FROM transfers")).await.unwrap_err().to_string();
        assert!(seen.contains("Table with name transfers does not exist"), "{seen}");
        let pinned = ids(&db, &files, caller, as_of.clone()).await.unwrap_err();
        assert_eq!(pinned.to_string(), "no such dataset: transfers");
    }
    // Opened to viewers, the viewer reads it.
    db.set_read_roles(org, "transfers", &["viewer".to_owned()], "ann", T0).await.unwrap();
    assert_eq!(ids(&db, &files, &viewer, request(sql)).await.unwrap(), "s,n\n30,2\n");

    // A purged version says so; an unknown one is not there.
    db.purge_version(org, "transfers", &v1, "ann", T0).await.unwrap();
    let purged = ids(&db, &files, &admin, as_of).await.unwrap_err();
    assert_eq!(purged.to_string(), format!("version {v1} of dataset transfers was purged; its files are gone"));
    let unknown = QueryRequest { sql: sql.into(), as_of: BTreeMap::from([("transfers".to_owned(), "nope".to_owned())]), ..Default::default() };
    assert_eq!(ids(&db, &files, &admin, unknown).await.unwrap_err().to_string(), "dataset transfers has no version nope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap());
    queries_are_pinned_role_gated_and_time_travel(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let db = Db::Postgres(PgStore::connect(&trace_testbed::database(), 4).await.unwrap());
    queries_are_pinned_role_gated_and_time_travel(db).await;
}
