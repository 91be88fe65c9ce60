-- Citations resolved to canonical norm ids (URN:NIR style), one row per occurrence.
ALTER TABLE chunks ADD COLUMN referenced_norm_ids TEXT NOT NULL DEFAULT '[]';

CREATE TABLE citations (
    chunk_id TEXT NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    document_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('markup', 'text', 'note')),
    norm_id TEXT,
    act_id TEXT,
    article_id TEXT,
    act_dated TEXT,
    target_raw TEXT,
    text TEXT NOT NULL,
    start_byte INTEGER NOT NULL,
    end_byte INTEGER NOT NULL,
    note INTEGER,
    relative INTEGER NOT NULL,
    PRIMARY KEY (chunk_id, seq)
);
CREATE INDEX citations_norm ON citations (norm_id);
CREATE INDEX citations_article ON citations (article_id);
CREATE INDEX citations_act ON citations (act_id);
CREATE INDEX citations_document ON citations (document_id);
