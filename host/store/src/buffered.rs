//! Buffered datasets in the system database: registered at deploy (with
//! their table), committed by the platform sink (duplicates by unique key
//! dropped, the dataset's event emitted after the commit), and read back by
//! the tasks that event starts.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use trace_dag::Dag;
use trace_protocol::buffered::{split_messages, BufferedRead, BufferedRows, BufferedTarget, ColumnType, TableKind, TableSchema, Value, MAX_READ_ROWS};

use crate::dialect::{Affected, Conn, Dialect};
use crate::error::{DbContext, StoreError};
use crate::events::Ingest;
use crate::ids::new_uuid;
use crate::model::*;

/// A registered buffered dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedDataset {
    pub org: OrgId,
    pub name: String,
    pub uuid: String,
    pub schema: TableSchema,
}

/// What one sink commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BufferCommit {
    pub inserted: u64,
    /// Rows whose unique key was already committed (a retried writer).
    pub duplicates: u64,
    /// Tasks the dataset's event started.
    pub tasks: usize,
}

const BY_NAME: &str = "SELECT id, dag_id, table_schema FROM buffered_datasets WHERE org_id = $1 AND name = $2";
const INSERT: &str = "INSERT INTO buffered_datasets (org_id, name, uuid, dag_id, table_schema, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
const INSERT_WRITER: &str = "INSERT INTO buffered_writers (dag_version_id, job_name, output_index, buffered_id) VALUES ($1, $2, $3, $4)";
const PARQUET_NAMED: &str = "SELECT g.name FROM datasets d JOIN dags g ON g.id = d.dag_id WHERE d.org_id = $1 AND d.name = $2";
const DAG_NAME: &str = "SELECT name FROM dags WHERE id = $1";
const BY_UUID: &str = "SELECT org_id, name, table_schema FROM buffered_datasets WHERE uuid = $1";
const ALL: &str = "SELECT org_id, name, uuid, table_schema FROM buffered_datasets ORDER BY id";
/// The name of job `$1` if its DAG version writes dataset `$2` with output `$3`.
const WRITER: &str = "SELECT j.name FROM jobs j JOIN buffered_writers w ON w.dag_version_id = j.dag_version_id AND w.job_name = j.name \
     JOIN buffered_datasets b ON b.id = w.buffered_id WHERE j.id = $1 AND b.uuid = $2 AND w.output_index = $3";
/// Buffered outputs of job `$1`: output, dataset uuid, schema.
const TARGETS: &str = "SELECT w.output_index, b.uuid, b.table_schema FROM jobs j \
     JOIN buffered_writers w ON w.dag_version_id = j.dag_version_id AND w.job_name = j.name \
     JOIN buffered_datasets b ON b.id = w.buffered_id WHERE j.id = $1";
/// The buffered dataset job `$1`'s output `$2` writes.
const FEED: &str = "SELECT b.uuid, b.table_schema FROM jobs j \
     JOIN buffered_writers w ON w.dag_version_id = j.dag_version_id AND w.job_name = j.name AND w.output_index = $2 \
     JOIN buffered_datasets b ON b.id = w.buffered_id WHERE j.id = $1";
const TASK_EVENT: &str = "SELECT t.job_id, e.producer_job_id, e.output_index, e.range_start, e.range_end FROM tasks t \
     JOIN events e ON e.id = t.event_id WHERE t.id = $1";
const INPUT_WIRING: &str = "SELECT from_job_id, from_output FROM job_inputs WHERE job_id = $1 AND input_index = $2";
const DESTINATION_EXISTS: &str = "SELECT id FROM alert_destinations WHERE org_id = $1 AND name = $2";
const INSERT_DELIVERY: &str = "INSERT INTO alert_deliveries (org_id, dataset_uuid, webhook_id, alert_key, destination, severity, \
     event_time, payload, status, reason, next_attempt_at, writer_job, writer_task, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) ON CONFLICT DO NOTHING RETURNING id";
const READ_DELIVERIES: &str = "SELECT alert_key, destination, severity, event_time, payload, reason, writer_job, id \
     FROM alert_deliveries WHERE dataset_uuid = $1 AND id >= $2 AND id < $3 ORDER BY id LIMIT $4";

