//! The Query Service on a real system database (SQLite and PostgreSQL):
//! datasets resolved by name for the caller, pinned to one version for the
//! whole query, readable only as `read_roles` allow, and past versions
//! readable by id until they are purged.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::time::Duration;

use trace_query::{render, run, Caller, Format, QueryError, QueryLimits, QueryRequest, QueryService, ServiceLimits};
use trace_storage::Storage;
use trace_store::*;

const T0: Millis = 1_000_000;

async fn publish(db: &Db, storage: &Storage, org: OrgId, text: &str, run: &str, ids: &[i64]) -> String {
    trace_query::testing::publish(db, storage, org, text, run, ids, T0).await
}

use trace_query::testing::dag;

fn request(sql: &str) -> QueryRequest {
    QueryRequest { sql: sql.into(), ..Default::default() }
}

async fn ids(service: &QueryService, caller: &Caller, req: QueryRequest) -> Result<String, QueryError> {
    let r = service.query(caller, req).await?;
    Ok(String::from_utf8(render(&r, Format::Csv).unwrap()).unwrap())
}

async fn queries_are_pinned_role_gated_and_time_travel(db: Db) {
    db.migrate().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(&dir.path().join("objects")).unwrap();
    let db = Arc::new(db);
    let service = QueryService::new(db.clone(), storage.clone(), dir.path().join("cache"), ServiceLimits::default()).unwrap();
    let files = &service;
    let org = db.create_org("acme", T0).await.unwrap();
    let other = db.create_org("globex", T0).await.unwrap();
    let user = |name: &str, org: OrgId, role: Role| Principal { user: 0, org, name: name.into(), role };
    let admin = Caller { org, user: Some(user("ann", org, Role::Admin)) };
    let viewer = Caller { org, user: Some(user("vic", org, Role::Viewer)) };
    let outsider = Caller { org: other, user: Some(user("zed", other, Role::Admin)) };

    let v1 = publish(&db, &storage, org, &dag(1), "r1", &[1, 2, 3, 4, 5]).await;
    let sql = "SELECT sum(id) AS s, count(*) AS n FROM transfers";
    assert_eq!(ids(files, &admin, request(sql)).await.unwrap(), "s,n\n15,5\n");

    // Pinned: resolved once; a new active version (a deploy that changes
    // the producer) does not change what this query reads.
    let pinned = service.resolve(&admin, &request(sql)).await.unwrap();
    let v2 = publish(&db, &storage, org, &dag(2), "r2", &[10, 20]).await;
    assert_ne!(v1, v2);
    let old = run(&pinned.catalog, sql, &QueryLimits::default()).unwrap();
    assert_eq!(String::from_utf8(render(&old, Format::Csv).unwrap()).unwrap(), "s,n\n15,5\n");
    assert_eq!(ids(files, &admin, request(sql)).await.unwrap(), "s,n\n30,2\n", "a new query reads the new version");
    // Time travel: the old version by its id.
    let as_of = QueryRequest { sql: sql.into(), as_of: BTreeMap::from([("transfers".to_owned(), v1.clone())]), ..Default::default() };
    assert_eq!(ids(files, &admin, as_of.clone()).await.unwrap(), "s,n\n15,5\n");

    // Private by default: to a viewer and to another org the dataset does
    // not exist, in the same words as a name nobody uses.
    let never = ids(files, &admin, request("SELECT * FROM secret_table")).await.unwrap_err();
    assert_eq!(never.to_string(), "no such dataset: secret_table");
    for caller in [&viewer, &outsider] {
        let seen = ids(files, caller, request("SELECT * FROM transfers")).await.unwrap_err().to_string();
        assert_eq!(seen, "no such dataset: transfers");
        let pinned = ids(files, caller, as_of.clone()).await.unwrap_err();
        assert_eq!(pinned.to_string(), "no such dataset: transfers");
    }
    // Opened to viewers, the viewer reads it.
    db.set_read_roles(org, "transfers", &["viewer".to_owned()], "ann", T0).await.unwrap();
    assert_eq!(ids(files, &viewer, request(sql)).await.unwrap(), "s,n\n30,2\n");

    // A purged version says so; an unknown one is not there.
    db.purge_version(org, "transfers", &v1, "ann", T0).await.unwrap();
    let purged = ids(files, &admin, as_of).await.unwrap_err();
    assert_eq!(purged.to_string(), format!("version {v1} of dataset transfers was purged; its files are gone"));
    let unknown = QueryRequest { sql: sql.into(), as_of: BTreeMap::from([("transfers".to_owned(), "nope".to_owned())]), ..Default::default() };
    assert_eq!(ids(files, &admin, unknown).await.unwrap_err().to_string(), "dataset transfers has no version nope");
}

