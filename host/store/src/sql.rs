//! The store's SQL, written once with `$N` placeholders. PostgreSQL takes it
//! as is; SQLite gets `?N` (its numbered form). Where the dialects differ
//! (row locks), the PostgreSQL-only clause is a separate constant.

use std::borrow::Cow;

/// Adapt `sql` for SQLite: `$N` → `?` where the placeholders are `$1, $2,
/// …` in order, each once (every multi-row statement), else `?N`.
///
/// Why: SQLite finds a *named* parameter's name by a linear scan, and sqlx
/// asks for every parameter's name when binding, so binding `?1 … ?N` costs
/// O(N²) — measured as a third of the control plane's CPU with claims of a
/// few hundred rows. Anonymous `?` parameters are bound by position.
pub(crate) fn for_sqlite(sql: &str) -> Cow<'_, str> {
    let mut expected = 1;
    let mut sequential = true;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = rest[at + 1..at + 1 + digits].parse().unwrap_or(0);
        if n != expected {
            sequential = false;
            break;
        }
        expected += 1;
        rest = &rest[at + 1 + digits..];
    }
    if !sequential {
        return Cow::Owned(sql.replace('$', "?"));
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        out.push('?');
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

pub(crate) const INSERT_ORG: &str = "INSERT INTO orgs (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id";

pub(crate) const UPSERT_DAG: &str = "INSERT INTO dags (org_id, name) VALUES ($1, $2) ON CONFLICT (org_id, name) DO NOTHING";
pub(crate) const DAG_ID: &str = "SELECT id FROM dags WHERE org_id = $1 AND name = $2";
pub(crate) const NEXT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) + 1 FROM dag_versions WHERE dag_id = $1";
pub(crate) const ACTIVE_VERSION: &str = "SELECT active_version_id FROM dags WHERE id = $1";
pub(crate) const INSERT_VERSION: &str =
    "INSERT INTO dag_versions (dag_id, version, yaml, created_at, deployed_by) VALUES ($1, $2, $3, $4, $5) RETURNING id";
pub(crate) const INSERT_JOB: &str = "INSERT INTO jobs (dag_version_id, name, kind, operator, outputs, config, \
     materialization_hash, pool, concurrency, max_attempts, timeout_ms, update_strategy, unique_key, rpc) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id";
pub(crate) const INSERT_JOB_INPUT: &str = "INSERT INTO job_inputs (job_id, input_index, from_job_id, from_output, from_dataset) \
     VALUES ($1, $2, $3, $4, $5)";
pub(crate) const INSERT_SLOT: &str = "INSERT INTO worker_slots (dag_version_id, pool, slot_index, env, secret_env) \
     VALUES ($1, $2, $3, $4, $5)";
pub(crate) const ACTIVATE_VERSION: &str = "UPDATE dags SET active_version_id = $1 WHERE id = $2";
/// Remember what was active before version `$1` (`$2`), for rollback.
pub(crate) const SET_PREVIOUS_ACTIVE: &str = "UPDATE dag_versions SET previous_active_id = $2 WHERE id = $1";
pub(crate) const AUDIT: &str = "INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, $2, $3, $4)";

pub(crate) const JOB_INFO: &str = "SELECT j.outputs, d.org_id, j.kind FROM jobs j \
     JOIN dag_versions v ON v.id = j.dag_version_id JOIN dags d ON d.id = v.dag_id WHERE j.id = $1";
pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (org_id, producer_job_id, producer_task_id, output_index, \
     partition_key, range_start, range_end, cursor, idempotency_key, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";
pub(crate) const EVENT_BY_KEY: &str = "SELECT id FROM events WHERE idempotency_key = $1";
pub(crate) const INSERT_TASK: &str = "INSERT INTO tasks (org_id, job_id, event_id, status, available_at, created_at, updated_at, trace_parent) \
     VALUES ($1, $2, $3, 'pending', $4, $4, $4, $5) ON CONFLICT (job_id, event_id) DO NOTHING RETURNING id";

pub(crate) const CANDIDATES: &str = "SELECT t.id, t.job_id, j.concurrency, j.pool, j.dag_version_id, j.timeout_ms, t.org_id, t.trace_parent \
     FROM tasks t JOIN jobs j ON j.id = t.job_id \
     WHERE t.status = 'pending' AND t.available_at <= $1 ORDER BY t.available_at, t.id LIMIT $2";
/// [`CANDIDATES`] leaving out the orgs in `list` (at a quota).
pub(crate) fn candidates_except(list: &str) -> String {
    format!(
        "SELECT t.id, t.job_id, j.concurrency, j.pool, j.dag_version_id, j.timeout_ms, t.org_id, t.trace_parent \
         FROM tasks t JOIN jobs j ON j.id = t.job_id \
         WHERE t.status = 'pending' AND t.available_at <= $1 AND t.org_id NOT {list} ORDER BY t.available_at, t.id LIMIT $2"
    )
}
pub(crate) const LEASE_SLOT: &str = "UPDATE worker_slots SET leased_by_task = $1 WHERE id = \
     (SELECT id FROM worker_slots WHERE dag_version_id = $2 AND pool = $3 AND leased_by_task IS NULL \
      ORDER BY slot_index LIMIT 1) RETURNING id";

pub(crate) const FINISH_ATTEMPT: &str = "UPDATE task_attempts SET finished_at = $3, outcome = $4 \
     WHERE task_id = $1 AND attempt = $2";
pub(crate) const RELEASE_SLOT: &str = "UPDATE worker_slots SET leased_by_task = NULL WHERE id = $1 AND leased_by_task = $2";
pub(crate) const SET_STATUS: &str = "UPDATE tasks SET status = $2, updated_at = $3, last_error = $4 WHERE id = $1";
pub(crate) const SET_RETRY: &str = "UPDATE tasks SET status = 'pending', available_at = $2, updated_at = $3, last_error = $4 WHERE id = $1";

/// Expired attempts, found through running tasks (a running task's open
/// attempt is its current one): there are at most as many as the
/// concurrency limits allow, and no index on open attempts has to be kept.
pub(crate) const EXPIRED: &str = "SELECT a.task_id, a.attempt, a.slot_id, t.attempts, j.max_attempts \
     FROM tasks t JOIN task_attempts a ON a.task_id = t.id AND a.attempt = t.attempts JOIN jobs j ON j.id = t.job_id \
     WHERE t.status = 'running' AND a.finished_at IS NULL AND a.deadline_at < $1 ORDER BY a.id";
pub(crate) const EXPIRED_LOCK: &str = " FOR UPDATE OF a SKIP LOCKED";

/// A failed task runs again: one more attempt, from now.
pub(crate) const RETRY_FAILED: &str = "UPDATE tasks SET status = 'pending', available_at = $2, updated_at = $2 WHERE id = $1 AND status = 'failed'";
pub(crate) const CANCEL_PENDING: &str = "UPDATE tasks SET status = 'canceled', updated_at = $2 WHERE id = $1 AND status = 'pending'";
pub(crate) const CANCEL_RUNNING: &str = "UPDATE tasks SET cancel_requested = 1, updated_at = $2 WHERE id = $1 AND status = 'running'";

pub(crate) const TASK_VIEW: &str = "SELECT t.id, t.job_id, j.name, t.status, t.attempts, t.cancel_requested, t.available_at, \
     t.last_error, e.partition_key, e.range_start, e.range_end, t.org_id, e.kind \
     FROM tasks t JOIN jobs j ON j.id = t.job_id JOIN events e ON e.id = t.event_id";
pub(crate) const EVENT_COUNT: &str = "SELECT COUNT(*) FROM events WHERE org_id = $1";

/// A task's own part of its payload; callers add the `WHERE`.
pub(crate) const PAYLOAD_SELECT: &str = "SELECT t.id, t.job_id, t.status, t.cancel_requested, t.attempts, a.credential, a.deadline_at, \
     e.partition_key, e.range_start, e.range_end, e.cursor, t.org_id, t.trace_parent, q.fuel_per_task \
     FROM tasks t JOIN events e ON e.id = t.event_id \
     LEFT JOIN task_attempts a ON a.task_id = t.id AND a.attempt = t.attempts \
     LEFT JOIN org_quotas q ON q.org_id = t.org_id";
/// The job's part of a payload, read once per job of a batch rather than
/// repeated on every task's row; callers add the `WHERE`.
pub(crate) const JOB_PAYLOAD_SELECT: &str = "SELECT j.id, j.name, j.kind, j.operator, j.config, j.outputs, j.timeout_ms, v.dag_id, j.rpc \
     FROM jobs j JOIN dag_versions v ON v.id = j.dag_version_id";
pub(crate) const STATE_OF: &str = "SELECT key, value FROM operator_state WHERE org_id = $1 AND dag_id = $2 AND job_name = $3 ORDER BY key";
pub(crate) const STATE_SCOPE: &str = "SELECT t.org_id, v.dag_id, j.name FROM tasks t JOIN jobs j ON j.id = t.job_id \
     JOIN dag_versions v ON v.id = j.dag_version_id WHERE t.id = $1";
pub(crate) const STATE_PUT: &str = "INSERT INTO operator_state (org_id, dag_id, job_name, key, value) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (org_id, dag_id, job_name, key) DO UPDATE SET value = excluded.value";
pub(crate) const STATE_DELETE: &str = "DELETE FROM operator_state WHERE org_id = $1 AND dag_id = $2 AND job_name = $3 AND key = $4";
/// Two counts, one per state, so each reads its partial queue index (only
/// open tasks) rather than every task the org ever had.
pub(crate) const OPEN_TASKS: &str = "SELECT (SELECT COUNT(*) FROM tasks WHERE status = 'pending' AND org_id = $1) \
     + (SELECT COUNT(*) FROM tasks WHERE status = 'running' AND org_id = $1)";
/// Every org's open tasks: pending and due, pending and not yet due (a
/// retry's backoff), running.
/// Open tasks of every org by job name.
pub(crate) const QUEUE_DEPTH: &str = "SELECT j.name, \
     CAST(COALESCE(SUM(CASE WHEN t.status = 'pending' AND t.available_at <= $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN t.status = 'pending' AND t.available_at > $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN t.status = 'running' THEN 1 ELSE 0 END), 0) AS BIGINT) \
     FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.status IN ('pending', 'running') \
     GROUP BY j.name ORDER BY j.name";
pub(crate) const STATUS_COUNTS: &str = "SELECT status, COUNT(*) FROM tasks WHERE org_id = $1 GROUP BY status ORDER BY status";
pub(crate) const ORG_BY_NAME: &str = "SELECT id FROM orgs WHERE name = $1";
pub(crate) const ACTIVE_JOB: &str = "SELECT j.id FROM dags d JOIN jobs j ON j.dag_version_id = d.active_version_id \
     WHERE d.org_id = $1 AND d.name = $2 AND j.name = $3";
pub(crate) const VERSION_JOB: &str = "SELECT j.id FROM dags d JOIN dag_versions v ON v.dag_id = d.id JOIN jobs j ON j.dag_version_id = v.id \
     WHERE d.org_id = $1 AND d.name = $2 AND v.version = $3 AND j.name = $4";
pub(crate) const TAKE_ATTEMPT: &str = "UPDATE task_attempts SET taken_at = $3 WHERE task_id = $1 AND attempt = $2 AND taken_at IS NULL AND finished_at IS NULL";
pub(crate) const COUNT_DUPLICATE: &str = "UPDATE task_attempts SET duplicate_deliveries = duplicate_deliveries + 1 WHERE task_id = $1 AND attempt = $2";
pub(crate) const ATTEMPTS: &str = "SELECT a.attempt, a.started_at, a.deadline_at, a.finished_at, a.outcome, l.log, a.duplicate_deliveries FROM task_attempts a \
     LEFT JOIN attempt_logs l ON l.task_id = a.task_id AND l.attempt = a.attempt \
     WHERE a.task_id = $1 ORDER BY a.attempt";
pub(crate) const INSERT_LOG: &str = "INSERT INTO attempt_logs (task_id, attempt, log) VALUES ($1, $2, $3) ON CONFLICT (task_id, attempt) DO NOTHING";

/// Events recorded per multi-row statement (10 parameters each; well under
/// SQLite's and PostgreSQL's parameter limits).
pub(crate) const INGEST_CHUNK: usize = 500;

/// `INSERT INTO events … VALUES (…), (…) …` for `n` events, returning the
/// ids and keys of those that were new.
pub(crate) fn insert_events(n: usize) -> String {
    let rows: Vec<String> = (0..n).map(|i| format!("({})", placeholders(i * 10 + 1, 10))).collect();
    format!(
        "INSERT INTO events (org_id, producer_job_id, producer_task_id, output_index, partition_key, range_start, \
         range_end, cursor, idempotency_key, created_at) VALUES {} ON CONFLICT (idempotency_key) DO NOTHING \
         RETURNING id, idempotency_key",
        rows.join(", ")
    )
}

/// [`insert_events`] for PostgreSQL: one array per column.
pub(crate) const INSERT_EVENTS_UNNEST: &str = "INSERT INTO events (org_id, producer_job_id, producer_task_id, output_index, \
     partition_key, range_start, range_end, cursor, idempotency_key, created_at) \
     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], $5::text[], $6::bigint[], $7::bigint[], \
     $8::text[], $9::text[], $10::bigint[]) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key";

/// Ids and keys of the events whose key is in `list`.
pub(crate) fn events_by_keys(list: &str) -> String {
    format!("SELECT id, idempotency_key FROM events WHERE idempotency_key {list}")
}

/// One task per subscribed job for each new event in `list` (`$1` now,
/// `$2` the trace parent, then the event ids; each task in its event's
/// org), returning task and event ids. (`$1` and `$2` appear once each, so
/// SQLite binds every parameter by position.)
pub(crate) fn insert_subscriber_tasks(list: &str) -> String {
    format!(
        "INSERT INTO tasks (org_id, job_id, event_id, status, available_at, created_at, updated_at, trace_parent) \
         SELECT e.org_id, ji.job_id, e.id, 'pending', n.now, n.now, n.now, n.trace_parent \
         FROM (SELECT CAST($1 AS BIGINT) AS now, CAST($2 AS TEXT) AS trace_parent) n, events e \
         JOIN job_inputs ji ON ji.from_job_id = e.producer_job_id AND ji.from_output = e.output_index \
         WHERE e.id {list} ORDER BY e.id, ji.job_id ON CONFLICT (job_id, event_id) DO NOTHING RETURNING id, event_id"
    )
}

/// `$first, $first+1, …`: `n` numbered placeholders.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Source tasks of job `$1` whose trigger key matches `$2` (a LIKE pattern).
pub(crate) const RUN_COUNTS: &str = "SELECT t.status, COUNT(*) FROM tasks t JOIN events e ON e.id = t.event_id \
     WHERE t.job_id = $1 AND e.idempotency_key LIKE $2 ESCAPE '\\' GROUP BY t.status";
pub(crate) const RUN_ROWS: &str = "SELECT CAST(COALESCE(SUM(pt.row_count), 0) AS BIGINT) FROM dataset_partitions pt \
     JOIN tasks t ON t.id = pt.task_id JOIN events e ON e.id = t.event_id \
     WHERE t.job_id = $1 AND e.idempotency_key LIKE $2 ESCAPE '\\'";

/// `prefix` as a LIKE pattern matching itself and anything after it.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Lock the jobs in `list` (PostgreSQL; SQLite's write transaction is the lock).
pub(crate) fn lock_jobs(list: &str) -> String {
    format!("SELECT id FROM jobs WHERE id {list} ORDER BY id FOR UPDATE")
}

/// Multi-row insert of `n` attempts (SQLite; PostgreSQL unnests arrays).
pub(crate) fn insert_attempts(n: usize) -> String {
    let rows: Vec<String> = (0..n).map(|i| format!("({})", placeholders(i * 6 + 1, 6))).collect();
    format!("INSERT INTO task_attempts (task_id, attempt, started_at, deadline_at, credential, slot_id) VALUES {}", rows.join(", "))
}

/// [`insert_attempts`] for PostgreSQL: one array per column.
pub(crate) const INSERT_ATTEMPTS_UNNEST: &str = "INSERT INTO task_attempts (task_id, attempt, started_at, deadline_at, credential, slot_id) \
     SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[])";

/// A task's or file's range as `[$start, $end)` parameters of the overlap
/// tests of the partition queries; without a range, an empty interval that overlaps nothing
/// (such a partition is matched by its key instead).
pub(crate) fn overlap_bounds(range: Option<(u64, u64)>) -> (i64, i64) {
    range.map_or((i64::MAX, i64::MIN), |(s, e)| (s as i64, e as i64))
}

/// Rows per multi-row statement (6 parameters each for attempts).
pub(crate) const CHUNK: usize = 500;

/// Where a job's outputs go, for its DAG version: output, version uuid,
/// version row id, dataset uuid, update strategy, unique key, and for an
/// output written to a buffered dataset, that dataset's uuid and schema.
pub(crate) const OUTPUT_VERSIONS: &str = "SELECT d.output_index, v.uuid, v.id, d.uuid, j.update_strategy, j.unique_key, b.uuid, b.table_schema \
     FROM jobs j JOIN dag_dataset_pointers p ON p.dag_version_id = j.dag_version_id \
     JOIN datasets d ON d.id = p.dataset_id AND d.producer_job = j.name \
     JOIN dataset_versions v ON v.id = p.dataset_version_id \
     LEFT JOIN buffered_writers w ON w.dag_version_id = j.dag_version_id AND w.job_name = j.name AND w.output_index = d.output_index \
     LEFT JOIN buffered_datasets b ON b.id = w.buffered_id WHERE j.id = $1 ORDER BY d.output_index";

#[cfg(test)]
mod tests {
    use super::for_sqlite;

    #[test]
    fn in_order_placeholders_become_positional_and_others_stay_numbered() {
        assert_eq!(for_sqlite("VALUES ($1, $2), ($3, $4) LIMIT $5"), "VALUES (?, ?), (?, ?) LIMIT ?");
        assert_eq!(for_sqlite("SELECT 1"), "SELECT 1");
        // Reused or out of order: numbered, as SQLite's `?N`.
        assert_eq!(for_sqlite("VALUES ($1, $2, $2)"), "VALUES (?1, ?2, ?2)");
        assert_eq!(for_sqlite("WHERE a = $2 AND b = $1"), "WHERE a = ?2 AND b = ?1");
        assert_eq!(for_sqlite("x = $10 AND y = $1"), "x = ?10 AND y = ?1");
    }
}
