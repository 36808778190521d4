-- Which attempts a worker has taken. A queue message may be delivered twice
-- (SQS is at-least-once; a message outlives its visibility while its first
-- receiver still runs it): the first worker to fetch a running attempt takes
-- it, a second is told so and drops its copy, and the attempt counts the
-- duplicates it saw (shown by `trace task ID`, the API and the console).
ALTER TABLE task_attempts ADD COLUMN taken_at BIGINT;
ALTER TABLE task_attempts ADD COLUMN duplicate_deliveries INTEGER NOT NULL DEFAULT 0;