/// A batch query's record until it ends.
async fn finished(service: &QueryService, caller: &Caller, id: &str) -> BatchQueryView {
    for _ in 0..600 {
        let b = service.batch(caller, id).await.unwrap();
        if b.status != BatchStatus::Running {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("batch query {id} did not end in 30 s");
}

async fn batch_queries_system_tables_and_the_org_cap(db: Db) {
    db.migrate().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(&dir.path().join("objects")).unwrap();
    let db = Arc::new(db);
    let limits = ServiceLimits { queries_per_org: 1, queries_per_server: 2, ..ServiceLimits::default() };
    let service = Arc::new(QueryService::new(db.clone(), storage.clone(), dir.path().join("cache"), limits).unwrap());
    let org = db.create_org("acme", T0).await.unwrap();
    let other = db.create_org("globex", T0).await.unwrap();
    let third = db.create_org("initech", T0).await.unwrap();
    let ivy = Caller { org: third, user: Some(Principal { user: 0, org: third, name: "ivy".into(), role: Role::Admin }) };
    let ann = Caller { org, user: Some(Principal { user: 0, org, name: "ann".into(), role: Role::Admin }) };
    let zed = Caller { org: other, user: Some(Principal { user: 0, org: other, name: "zed".into(), role: Role::Admin }) };
    let v1 = publish(&db, &storage, org, &dag(1), "r1", &[1, 2, 3, 4, 5]).await;

    // System rows (from the system database, as Arrow) join the Parquet rows.
    let sql = "SELECT d.name, d.version = '{v}' AS pinned, d.rows AS registered, (SELECT count(*) FROM transfers) AS counted, p.range_start, p.range_end \
               FROM trace.datasets d JOIN trace.partitions p ON p.dataset = d.name";
    let csv = ids(&service, &ann, request(&sql.replace("{v}", &v1))).await.unwrap();
    assert_eq!(csv, "name,pinned,registered,counted,range_start,range_end\ntransfers,true,5,5,0,10\n");
    assert_eq!(ids(&service, &zed, request("SELECT count(*) AS n FROM trace.datasets")).await.unwrap(), "n\n0\n", "another org sees none of them");

    // The schema listing: columns, version and size.
    let tables = service.tables(&ann).await.unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!((tables[0].name.as_str(), tables[0].version.as_deref(), tables[0].rows, tables[0].partitions), ("transfers", Some(v1.as_str()), 5, 1));
    assert_eq!(tables[0].columns, vec![("id".to_owned(), "BIGINT".to_owned())]);

    // A batch query: every row, as Parquet under the org's prefix.
    let id = service.submit(&ann, request("SELECT id * 2 AS twice FROM transfers ORDER BY id")).await.unwrap();
    let done = finished(&service, &ann, &id).await;
    assert_eq!((done.status, done.rows, done.error.as_deref()), (BatchStatus::Succeeded, Some(5), None));
    assert_eq!(done.object_key.as_deref(), Some(format!("orgs/{org}/queries/{id}.parquet").as_str()));
    let parquet = service.batch_result(&ann, &id).await.unwrap();
    assert_eq!(done.bytes, Some(parquet.len() as u64));
    let back = std::env::temp_dir().join(format!("trace-batch-{id}.parquet"));
    std::fs::write(&back, &parquet).unwrap();
    let read = trace_query::run(&vec![trace_query::Table { name: "r".into(), files: vec![back.clone()] }].into(), "SELECT string_agg(twice::VARCHAR, ' ' ORDER BY twice) AS l FROM r", &QueryLimits::default()).unwrap();
    assert_eq!(String::from_utf8(render(&read, Format::Csv).unwrap()).unwrap(), "l\n2 4 6 8 10\n");
    std::fs::remove_file(back).unwrap();
    // Another org cannot see it, or read its result.
    assert!(matches!(service.batch(&zed, &id).await, Err(QueryError::NoSuchBatch { .. })));
    assert!(matches!(service.batch_result(&zed, &id).await, Err(QueryError::NoSuchBatch { .. })));
    assert!(matches!(service.batch(&ann, "../../etc/passwd").await, Err(QueryError::NoSuchBatch { .. })));

    // The org's cap: while a batch query runs, a second query is refused
    // with the limit named; another org is not held up.
    let slow = QueryRequest { sql: "SELECT sum(hash(i)) FROM range(1000000000000) t(i)".into(), timeout: Some(Duration::from_millis(1500)), ..Default::default() };
    let id = service.submit(&ann, slow.clone()).await.unwrap();
    let refused = service.query(&ann, request("SELECT 1")).await.unwrap_err();
    assert_eq!(refused.to_string(), "too many queries at once for this org: running=1, limit=1; try again when one finishes");
    assert_eq!(ids(&service, &zed, request("SELECT 1 AS one")).await.unwrap(), "one\n1\n");
    // The server's total holds across orgs: with two orgs' long queries
    // running, a third org, under its own cap, is refused too.
    let zeds = service.submit(&zed, slow).await.unwrap();
    let busy = service.query(&ivy, request("SELECT 1")).await.unwrap_err();
    assert_eq!(busy.to_string(), "this server is running as many queries as it may at once: running=2, limit=2; try again shortly");
    let failed = finished(&service, &ann, &id).await;
    assert_eq!((failed.status, failed.error.as_deref()), (BatchStatus::Failed, Some("query ran past its time limit: limit=1500ms")));
    assert_eq!(failed.object_key, None);
    assert!(matches!(service.batch_result(&ann, &id).await, Err(QueryError::NotFinished { .. })));
    // Its place is free again.
    assert_eq!(ids(&service, &ann, request("SELECT 1 AS one")).await.unwrap(), "one\n1\n");
    finished(&service, &zed, &zeds).await;
    assert_eq!(ids(&service, &ivy, request("SELECT 1 AS one")).await.unwrap(), "one\n1\n");
    // Asking for more than the service allows names the limit.
    let greedy = QueryRequest { sql: "SELECT 1".into(), max_rows: Some(10_001), ..Default::default() };
    assert_eq!(service.query(&ann, greedy).await.unwrap_err().to_string(), "max_rows above the service's limit: asked=10001, limit=10000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_system_tables_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(SqliteStore::open(&dir.path().join("trace.db")).await.unwrap());
    batch_queries_system_tables_and_the_org_cap(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_system_tables_on_postgres() {
    let db = Db::Postgres(PgStore::connect(&trace_testbed::database(), 4).await.unwrap());
    batch_queries_system_tables_and_the_org_cap(db).await;
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
