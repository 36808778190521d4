-- The end of what each attempt's operator logged (at most 64 KiB, the
-- part where a failing operator says why), for `trace task` and the
-- console. Only attempts that logged anything have a row.
CREATE TABLE attempt_logs (
    task_id  BIGINT NOT NULL REFERENCES tasks(id),
    attempt  INTEGER NOT NULL,
    log      TEXT NOT NULL,
    PRIMARY KEY (task_id, attempt)
);
