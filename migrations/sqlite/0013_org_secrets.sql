-- Org secrets: values sealed (ChaCha20-Poly1305) under a key the servers
-- hold and the database never sees, bound to their org and name. DAGs name
-- them in `worker_pools[].slots[].secret_env`; no API answer returns a value.
CREATE TABLE org_secrets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
