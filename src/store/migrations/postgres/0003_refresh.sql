-- Nightly refresh, norm validity, late citation links, locks (see migrations/sqlite/0005_refresh.sql).
ALTER TABLE jobs ADD COLUMN refresh BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN etag TEXT;
ALTER TABLE jobs ADD COLUMN last_modified TEXT;
ALTER TABLE jobs ADD COLUMN checked_at BIGINT;
ALTER TABLE jobs ADD COLUMN withdrawn_at BIGINT;

ALTER TABLE documents ADD COLUMN act_id TEXT;
ALTER TABLE documents ADD COLUMN valid_from TEXT;
ALTER TABLE documents ADD COLUMN valid_to TEXT;
ALTER TABLE chunks ADD COLUMN valid_from TEXT;
ALTER TABLE chunks ADD COLUMN valid_to TEXT;
CREATE INDEX documents_act ON documents (act_id, valid_from);

CREATE VIEW citation_links AS
SELECT c.chunk_id, c.document_id, c.seq, c.norm_id, c.act_id, c.article_id, c.text,
       d.id AS target_document_id, d.valid_from AS target_valid_from, d.valid_to AS target_valid_to
FROM citations c JOIN documents d ON d.act_id = c.act_id;

CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
