//! The internal API as its tests drive it: its router (no socket) on a real
//! SQLite system database with one org and one deployed DAG.

use std::sync::Arc;

use trace_api::{internal_router, InternalState};
use trace_store::{now_millis, Db, Deployed, SqliteStore, Store};

/// The worker token the router is built with.
pub const WORKER_TOKEN: &str = "worker-secret";

pub struct InternalApp {
    pub app: axum::Router,
    pub db: Arc<Db>,
    pub deployed: Deployed,
    _dir: tempfile::TempDir,
}

/// The router over a fresh database with `dag` deployed in org `acme`.
pub async fn internal_app(dag: &str) -> InternalApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::Sqlite(SqliteStore::open(&dir.path().join("t.db")).await.unwrap()));
    db.migrate().await.unwrap();
    let org = db.create_org("acme", now_millis()).await.unwrap();
    let deployed = db.deploy(org, &trace_dag::parse("pipe.yaml", dag).unwrap(), dag, "tester", now_millis()).await.unwrap();
    let state = InternalState { db: db.clone(), buffer: Arc::new(trace_protocol::buffered::InProcessBuffer::default()), worker_token: WORKER_TOKEN.into(), secret_key: None };
    InternalApp { app: internal_router(Arc::new(state)), db, deployed, _dir: dir }
}
