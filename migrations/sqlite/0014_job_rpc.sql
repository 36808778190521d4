-- A source job's `rpc:` settings (JSON; NULL without one): how the worker's
-- host-held client reaches its endpoint. Credentials are not here: they are
-- the leased slot's env and secret_env, resolved per attempt.
ALTER TABLE jobs ADD COLUMN rpc TEXT;
