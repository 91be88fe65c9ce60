-- Failure policy and poison isolation.
-- retries:  transient failures charged to the job (each one re-queues it with backoff until
--           the policy's limit, then it is dead).
-- suspect:  the job was taken back from a holder that died: it runs alone next time.
-- isolated: its current holder runs it alone, so if that holder dies the job is the culprit.
-- crashes:  times a holder died while running it alone.
ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN suspect INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN isolated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN dead_at INTEGER;
-- Rejected and exhausted jobs are dead letters now; what failed before is retried.
UPDATE jobs SET state = 'dead', dead_at = updated_at WHERE state = 'rejected';
UPDATE jobs SET state = 'queued' WHERE state = 'failed';
CREATE INDEX jobs_dead ON jobs (state, dead_at);