/// Most parameters one statement binds (SQLite's limit is 32,766,
/// PostgreSQL's 65,535).
const MAX_PARAMETERS: usize = 30_000;
/// Most rows one INSERT carries.
const MAX_ROWS_PER_INSERT: usize = 500;

/// A buffered dataset's own table: `buf_` and its UUID's hex digits.
pub fn table_name(uuid: &str) -> String {
    format!("buf_{}", uuid.chars().filter(char::is_ascii_hexdigit).collect::<String>())
}

/// A delivery's idempotency key (its `webhook-id`): the same for the same
/// alert to the same destination from the same dataset, on every attempt,
/// in every DAG version.
pub fn webhook_id(dataset_uuid: &str, alert_key: &str, destination: &str) -> String {
    let digest = Sha256::digest(format!("{dataset_uuid}\n{alert_key}\n{destination}").as_bytes());
    format!("msg_{}", &hex::encode(digest)[..32])
}

fn quoted(name: &str) -> String {
    // Names were checked against ^[a-z][a-z0-9_]*$ (or are ours): quoting
    // only keeps reserved words (`order`, `from`) usable.
    format!("\"{name}\"")
}

fn sql_type(ty: ColumnType, postgres: bool) -> &'static str {
    match (ty, postgres) {
        (ColumnType::Float64, true) => "DOUBLE PRECISION",
        (ColumnType::Float64, false) => "REAL",
        (ColumnType::Int64 | ColumnType::Bool, _) => "BIGINT",
        (ColumnType::Text | ColumnType::Json, _) => "TEXT",
    }
}

/// `CREATE TABLE` and its unique index for a buffered dataset.
fn create_table(uuid: &str, schema: &TableSchema, postgres: bool) -> [String; 2] {
    let table = table_name(uuid);
    let seq = if postgres { "_seq BIGSERIAL PRIMARY KEY" } else { "_seq INTEGER PRIMARY KEY AUTOINCREMENT" };
    let mut columns = vec![seq.to_owned()];
    for c in &schema.columns {
        let null = if c.required { " NOT NULL" } else { "" };
        columns.push(format!("{} {}{null}", quoted(&c.name), sql_type(c.ty, postgres)));
    }
    columns.extend(["_writer TEXT NOT NULL".to_owned(), "_writer_task BIGINT NOT NULL".to_owned(), "_committed_at BIGINT NOT NULL".to_owned()]);
    // Alert keys are each detector's own: two detectors may flag one transfer.
    let writer = (schema.kind == TableKind::AlertEvents).then(|| "_writer".to_owned());
    let key: Vec<String> = writer.into_iter().chain(schema.unique_key.iter().map(|k| quoted(k))).collect();
    [
        format!("CREATE TABLE IF NOT EXISTS {table} ({})", columns.join(", ")),
        format!("CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table} ({})", key.join(", ")),
    ]
}

/// One value checked against its column: what is bound.
enum Bound {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
}

fn bind_value(column: &str, ty: ColumnType, required: bool, v: &Value) -> Result<Bound, String> {
    if v.is_null() {
        if required {
            return Err(format!("column `{column}` is required and got null"));
        }
        return Ok(match ty {
            ColumnType::Text | ColumnType::Json => Bound::Text(None),
            ColumnType::Int64 | ColumnType::Bool => Bound::Int(None),
            ColumnType::Float64 => Bound::Float(None),
        });
    }
    let wrong = || format!("column `{column}` is {} and got {v}", ty.as_str());
    Ok(match ty {
        ColumnType::Text => Bound::Text(Some(v.as_str().ok_or_else(wrong)?.to_owned())),
        ColumnType::Json => Bound::Text(Some(match v {
            Value::String(s) => {
                serde_json::from_str::<Value>(s).map_err(|e| format!("column `{column}` is json and got text that does not parse: {e}"))?;
                s.clone()
            }
            other => other.to_string(),
        })),
        ColumnType::Int64 => Bound::Int(Some(v.as_i64().ok_or_else(wrong)?)),
        ColumnType::Bool => Bound::Int(Some(i64::from(v.as_bool().ok_or_else(wrong)?))),
        ColumnType::Float64 => Bound::Float(Some(v.as_f64().ok_or_else(wrong)?)),
    })
}

