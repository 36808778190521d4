-- A per-org fuel budget for each task attempt: an org with one has its
-- tasks run with fuel metering (a deterministic count of the WebAssembly
-- executed, reported in each attempt's usage), and an attempt that burns
-- its budget stops with a limit error. NULL: unmetered unless the worker
-- meters everything (`trace worker --fuel`).
ALTER TABLE org_quotas ADD COLUMN fuel_per_task BIGINT;
