-- Runs of the commands that claim jobs (see migrations/sqlite/0006_runs.sql).
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    worker TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    documents_ok BIGINT NOT NULL DEFAULT 0,
    documents_rejected BIGINT NOT NULL DEFAULT 0,
    documents_failed BIGINT NOT NULL DEFAULT 0,
    documents_retried BIGINT NOT NULL DEFAULT 0,
    chunks BIGINT NOT NULL DEFAULT 0,
    outcome TEXT,
    fatal TEXT
);
CREATE INDEX runs_started ON runs (started_at);