pub(crate) fn schema_of(text: &str) -> Result<TableSchema, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a buffered dataset's schema does not parse: {e}")))
}

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub trait Buffered: Send + Sync {
    /// Every buffered dataset of every org (what the sink consumes).
    async fn buffered_datasets(&self) -> Result<Vec<BufferedDataset>, StoreError>;
    /// Commit one buffer message: insert its rows (dropping those whose
    /// unique key is already there) and, if any were new, emit the writer's
    /// event for their commit range, in one transaction.
    async fn commit_buffered(&self, rows: &BufferedRows, now: Millis) -> Result<BufferCommit, StoreError>;
    /// The rows of input `input` that attempt `auth`'s task reads: those its
    /// event's commit added, if that input's writer emitted the event.
    async fn read_buffered(&self, auth: &AttemptAuth, input: u32) -> Result<BufferedRead, StoreError>;
    /// Rows of output `output` of attempt `auth`, as the messages that go
    /// to the output's buffer (each under [`MAX_MESSAGE_BYTES`]), if the
    /// attempt may hand them over now: it is the task's live attempt and
    /// that output writes a buffered dataset.
    ///
    /// [`MAX_MESSAGE_BYTES`]: trace_protocol::buffered::MAX_MESSAGE_BYTES
    async fn buffer_messages(&self, auth: &AttemptAuth, output: u32, rows: Vec<Vec<Value>>) -> Result<Vec<BufferedRows>, StoreError>;
}

#[allow(async_fn_in_trait, reason = "implemented once, below, for both backends")]
pub(crate) trait RegisterBuffered: Dialect {
    async fn register_buffered(&self, tx: &mut Conn<Self>, org: OrgId, dag_id: i64, version_id: i64, dag: &Dag, now: Millis) -> Result<(), StoreError>;
    async fn buffered_targets(&self, tx: &mut Conn<Self>, job: JobId) -> Result<HashMap<u32, BufferedTarget>, StoreError>;
}

impl<S> RegisterBuffered for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i32: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    /// Inside a deploy's transaction: create (or check) each buffered
    /// dataset `dag` publishes, its table, and which outputs write it.
    async fn register_buffered(&self, tx: &mut Conn<Self>, org: OrgId, dag_id: i64, version_id: i64, dag: &Dag, now: Millis) -> Result<(), StoreError> {
        let mut ids: HashMap<&str, i64> = HashMap::new();
        for p in dag.publish.iter().filter(|p| p.is_buffered()) {
            let schema = p.table_schema().expect("buffered").map_err(StoreError::Corrupt)?;
            let id = match ids.get(p.dataset.as_str()) {
                Some(id) => *id,
                None => {
                    let id = self.buffered_dataset(tx, org, dag_id, &p.dataset, &schema, now).await?;
                    ids.insert(&p.dataset, id);
                    id
                }
            };
            sqlx::query(self.q(INSERT_WRITER)).bind(version_id).bind(&p.job).bind(p.output_index as i32).bind(id)
                .execute(&mut *tx).await.during("recording a buffered writer")?;
        }
        Ok(())
    }

    async fn buffered_targets(&self, tx: &mut Conn<Self>, job: JobId) -> Result<HashMap<u32, BufferedTarget>, StoreError> {
        let rows = sqlx::query(self.q(TARGETS)).bind(job).fetch_all(&mut *tx).await.during("reading buffered outputs")?;
        rows.iter()
            .map(|r| Ok((r.get::<i32, _>(0) as u32, BufferedTarget { dataset_uuid: r.get(1), schema: schema_of(r.get::<String, _>(2).as_str())? })))
            .collect()
    }
}

trait CreateBuffered: Dialect {
    async fn buffered_dataset(&self, tx: &mut Conn<Self>, org: OrgId, dag_id: i64, name: &str, schema: &TableSchema, now: Millis) -> Result<i64, StoreError>;
}

