-- Buffered datasets: rows kept in the system database, written through a
-- buffer (a queue per dataset) by a platform sink. Each dataset's rows live
-- in a table of their own, `buf_{uuid without dashes}`, created at deploy
-- with the declared columns and a unique index on the unique key. They are
-- not versioned: a redeploy or a rollback keeps every committed row.
CREATE TABLE buffered_datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    uuid TEXT NOT NULL UNIQUE,
    dag_id BIGINT NOT NULL REFERENCES dags(id),
    table_schema TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- Which job outputs of a DAG version write which buffered dataset (several
-- jobs may write one).
CREATE TABLE buffered_writers (
    dag_version_id BIGINT NOT NULL REFERENCES dag_versions(id),
    job_name TEXT NOT NULL,
    output_index INTEGER NOT NULL,
    buffered_id BIGINT NOT NULL REFERENCES buffered_datasets(id),
    PRIMARY KEY (dag_version_id, job_name, output_index)
);

-- Where alerts go: a webhook URL per org and name. The signing secret is
-- write-only: no query of the API or the CLI returns it.
CREATE TABLE alert_destinations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    signing_secret TEXT NOT NULL,
    max_in_flight INTEGER NOT NULL,
    per_minute INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- Every routed alert, sent or suppressed: one shared table that the
-- Delivery Service leases from. `webhook_id` is the delivery's idempotency
-- key, the same on every attempt.
CREATE TABLE alert_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    dataset_uuid TEXT NOT NULL,
    webhook_id TEXT NOT NULL UNIQUE,
    alert_key TEXT NOT NULL,
    destination TEXT NOT NULL,
    severity TEXT NOT NULL,
    event_time BIGINT NOT NULL,
    payload TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'suppressed')),
    reason TEXT,
    -- Attempts in the current round (a retry by hand starts a new one),
    -- and in all (what numbers the attempt records).
    attempts INTEGER NOT NULL DEFAULT 0,
    total_attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    writer_job TEXT NOT NULL,
    writer_task BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);
CREATE INDEX alert_deliveries_org ON alert_deliveries (org_id, status, id);

-- Each attempt to send a delivery: what the receiver answered.
CREATE TABLE delivery_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES alert_deliveries(id),
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status_code INTEGER,
    outcome TEXT NOT NULL,
    excerpt TEXT,
    sender TEXT NOT NULL
);
CREATE INDEX delivery_attempts_of ON delivery_attempts (delivery_id, attempt);
