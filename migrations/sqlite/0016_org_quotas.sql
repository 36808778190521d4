-- Per-org quotas, set by the deployment's operator (`trace quota set`), not
-- by the org: a NULL is no limit. The dispatcher leaves an org's pending
-- tasks waiting while it is at a limit (they are not failed), and the public
-- API answers 429 naming the limit.
CREATE TABLE org_quotas (
    org_id              BIGINT PRIMARY KEY REFERENCES orgs(id),
    max_running         BIGINT,
    max_tasks_per_hour  BIGINT,
    max_stored_bytes    BIGINT,
    max_queries         BIGINT,
    updated_at          BIGINT NOT NULL
);

-- Task attempts started per org and clock hour (UTC), counted by the
-- dispatcher for orgs with a `max_tasks_per_hour`.
CREATE TABLE org_hourly_starts (
    org_id   BIGINT NOT NULL REFERENCES orgs(id),
    hour     BIGINT NOT NULL,
    started  BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour)
);