impl<S> CreateBuffered for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    /// The id of buffered dataset `name`, created with its table on first
    /// deploy. Its producer DAG and its schema are fixed from then on: its
    /// rows outlive every version.
    async fn buffered_dataset(&self, tx: &mut Conn<Self>, org: OrgId, dag_id: i64, name: &str, schema: &TableSchema, now: Millis) -> Result<i64, StoreError> {
        if let Some(dag) = sqlx::query_scalar::<_, String>(self.q(PARQUET_NAMED)).bind(org).bind(name).fetch_optional(&mut *tx).await.during("finding a dataset")? {
            return Err(StoreError::DatasetProducedElsewhere { dataset: name.to_owned(), dag });
        }
        if let Some(row) = sqlx::query(self.q(BY_NAME)).bind(org).bind(name).fetch_optional(&mut *tx).await.during("finding a buffered dataset")? {
            let (id, producer): (i64, i64) = (row.get(0), row.get(1));
            if producer != dag_id {
                let dag: String = sqlx::query_scalar(self.q(DAG_NAME)).bind(producer).fetch_one(&mut *tx).await.during("naming a DAG")?;
                return Err(StoreError::DatasetProducedElsewhere { dataset: name.to_owned(), dag });
            }
            if schema_of(row.get::<String, _>(2).as_str())? != *schema {
                return Err(StoreError::BufferedSchemaChanged { dataset: name.to_owned() });
            }
            return Ok(id);
        }
        let uuid = new_uuid();
        let text = serde_json::to_string(schema).expect("a schema serializes");
        let id: i64 = sqlx::query_scalar(self.q(INSERT)).bind(org).bind(name).bind(&uuid).bind(dag_id).bind(text).bind(now)
            .fetch_one(&mut *tx).await.during("registering a buffered dataset")?;
        if schema.kind != TableKind::AlertDeliveries {
            for ddl in create_table(&uuid, schema, S::POSTGRES) {
                sqlx::query(self.dynamic(ddl)).execute(&mut *tx).await.during("creating a buffered dataset's table")?;
            }
        }
        Ok(id)
    }
}

