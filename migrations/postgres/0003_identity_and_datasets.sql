-- Identity and the dataset registry.
--
-- Users belong to one org with one role: `admin` (everything, including
-- users, tokens and dataset ACLs), `developer` (deploy, trigger, cancel,
-- read) or `viewer` (read). API tokens are stored as their SHA-256 only.
--
-- Datasets: `name` is what users see (unique per org), `uuid` is what
-- storage and the engine use. One producing DAG per dataset. A dataset
-- version is a system UUID; each DAG version has a pointer set naming the
-- dataset version it serves for each dataset it publishes.

CREATE TABLE users (
    id          BIGSERIAL PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'developer', 'viewer')),
    created_at  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    token_sha256  TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE datasets (
    id            BIGSERIAL PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES orgs(id),
    name          TEXT NOT NULL,
    uuid          TEXT NOT NULL UNIQUE,
    dag_id        BIGINT NOT NULL REFERENCES dags(id),
    producer_job  TEXT NOT NULL,
    output_index  INTEGER NOT NULL,
    -- JSON array of org role names that may read it besides the producing
    -- DAG's deployers and org admins; admin-managed, never from DAG YAML.
    read_roles    TEXT NOT NULL DEFAULT '[]',
    created_at    BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE dataset_versions (
    id                    BIGSERIAL PRIMARY KEY,
    dataset_id            BIGINT NOT NULL REFERENCES datasets(id),
    uuid                  TEXT NOT NULL UNIQUE,
    dag_version_id        BIGINT NOT NULL REFERENCES dag_versions(id),
    materialization_hash  TEXT NOT NULL,
    created_at            BIGINT NOT NULL
);

CREATE TABLE dag_dataset_pointers (
    dag_version_id      BIGINT NOT NULL REFERENCES dag_versions(id),
    dataset_id          BIGINT NOT NULL REFERENCES datasets(id),
    dataset_version_id  BIGINT NOT NULL REFERENCES dataset_versions(id),
    PRIMARY KEY (dag_version_id, dataset_id)
);

ALTER TABLE dag_versions ADD COLUMN deployed_by TEXT NOT NULL DEFAULT 'system';
