-- What each attempt used, recorded with its outcome: the basis of per-org
-- accounting (`trace usage`, `GET /api/v1/usage`) and of quotas. The org is
-- kept on the row so that an org's usage over time is one index range.
CREATE TABLE attempt_usage (
    task_id            BIGINT NOT NULL REFERENCES tasks(id),
    attempt            INTEGER NOT NULL,
    org_id             BIGINT NOT NULL REFERENCES orgs(id),
    job_id             BIGINT NOT NULL REFERENCES jobs(id),
    finished_at        BIGINT NOT NULL,
    outcome            TEXT NOT NULL,
    wall_ms            BIGINT NOT NULL,
    cpu_ms             BIGINT NOT NULL,
    fuel               BIGINT,
    peak_memory_bytes  BIGINT NOT NULL,
    input_bytes        BIGINT NOT NULL,
    input_rows         BIGINT NOT NULL,
    output_bytes       BIGINT NOT NULL,
    output_rows        BIGINT NOT NULL,
    events             BIGINT NOT NULL,
    log_bytes          BIGINT NOT NULL,
    rpc_requests       BIGINT NOT NULL,
    rpc_bytes          BIGINT NOT NULL,
    PRIMARY KEY (task_id, attempt)
);
CREATE INDEX attempt_usage_by_org ON attempt_usage (org_id, finished_at);