impl<S> Buffered for S
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
    for<'q> Option<f64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i32>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Vec<u8>: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> Vec<u8>: Decode<'r, S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db>,
    for<'r> String: Decode<'r, S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db>,
    for<'r> Option<f64>: Decode<'r, S::Db>,
    for<'r> Option<i32>: Decode<'r, S::Db>,
    for<'r> Option<String>: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn buffered_datasets(&self) -> Result<Vec<BufferedDataset>, StoreError> {
        let rows = sqlx::query(self.q(ALL)).fetch_all(self.pool()).await.during("listing buffered datasets")?;
        rows.iter()
            .map(|r| Ok(BufferedDataset { org: r.get(0), name: r.get(1), uuid: r.get(2), schema: schema_of(r.get::<String, _>(3).as_str())? }))
            .collect()
    }

    async fn commit_buffered(&self, m: &BufferedRows, now: Millis) -> Result<BufferCommit, StoreError> {
        let bad = |why: String| StoreError::BadBufferedRows { dataset: m.dataset_uuid.clone(), why };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(self.q(BY_UUID)).bind(&m.dataset_uuid).fetch_optional(&mut *tx).await.during("finding a buffered dataset")?
            .ok_or_else(|| bad("no such buffered dataset".into()))?;
        if row.get::<i64, _>(0) != m.org {
            return Err(bad("the dataset belongs to another org".into()));
        }
        let schema = schema_of(row.get::<String, _>(2).as_str())?;
        let writer: String = sqlx::query_scalar(self.q(WRITER)).bind(m.job).bind(&m.dataset_uuid).bind(m.output as i32)
            .fetch_optional(&mut *tx).await.during("checking a buffered writer")?
            .ok_or_else(|| bad(format!("job {} output {} does not write it", m.job, m.output)))?;
        // Where each declared column's value is in the message's rows.
        let mut at = Vec::with_capacity(schema.columns.len());
        for c in &schema.columns {
            at.push(m.columns.iter().position(|n| *n == c.name).ok_or_else(|| bad(format!("the rows have no column `{}`", c.name)))?);
        }
        if let Some(extra) = m.columns.iter().find(|n| schema.column(n).is_none()) {
            return Err(bad(format!("the rows have column `{extra}`, which the dataset does not declare")));
        }
        // Every row is checked before any is written.
        let mut bound: Vec<Vec<Bound>> = Vec::with_capacity(m.rows.len());
        for (index, values) in m.rows.iter().enumerate() {
            if values.len() != m.columns.len() {
                return Err(bad(format!("row {index} has {} values for {} columns", values.len(), m.columns.len())));
            }
            let mut row = Vec::with_capacity(at.len());
            for (c, i) in schema.columns.iter().zip(&at) {
                row.push(bind_value(&c.name, c.ty, c.required, &values[*i]).map_err(|why| bad(format!("row {index}: {why}")))?);
            }
            bound.push(row);
        }
        let mut seqs: Vec<i64> = Vec::with_capacity(bound.len());
        if schema.kind == TableKind::AlertDeliveries {
            let mut known = HashMap::new();
            for row in &bound {
                seqs.extend(self.insert_delivery(&mut tx, m, &writer, row, &mut known, now).await?);
            }
        } else {
            // Many rows per statement, under both backends' parameter limits.
            let per_row = schema.columns.len() + 3;
            let chunk = (MAX_PARAMETERS / per_row).clamp(1, MAX_ROWS_PER_INSERT);
            let names: Vec<String> = schema.columns.iter().map(|c| quoted(&c.name)).collect();
            for rows in bound.chunks(chunk) {
                let values: Vec<String> = (0..rows.len()).map(|r| format!("({})", crate::sql::placeholders(r * per_row + 1, per_row))).collect();
                let sql = format!(
                    "INSERT INTO {} ({}, _writer, _writer_task, _committed_at) VALUES {} ON CONFLICT DO NOTHING RETURNING _seq",
                    table_name(&m.dataset_uuid), names.join(", "), values.join(", ")
                );
                let mut q = sqlx::query_scalar::<_, i64>(self.dynamic(sql));
                for row in rows {
                    for b in row {
                        q = match b {
                            Bound::Text(v) => q.bind(v.clone()),
                            Bound::Int(v) => q.bind(*v),
                            Bound::Float(v) => q.bind(*v),
                        };
                    }
                    q = q.bind(writer.clone()).bind(m.task).bind(now);
                }
                seqs.extend(q.fetch_all(&mut *tx).await.during("committing buffered rows")?);
            }
        }
        let duplicates = (bound.len() - seqs.len()) as u64;
        let mut tasks = 0;
        if let (Some(first), Some(last)) = (seqs.iter().min(), seqs.iter().max()) {
            let event = EmittedEvent { output: m.output, partition_key: String::new(), range: Some((*first as u64, *last as u64 + 1)), cursor: None };
            let ingested = self.ingest(&mut tx, &[Produced { org: m.org, job: m.job, task: m.task, event: &event }], now).await?;
            tasks = ingested.iter().map(|i| i.tasks.len()).sum();
        }
        S::commit(tx).await.during("committing buffered rows")?;
        self.grew(tasks as u64);
        Ok(BufferCommit { inserted: seqs.len() as u64, duplicates, tasks })
    }

    async fn buffer_messages(&self, auth: &AttemptAuth, output: u32, rows: Vec<Vec<Value>>) -> Result<Vec<BufferedRows>, StoreError> {
        let mut conn = self.pool().acquire().await.during("admitting buffered rows")?;
        let seen = crate::complete::Completions::snapshot_in(self, &mut *conn, &[auth.task]).await?;
        let admitted = crate::gate::admit(auth, seen.get(&auth.task), &HashMap::new())?;
        let target = self.buffered_targets(&mut conn, admitted.job).await?.remove(&output)
            .ok_or(StoreError::NotBufferedOutput { task: auth.task, output })?;
        let template = BufferedRows {
            org: admitted.org,
            columns: target.schema.columns.iter().map(|c| c.name.clone()).collect(),
            dataset_uuid: target.dataset_uuid,
            job: admitted.job,
            task: auth.task,
            output,
            rows: Vec::new(),
        };
        split_messages(&template, rows).map_err(|e| StoreError::BadBufferedRows { dataset: template.dataset_uuid.clone(), why: e.to_string() })
    }

    async fn read_buffered(&self, auth: &AttemptAuth, input: u32) -> Result<BufferedRead, StoreError> {
        let mut conn = self.pool().acquire().await.during("reading buffered rows")?;
        let seen = crate::complete::Completions::snapshot_in(self, &mut *conn, &[auth.task]).await?;
        crate::gate::admit(auth, seen.get(&auth.task), &HashMap::new())?;
        let event = sqlx::query(self.q(TASK_EVENT)).bind(auth.task).fetch_one(&mut *conn).await.during("reading a task's event")?;
        let (job, producer, output, start, end): (i64, i64, i32, Option<i64>, Option<i64>) = (event.get(0), event.get(1), event.get(2), event.get(3), event.get(4));
        let wiring = sqlx::query(self.q(INPUT_WIRING)).bind(job).bind(input as i32).fetch_optional(&mut *conn).await.during("reading an input")?
            .ok_or(StoreError::NotBuffered { task: auth.task, input })?;
        let (from_job, from_output): (Option<i64>, Option<i32>) = (wiring.get(0), wiring.get(1));
        let from_job = from_job.ok_or(StoreError::NotBuffered { task: auth.task, input })?;
        let feed = sqlx::query(self.q(FEED)).bind(from_job).bind(from_output.unwrap_or(0)).fetch_optional(&mut *conn).await.during("resolving a buffered input")?
            .ok_or(StoreError::NotBuffered { task: auth.task, input })?;
        let (uuid, schema): (String, TableSchema) = (feed.get(0), schema_of(feed.get::<String, _>(1).as_str())?);
        let mut columns: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
        columns.extend(["_writer".to_owned(), "_seq".to_owned()]);
        let mut read = BufferedRead { schema, columns, rows: Vec::new() };
        // Only the input whose writer emitted the event reads its commit.
        let (Some(start), Some(end)) = (start, end) else { return Ok(read) };
        if producer != from_job || Some(output) != from_output {
            return Ok(read);
        }
        let limit = MAX_READ_ROWS as i64 + 1;
        let rows = if read.schema.kind == TableKind::AlertDeliveries {
            sqlx::query(self.q(READ_DELIVERIES)).bind(&uuid).bind(start).bind(end).bind(limit).fetch_all(&mut *conn).await
        } else {
            let names: Vec<String> = read.schema.columns.iter().map(|c| quoted(&c.name)).collect();
            let sql = format!("SELECT {}, _writer, _seq FROM {} WHERE _seq >= $1 AND _seq < $2 ORDER BY _seq LIMIT $3", names.join(", "), table_name(&uuid));
            sqlx::query(self.dynamic(sql)).bind(start).bind(end).bind(limit).fetch_all(&mut *conn).await
        }
        .during("reading buffered rows")?;
        if rows.len() > MAX_READ_ROWS {
            return Err(StoreError::TooManyBufferedRows { task: auth.task, input, limit: MAX_READ_ROWS });
        }
        let types: Vec<ColumnType> = read.schema.columns.iter().map(|c| c.ty).chain([ColumnType::Text, ColumnType::Int64]).collect();
        for r in &rows {
            let mut values = Vec::with_capacity(types.len());
            for (i, ty) in types.iter().enumerate() {
                values.push(match ty {
                    ColumnType::Text | ColumnType::Json => r.get::<Option<String>, _>(i).map_or(Value::Null, Value::String),
                    ColumnType::Int64 => r.get::<Option<i64>, _>(i).map_or(Value::Null, Value::from),
                    ColumnType::Bool => r.get::<Option<i64>, _>(i).map_or(Value::Null, |v| Value::Bool(v != 0)),
                    ColumnType::Float64 => r.get::<Option<f64>, _>(i).map_or(Value::Null, Value::from),
                });
            }
            read.rows.push(values);
        }
        Ok(read)
    }
}

