-- Batch queries: SQL run without the interactive row limit, its result
-- written as one Parquet object under the org's prefix. A row is `running`
-- until the server running it records the end; one still `running` past its
-- deadline belonged to a server that stopped, and reads as failed.
CREATE TABLE batch_queries (
    uuid TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    actor TEXT NOT NULL,
    sql_text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    row_count BIGINT,
    byte_count BIGINT,
    object_key TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX batch_queries_org ON batch_queries (org_id, created_at);
