-- The W3C traceparent of the span that created a task (an API trigger or
-- the completion that emitted its event), when the deployment exports
-- spans: the task's claim, attempt and calls continue that trace.
ALTER TABLE tasks ADD COLUMN trace_parent TEXT;
