-- Nightly refresh. A job marked `refresh` revisits a source that was ingested before: the fetch
-- is conditional (ETag / Last-Modified from the last completed store) and an unchanged content
-- hash skips the document without parsing. A source gone from a refresh LIST is withdrawn: its
-- document leaves every store and the job keeps the date.
ALTER TABLE jobs ADD COLUMN refresh INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN etag TEXT;
ALTER TABLE jobs ADD COLUMN last_modified TEXT;
ALTER TABLE jobs ADD COLUMN checked_at INTEGER;
ALTER TABLE jobs ADD COLUMN withdrawn_at INTEGER;

-- Point-in-time validity of norm versions (ISO dates; valid_to NULL = still in force), and the
-- canonical act a norm document expresses (the id citations resolve to).
ALTER TABLE documents ADD COLUMN act_id TEXT;
ALTER TABLE documents ADD COLUMN valid_from TEXT;
ALTER TABLE documents ADD COLUMN valid_to TEXT;
ALTER TABLE chunks ADD COLUMN valid_from TEXT;
ALTER TABLE chunks ADD COLUMN valid_to TEXT;
CREATE INDEX documents_act ON documents (act_id, valid_from);

-- Citations joined to the stored documents of the act they cite: a citation written before its
-- norm arrived is linked as soon as that norm is stored, whichever run stores it.
CREATE VIEW citation_links AS
SELECT c.chunk_id, c.document_id, c.seq, c.norm_id, c.act_id, c.article_id, c.text,
       d.id AS target_document_id, d.valid_from AS target_valid_from, d.valid_to AS target_valid_to
FROM citations c JOIN documents d ON d.act_id = c.act_id;

-- Named database locks with a lease from the database clock (one refresh at a time).
CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
