//! Recording events and creating the tasks they start: one task per
//! subscribed job, deduplicated by each event's idempotency key.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::dialect::{Affected, Conn, Dialect};
use crate::error::{DbContext, StoreError};
use crate::model::*;
use crate::sql;


pub(crate) fn event_key(producer: &str, job: i64, e: &EmittedEvent) -> String {
    format!("{producer}/job:{job}:{}/{}", e.output, e.discriminator())
}

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait Ingest: Dialect {
    async fn ingest_emitted(&self, tx: &mut Conn<Self>, task: TaskId, job: JobId, events: &[EmittedEvent], now: Millis) -> Result<Vec<Ingested>, StoreError>;
    async fn ingest(&self, tx: &mut Conn<Self>, rows: &[Produced<'_>], now: Millis) -> Result<Vec<Ingested>, StoreError>;
    async fn ingest_chunk(&self, tx: &mut Conn<Self>, events: &[Produced<'_>], now: Millis) -> Result<Vec<Ingested>, StoreError>;
}

impl<S> Ingest for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    <S::Db as Database>::QueryResult: Affected,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i32: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i32>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Vec<u8>: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> Vec<u8>: Decode<'r, S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db>,
    for<'r> Option<i32>: Decode<'r, S::Db>,
    for<'r> Option<String>: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    /// Ingest events emitted by `task` of `job`, checking output indexes.
    async fn ingest_emitted(&self, tx: &mut Conn<Self>, task: TaskId, job: JobId, events: &[EmittedEvent], now: Millis) -> Result<Vec<Ingested>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let row = sqlx::query(self.q(sql::JOB_INFO)).bind(job).fetch_optional(&mut *tx).await.during("reading a job")?
            .ok_or(StoreError::NoSuchJob(job))?;
        let outputs: i32 = row.get(0);
        let org: i64 = row.get(1);
        // Check every event before writing any.
        if let Some(e) = events.iter().find(|e| e.output as i64 >= i64::from(outputs)) {
            return Err(StoreError::NoSuchOutput { job, output: e.output, outputs });
        }
        let rows: Vec<Produced<'_>> = events.iter().map(|event| Produced { org, job, task, event }).collect();
        self.ingest(tx, &rows, now).await
    }

    /// Record events (already checked) from any producers, with their
    /// subscribers' tasks: three multi-row statements per chunk.
    async fn ingest(&self, tx: &mut Conn<Self>, rows: &[Produced<'_>], now: Millis) -> Result<Vec<Ingested>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(sql::INGEST_CHUNK) {
            out.extend(self.ingest_chunk(tx, chunk, now).await?);
        }
        Ok(out)
    }

    async fn ingest_chunk(&self, tx: &mut Conn<Self>, events: &[Produced<'_>], now: Millis) -> Result<Vec<Ingested>, StoreError> {
        let keys: Vec<String> = events.iter().map(|p| event_key(&format!("task:{}", p.task), p.job, p.event)).collect();
        let rows = self.insert_events(&mut *tx, events, &keys, now).await?;
        let mut new: HashMap<String, i64> = rows.into_iter().map(|(id, key)| (key, id)).collect();
        let mut ids: HashMap<String, i64> = new.clone();
        let missing: Vec<&String> = keys.iter().filter(|k| !ids.contains_key(*k)).collect();
        if !missing.is_empty() {
            let query = self.bind_keys(sqlx::query(self.dynamic(sql::events_by_keys(&self.key_list(1, missing.len())))), &missing);
            for r in query.fetch_all(&mut *tx).await.during("finding duplicate events")? {
                ids.insert(r.get(1), r.get(0));
            }
        }
        let mut tasks_of: HashMap<i64, Vec<TaskId>> = HashMap::new();
        if !new.is_empty() {
            let new_ids: Vec<i64> = new.values().copied().collect();
            let query = self.bind_ids(sqlx::query(self.dynamic(sql::insert_subscriber_tasks(&self.id_list(3, new_ids.len())))).bind(now).bind(trace_telemetry::current_traceparent()), &new_ids);
            for r in query.fetch_all(&mut *tx).await.during("creating tasks for events")? {
                tasks_of.entry(r.get::<i64, _>(1)).or_default().push(r.get(0));
            }
        }
        Ok(keys
            .iter()
            .map(|key| {
                let event_id = ids[key];
                // The first occurrence of a new key made the event; any
                // repeat, in this chunk or from before, is a duplicate.
                match new.remove(key) {
                    Some(_) => {
                        let mut tasks = tasks_of.remove(&event_id).unwrap_or_default();
                        tasks.sort_unstable();
                        Ingested { event_id, duplicate: false, tasks }
                    }
                    None => Ingested { event_id, duplicate: true, tasks: Vec::new() },
                }
            })
            .collect())
    }
}
