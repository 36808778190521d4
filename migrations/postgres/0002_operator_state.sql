-- Durable operator state (e.g. range_aggregator's cursor), keyed by org, DAG
-- and job name so it survives redeploys; written only together with the
-- completion of the task that produced it.
CREATE TABLE operator_state (
    org_id    BIGINT NOT NULL REFERENCES orgs(id),
    dag_id    BIGINT NOT NULL REFERENCES dags(id),
    job_name  TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     BYTEA NOT NULL,
    PRIMARY KEY (org_id, dag_id, job_name, key)
);
