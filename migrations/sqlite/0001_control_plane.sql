-- Control plane: orgs, DAG versions and jobs, events, tasks and attempts,
-- worker-pool slot leases, and the audit log. Times are epoch milliseconds
-- so both backends store and compare them the same way.

CREATE TABLE orgs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE dags (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id             BIGINT NOT NULL REFERENCES orgs(id),
    name               TEXT NOT NULL,
    active_version_id  BIGINT,
    UNIQUE (org_id, name)
);

CREATE TABLE dag_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id      BIGINT NOT NULL REFERENCES dags(id),
    version     INTEGER NOT NULL,
    yaml        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (dag_id, version)
);

CREATE TABLE jobs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_version_id        BIGINT NOT NULL REFERENCES dag_versions(id),
    name                  TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    operator              TEXT NOT NULL,
    outputs               INTEGER NOT NULL,
    config                TEXT NOT NULL,
    materialization_hash  TEXT NOT NULL,
    pool                  TEXT,
    concurrency           INTEGER NOT NULL,
    max_attempts          INTEGER NOT NULL,
    timeout_ms            BIGINT NOT NULL,
    UNIQUE (dag_version_id, name)
);

CREATE TABLE job_inputs (
    job_id        BIGINT NOT NULL REFERENCES jobs(id),
    input_index   INTEGER NOT NULL,
    from_job_id   BIGINT REFERENCES jobs(id),
    from_output   INTEGER,
    from_dataset  TEXT,
    PRIMARY KEY (job_id, input_index)
);
CREATE INDEX job_inputs_by_producer ON job_inputs (from_job_id, from_output);

CREATE TABLE worker_slots (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_version_id  BIGINT NOT NULL REFERENCES dag_versions(id),
    pool            TEXT NOT NULL,
    slot_index      INTEGER NOT NULL,
    env             TEXT NOT NULL,
    secret_env      TEXT NOT NULL,
    leased_by_task  BIGINT,
    UNIQUE (dag_version_id, pool, slot_index)
);

CREATE TABLE events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id            BIGINT NOT NULL REFERENCES orgs(id),
    producer_job_id   BIGINT NOT NULL REFERENCES jobs(id),
    producer_task_id  BIGINT,
    output_index      INTEGER NOT NULL,
    partition_key     TEXT NOT NULL,
    range_start       BIGINT,
    range_end         BIGINT,
    cursor            TEXT,
    idempotency_key   TEXT NOT NULL UNIQUE,
    created_at        BIGINT NOT NULL
);

CREATE TABLE tasks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id            BIGINT NOT NULL REFERENCES orgs(id),
    job_id            BIGINT NOT NULL REFERENCES jobs(id),
    event_id          BIGINT NOT NULL REFERENCES events(id),
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    available_at      BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    last_error        TEXT,
    UNIQUE (job_id, event_id)
);
CREATE INDEX tasks_pending ON tasks (status, available_at, id);
CREATE INDEX tasks_by_job_status ON tasks (job_id, status);

CREATE TABLE task_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      BIGINT NOT NULL REFERENCES tasks(id),
    attempt      INTEGER NOT NULL,
    started_at   BIGINT NOT NULL,
    deadline_at  BIGINT NOT NULL,
    finished_at  BIGINT,
    outcome      TEXT,
    credential   TEXT NOT NULL,
    slot_id      BIGINT,
    UNIQUE (task_id, attempt)
);
CREATE INDEX attempts_running ON task_attempts (finished_at, deadline_at);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
