-- Decisions and doctrine: document metadata and extracted text, chunk sections and spans,
-- decision citations, named entities and concepts.
ALTER TABLE documents ADD COLUMN metadata TEXT NOT NULL DEFAULT '[]';
-- The extracted text of a text document; chunk character offsets index into it.
ALTER TABLE documents ADD COLUMN text TEXT;

ALTER TABLE chunks ADD COLUMN section TEXT;
ALTER TABLE chunks ADD COLUMN char_start INTEGER;
ALTER TABLE chunks ADD COLUMN char_end INTEGER;
ALTER TABLE chunks ADD COLUMN page_start INTEGER;
ALTER TABLE chunks ADD COLUMN page_end INTEGER;
ALTER TABLE chunks ADD COLUMN related_concept_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE chunks ADD COLUMN referenced_decision_ids TEXT NOT NULL DEFAULT '[]';

ALTER TABLE citations ADD COLUMN decision_id TEXT;
ALTER TABLE citations ADD COLUMN decision_key TEXT;
CREATE INDEX citations_decision ON citations (decision_key);

CREATE TABLE entities (
    chunk_id TEXT NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    document_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('court', 'organization', 'person', 'date', 'place', 'money')),
    text TEXT NOT NULL,
    start_byte INTEGER NOT NULL,
    end_byte INTEGER NOT NULL,
    normalized TEXT,
    PRIMARY KEY (chunk_id, seq)
);
CREATE INDEX entities_kind ON entities (kind, normalized);
CREATE INDEX entities_document ON entities (document_id);

CREATE TABLE concepts (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL
);

CREATE TABLE chunk_concepts (
    chunk_id TEXT NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    concept_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (chunk_id, concept_id)
);
CREATE INDEX chunk_concepts_concept ON chunk_concepts (concept_id);
CREATE INDEX chunk_concepts_document ON chunk_concepts (document_id);
