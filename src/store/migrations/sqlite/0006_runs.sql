-- One row per run of a command that claims jobs (`ingest --type T LIST`, `ingest worker`):
-- written when it starts, completed when it ends, so `ingest status` can show the last run's
-- throughput and the runs still in progress. A run whose process died keeps finished_at NULL.
-- worker: the process, as `host-pid-nonce` (the lease owner of the jobs it holds).
-- outcome: NULL while running, then 'ok', 'interrupted' or 'fatal'.
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    worker TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    documents_ok INTEGER NOT NULL DEFAULT 0,
    documents_rejected INTEGER NOT NULL DEFAULT 0,
    documents_failed INTEGER NOT NULL DEFAULT 0,
    documents_retried INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    fatal TEXT
);
CREATE INDEX runs_started ON runs (started_at);
