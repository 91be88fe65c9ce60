-- Jobs double as stage checkpoints: one row per (source, type). `stage_done` is the last
-- stage whose output is durably recorded (0 none, 1 parse, 2 chunk, 3 embed, 4 enrich,
-- 5 store). Lease columns let several workers share the table (claims bump lease_epoch;
-- every checkpoint write re-checks it).
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    document_id TEXT,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'rejected', 'failed', 'dead')),
    stage_done INTEGER NOT NULL DEFAULT 0 CHECK (stage_done BETWEEN 0 AND 5),
    model_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    lease_epoch INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_stage TEXT,
    last_error_class TEXT,
    run_id TEXT,
    content_hash TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (source, doc_type)
);
CREATE INDEX jobs_claim ON jobs (state, priority DESC, due_at, id);
CREATE INDEX jobs_run ON jobs (run_id, state);
CREATE INDEX jobs_document ON jobs (document_id);

-- The output of a job's last completed stage, so a resumed job starts where it stopped.
CREATE TABLE job_payloads (
    job_id INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    stage INTEGER NOT NULL,
    data BLOB NOT NULL
);

-- How many times each stage ran (successes and failures), across runs.
CREATE TABLE stage_counters (
    stage TEXT PRIMARY KEY,
    runs INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE job_errors (
    id INTEGER PRIMARY KEY,
    job_id INTEGER,
    source TEXT NOT NULL,
    stage TEXT NOT NULL,
    class TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL
);

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    title TEXT,
    content_hash TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    meta TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE chunks (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    eid TEXT NOT NULL,
    part INTEGER,
    parts INTEGER NOT NULL,
    unit_kind TEXT NOT NULL,
    num TEXT,
    heading TEXT,
    path TEXT NOT NULL,
    text TEXT NOT NULL,
    embed_text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    refs TEXT NOT NULL,
    notes TEXT NOT NULL,
    amendments TEXT NOT NULL,
    repealed INTEGER NOT NULL,
    attachment TEXT,
    point_id TEXT NOT NULL,
    model_id TEXT NOT NULL
);
CREATE INDEX chunks_document ON chunks (document_id, ordinal);

-- The graph: labelled nodes and typed edges. `owner` is the document that created the row,
-- so re-ingesting a document replaces exactly what it wrote; shared nodes (norms) have none.
CREATE TABLE graph_nodes (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    owner TEXT,
    props TEXT NOT NULL
);
CREATE INDEX graph_nodes_owner ON graph_nodes (owner, label);

CREATE TABLE graph_edges (
    src TEXT NOT NULL,
    rel TEXT NOT NULL,
    dst TEXT NOT NULL,
    key TEXT NOT NULL,
    owner TEXT NOT NULL,
    props TEXT NOT NULL,
    PRIMARY KEY (src, rel, dst, key)
);
CREATE INDEX graph_edges_owner ON graph_edges (owner);
CREATE INDEX graph_edges_dst ON graph_edges (dst, rel);
