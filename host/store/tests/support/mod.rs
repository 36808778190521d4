//! Fixtures: a throwaway PostgreSQL cluster on 127.0.0.1 (one per test
//! binary, a fresh database per test) and a fresh SQLite file per test.

use trace_store::{OrgId, OutputTarget, PgStore, SqliteStore, Store, WrittenPartition};

/// A migrated PostgreSQL store on a database of its own.
pub async fn postgres() -> PgStore {
    let store = PgStore::connect(&trace_testbed::database(), 8).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A migrated SQLite store in a file of its own (kept for the test's life).
pub async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("trace.db")).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// Run one behaviour test body against both backends.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _dir) = $crate::support::sqlite().await;
                super::$name(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::postgres().await).await;
            }
        }
    };
}

/// A DAG with a source, two transforms and two published datasets, for the
/// registry and lifecycle suites.
#[allow(dead_code, reason = "not every test binary uses it")]
pub const ERC20_DAG: &str = r#"name: erc20
jobs:
  - name: blocks
    kind: source
    operator: src.wasm
  - name: transfers
    operator: udf.wasm
    inputs:
      - from: { job: blocks, output: 0 }
    config: { min_value: 100 }
  - name: counts
    operator: count.wasm
    inputs:
      - from: { job: blocks, output: 0 }
publish:
  - { job: transfers, output_index: 0, dataset: erc20_transfers }
  - { job: counts, output_index: 0, dataset: block_counts }
"#;

/// DAG `name`, whose job `check` reads published `dataset` (a shared read)
/// on the ranges its own source `ticks` emits.
#[allow(dead_code, reason = "not every test binary uses it")]
pub fn shared_reader(name: &str, dataset: &str) -> String {
    format!(
        r#"name: {name}
jobs:
  - name: ticks
    kind: source
    operator: src.wasm
  - name: check
    operator: check.wasm
    inputs:
      - from: {{ job: ticks, output: 0 }}
      - from: {{ dataset: {dataset} }}
"#
    )
}

/// What a worker reports for range partition `key` (`{start}_{end}`) of
/// output `to`, holding `rows` rows.
#[allow(dead_code, reason = "not every test binary uses it")]
pub fn written(org: OrgId, to: &OutputTarget, key: &str, rows: u64) -> WrittenPartition {
    let (start, end) = key.split_once('_').map(|(s, e)| (s.parse().unwrap(), e.parse().unwrap())).unwrap();
    WrittenPartition {
        output: to.output,
        version_uuid: to.version_uuid.clone(),
        partition_key: key.to_owned(),
        range: Some((start, end)),
        scope: None,
        deduped_against: vec![],
        object_key: format!("org/{org}/dataset/{}/version/{}/{key}.parquet", to.dataset_uuid, to.version_uuid),
        staging_key: format!("org/{org}/staging/{key}.parquet"),
        rows,
        bytes: rows * 8,
    }
}