trait InsertDelivery: Dialect {
    async fn insert_delivery(&self, tx: &mut Conn<Self>, m: &BufferedRows, writer: &str, bound: &[Bound], known: &mut HashMap<String, bool>, now: Millis) -> Result<Option<i64>, StoreError>;
}

impl<S> InsertDelivery for S
where
    S: Dialect,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> i64: Decode<'r, S::Db>,
    for<'r> i32: Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    /// One routed alert into the shared `alert_deliveries` table: pending
    /// (due now), suppressed with the router's reason, or failed at once
    /// when its destination is not registered in the org.
    async fn insert_delivery(&self, tx: &mut Conn<Self>, m: &BufferedRows, writer: &str, bound: &[Bound], known: &mut HashMap<String, bool>, now: Millis) -> Result<Option<i64>, StoreError> {
        let text = |i: usize| match &bound[i] {
            Bound::Text(v) => v.clone(),
            _ => None,
        };
        let int = |i: usize| match &bound[i] {
            Bound::Int(v) => *v,
            _ => None,
        };
        // Columns as `TableSchema::alert_deliveries` declares them.
        let (key, destination, severity) = (text(0).unwrap_or_default(), text(1).unwrap_or_default(), text(2).unwrap_or_default());
        let (event_time, payload, suppressed) = (int(3).unwrap_or_default(), text(4), text(5));
        let (status, reason, next) = match suppressed {
            Some(reason) => ("suppressed", Some(reason), None),
            None => {
                let exists = match known.get(&destination) {
                    Some(k) => *k,
                    None => {
                        let k = sqlx::query(self.q(DESTINATION_EXISTS)).bind(m.org).bind(&destination)
                            .fetch_optional(&mut *tx).await.during("finding a destination")?.is_some();
                        known.insert(destination.clone(), k);
                        k
                    }
                };
                if exists { ("pending", None, Some(now)) } else { ("failed", Some(format!("no such destination: {destination}")), None) }
            }
        };
        let id = webhook_id(&m.dataset_uuid, &key, &destination);
        sqlx::query_scalar(self.q(INSERT_DELIVERY)).bind(m.org).bind(&m.dataset_uuid).bind(id).bind(key).bind(destination).bind(severity)
            .bind(event_time).bind(payload).bind(status).bind(reason).bind(next).bind(writer).bind(m.task).bind(now)
            .fetch_optional(&mut *tx).await.during("recording a delivery")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_ids_are_stable_and_tell_alerts_and_destinations_apart() {
        let a = webhook_id("d", "tx1:0", "ops");
        assert_eq!(a, webhook_id("d", "tx1:0", "ops"));
        assert!(a.starts_with("msg_") && a.len() == 36, "{a}");
        assert_ne!(a, webhook_id("d", "tx1:0", "pager"));
        assert_ne!(a, webhook_id("d", "tx1:1", "ops"));
        assert_ne!(a, webhook_id("e", "tx1:0", "ops"));
    }

    #[test]
    fn values_are_checked_against_their_column() {
        assert!(matches!(bind_value("n", ColumnType::Int64, true, &Value::from(3)), Ok(Bound::Int(Some(3)))));
        assert_eq!(bind_value("n", ColumnType::Int64, true, &Value::Null).err().unwrap(), "column `n` is required and got null");
        assert_eq!(bind_value("n", ColumnType::Int64, false, &Value::from("x")).err().unwrap(), "column `n` is int64 and got \"x\"");
        assert!(bind_value("p", ColumnType::Json, false, &Value::from("{not json")).is_err());
        assert!(matches!(bind_value("p", ColumnType::Json, false, &serde_json::json!({"a": 1})), Ok(Bound::Text(Some(s))) if s == r#"{"a":1}"#));
        assert!(matches!(bind_value("b", ColumnType::Bool, false, &Value::Bool(true)), Ok(Bound::Int(Some(1)))));
    }

    #[test]
    fn tables_are_named_by_uuid_and_quote_their_columns() {
        let schema = TableSchema::alert_events();
        let [table, index] = create_table("0a1b-2c", &schema, true);
        assert!(table.starts_with("CREATE TABLE IF NOT EXISTS buf_0a1b2c (_seq BIGSERIAL PRIMARY KEY, \"alert_key\" TEXT NOT NULL"), "{table}");
        assert_eq!(index, "CREATE UNIQUE INDEX IF NOT EXISTS buf_0a1b2c_key ON buf_0a1b2c (_writer, \"alert_key\")");
    }
}
