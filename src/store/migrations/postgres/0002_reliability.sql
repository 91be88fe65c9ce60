-- Failure policy and poison isolation (see migrations/sqlite/0004_reliability.sql).
ALTER TABLE jobs ADD COLUMN retries BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN suspect BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN isolated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN crashes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN dead_at BIGINT;
UPDATE jobs SET state = 'dead', dead_at = updated_at WHERE state = 'rejected';
UPDATE jobs SET state = 'queued' WHERE state = 'failed';
-- Workers claim across runs: claimable rows in claim order, whatever their run.
CREATE INDEX jobs_claim_any ON jobs (priority DESC, due_at, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_dead ON jobs (dead_at) WHERE state = 'dead';
