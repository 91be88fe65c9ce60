-- A stage whose output only adds to the previous stage's (enrich adds references, entities
-- and concepts to the embedded document) checkpoints just what it adds: `data` keeps the
-- previous stage's output, `delta` holds the addition, and `stage` names the later stage.
-- A full checkpoint clears `delta`. Rewriting the whole document with its vectors made the
-- enrich checkpoint of a large act cost megabytes of memory and write time for nothing new.
ALTER TABLE job_payloads ADD COLUMN delta BLOB;
