//! The job table and per-document stage checkpoints in PostgreSQL: the API and lease
//! semantics of [`super::jobs::JobStore`], for workers on several processes or hosts.
//!
//! A claim is one statement that picks the next claimable row with
//! `FOR UPDATE SKIP LOCKED` and bumps its lease epoch, so concurrent claimers never get the
//! same job. Every checkpoint re-checks the epoch (and locks the job row) in the transaction
//! that records the stage's output. Lease times use the server clock (`ingest_now_ms()`), so
//! hosts with skewed clocks agree on expiry.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::{PgConnection, PgPool, Row};

use super::jobs::{
    lease_owner, no_base_checkpoint, owner_died_here, revisit_set, AfterFailure, Claim, DeadJob,
    EnqueueStats, LockHolder, Missing, Payload, Pending, Scope, Validators,
};
use super::StoreError;
use crate::pipeline::error::ErrorClass;
use crate::pipeline::record::{DocType, Stage};

/// Sources inserted per transaction when enqueueing a list.
const ENQUEUE_BATCH: usize = 500;

/// States a new enqueue puts back in the queue (keeping their checkpoint).
fn requeueable(state: &str) -> bool {
    matches!(state, "rejected" | "failed" | "dead")
}

#[derive(Clone)]
pub struct PgJobStore {
    pool: PgPool,
    owner: String,
    lease: Duration,
}

impl PgJobStore {
    pub fn new(pool: PgPool, lease: Duration) -> Self {
        Self {
            pool,
            owner: lease_owner(),
            lease,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Add sources for `run_id`. A source already done adds nothing; one that was rejected or
    /// failed before is queued again, keeping its last checkpoint.
    pub async fn enqueue(
        &self,
        run_id: &str,
        doc_type: DocType,
        priority: i64,
        sources: &[String],
    ) -> Result<EnqueueStats, StoreError> {
        let mut stats = EnqueueStats::default();
        for batch in sources.chunks(ENQUEUE_BATCH) {
            let mut unique: Vec<&str> = batch.iter().map(String::as_str).collect();
            unique.sort_unstable();
            unique.dedup();
            let mut tx = self.pool.begin().await?;
            // Lock existing rows in a fixed order (no deadlock between enqueuers) and read
            // their states for the counts.
            let mut state: HashMap<String, String> = sqlx::query(
                "SELECT source, state FROM jobs WHERE doc_type = $1 AND source = ANY($2)
                 ORDER BY source FOR UPDATE",
            )
            .bind(doc_type.as_str())
            .bind(&unique)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.get("source"), r.get("state")))
            .collect();
            // Count as row-by-row inserts would: a repeated source sees its first occurrence.
            for source in batch {
                match state.get(source.as_str()).map(String::as_str) {
                    None => {
                        stats.added += 1;
                        state.insert(source.clone(), "queued".into());
                    }
                    Some("done") => stats.already_done += 1,
                    Some(s) if requeueable(s) => {
                        stats.requeued += 1;
                        state.insert(source.clone(), "queued".into());
                    }
                    Some(_) => stats.pending += 1,
                }
            }
            sqlx::query(
                "INSERT INTO jobs (source, doc_type, state, priority, due_at, run_id, created_at, updated_at)
                 SELECT s, $2, 'queued', $3, ingest_now_ms(), $4, ingest_now_ms(), ingest_now_ms()
                 FROM UNNEST($1::text[]) AS s
                 ON CONFLICT (source, doc_type) DO UPDATE SET run_id = EXCLUDED.run_id,
                   updated_at = EXCLUDED.updated_at,
                   retries = CASE WHEN jobs.state IN ('rejected', 'failed', 'dead') THEN 0
                                  ELSE jobs.retries END,
                   suspect = CASE WHEN jobs.state IN ('rejected', 'failed', 'dead') AND jobs.crashes > 0
                                  THEN TRUE ELSE jobs.suspect END,
                   crashes = CASE WHEN jobs.state IN ('rejected', 'failed', 'dead') THEN 0
                                  ELSE jobs.crashes END,
                   dead_at = CASE WHEN jobs.state IN ('rejected', 'failed', 'dead') THEN NULL
                                  ELSE jobs.dead_at END,
                   state = CASE WHEN jobs.state IN ('rejected', 'failed', 'dead') THEN 'queued'
                                ELSE jobs.state END,
                   due_at = CASE WHEN jobs.state IN ('rejected', 'failed', 'dead') THEN EXCLUDED.due_at
                                 ELSE jobs.due_at END",
            )
            .bind(&unique)
            .bind(doc_type.as_str())
            .bind(priority)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(stats)
    }

    /// Jobs left `running` by a process of this host that no longer exists go back to the
    /// queue at once instead of waiting for their lease to expire.
    pub async fn release_dead_local_leases(&self) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT id, lease_owner FROM jobs WHERE state = 'running'")
            .fetch_all(&self.pool)
            .await?;
        let mut released = 0;
        for r in rows {
            let id: i64 = r.get("id");
            let owner: Option<String> = r.get("lease_owner");
            let Some(owner) = owner else { continue };
            if owner_died_here(&owner, &self.owner) {
                // Only if that owner still holds it: another host may have taken it over since.
                released += sqlx::query(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
                       suspect = TRUE, crashes = crashes + CASE WHEN isolated THEN 1 ELSE 0 END,
                       isolated = FALSE
                     WHERE id = $1 AND state = 'running' AND lease_owner = $2",
                )
                .bind(id)
                .bind(&owner)
                .execute(&self.pool)
                .await?
                .rows_affected();
            }
        }
        Ok(released)
    }

    /// Claim the next job in `scope`: queued ones that are due, or running ones whose lease
    /// expired (they come back suspect, to run alone), by priority then due time, on the
    /// server's clock. Rows another claimer has locked are skipped, not waited for.
    pub async fn claim_next(&self, scope: &Scope) -> Result<Option<Claim>, StoreError> {
        let row = sqlx::query(
            "WITH next AS (
                 SELECT id FROM jobs
                 WHERE ($3::text IS NULL OR run_id = $3)
                   AND (cardinality($4::text[]) = 0 OR doc_type = ANY($4))
                   AND due_at <= ingest_now_ms()
                   AND (state = 'queued'
                        OR (state = 'running' AND lease_expires_at < ingest_now_ms()
                            AND lease_owner <> $1))
                 ORDER BY priority DESC, due_at, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             UPDATE jobs j SET state = 'running', lease_owner = $1,
               lease_expires_at = ingest_now_ms() + $2, lease_epoch = j.lease_epoch + 1,
               attempts = j.attempts + 1, updated_at = ingest_now_ms(),
               suspect = CASE WHEN j.state = 'running' THEN TRUE ELSE j.suspect END,
               crashes = j.crashes + CASE WHEN j.state = 'running' AND j.isolated THEN 1 ELSE 0 END,
               isolated = FALSE
             FROM next WHERE j.id = next.id
             RETURNING j.id, j.source, j.doc_type, j.stage_done, j.lease_epoch, j.model_id, j.attempts,
               j.document_id, j.retries, j.suspect, j.crashes, j.refresh, j.content_hash, j.etag,
               j.last_modified",
        )
        // Documents this process already holds are in its pipeline, not abandoned.
        .bind(&self.owner)
        .bind(self.lease_ms())
        .bind(scope.run_id.as_deref())
        .bind(scope.type_names())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let doc_type: String = r.get("doc_type");
        Ok(Some(Claim {
            id: r.get("id"),
            source: r.get("source"),
            doc_type: doc_type
                .parse()
                .map_err(|e: String| StoreError::Schema(e))?,
            stage_done: r.get("stage_done"),
            epoch: r.get("lease_epoch"),
            model_id: r.get("model_id"),
            attempts: r.get("attempts"),
            document_id: r.get("document_id"),
            retries: r.get("retries"),
            suspect: r.get("suspect"),
            crashes: r.get("crashes"),
            refresh: r.get("refresh"),
            content_hash: r.get("content_hash"),
            validators: Validators {
                etag: r.get("etag"),
                last_modified: r.get("last_modified"),
            },
        }))
    }

    /// This process runs the claimed job alone: if it dies now, the job is the culprit.
    pub async fn mark_isolated(&self, claim: &Claim) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET isolated = TRUE WHERE id = $1 AND lease_epoch = $2 AND state = 'running'",
        )
        .bind(claim.id)
        .bind(claim.epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Extend every lease this process holds, on the server's clock.
    pub async fn heartbeat(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE jobs SET lease_expires_at = ingest_now_ms() + $1
             WHERE lease_owner = $2 AND state = 'running'",
        )
        .bind(self.lease_ms())
        .bind(&self.owner)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Jobs of `scope` still queued or running, and when the next queued one is due.
    pub async fn pending(&self, scope: &Scope) -> Result<Pending, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(CASE WHEN state = 'queued' THEN due_at END) - ingest_now_ms() AS due
             FROM jobs WHERE ($1::text IS NULL OR run_id = $1)
               AND (cardinality($2::text[]) = 0 OR doc_type = ANY($2))
               AND state IN ('queued', 'running')",
        )
        .bind(scope.run_id.as_deref())
        .bind(scope.type_names())
        .fetch_one(&self.pool)
        .await?;
        Ok(Pending {
            open: r.get("n"),
            next_due_in_ms: r.get("due"),
        })
    }

    /// Dead letters, newest first.
    pub async fn dead(&self, limit: i64) -> Result<Vec<DeadJob>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, source, doc_type, last_error_stage, last_error_class, last_error, attempts,
                    retries, crashes, dead_at
             FROM jobs WHERE state IN ('dead', 'rejected', 'failed')
             ORDER BY dead_at DESC NULLS LAST, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeadJob {
                id: r.get("id"),
                source: r.get("source"),
                doc_type: r.get("doc_type"),
                stage: r.get("last_error_stage"),
                class: r.get("last_error_class"),
                error: r.get("last_error"),
                attempts: r.get("attempts"),
                retries: r.get("retries"),
                crashes: r.get("crashes"),
                dead_at: r.get("dead_at"),
            })
            .collect())
    }

    /// Put dead letters back in the queue with a fresh retry budget (all when `ids` is empty).
    pub async fn requeue_dead(&self, ids: &[i64]) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE jobs SET state = 'queued', due_at = ingest_now_ms(), retries = 0,
               suspect = CASE WHEN crashes > 0 THEN TRUE ELSE suspect END, crashes = 0, dead_at = NULL
             WHERE state IN ('dead', 'rejected', 'failed')
               AND (cardinality($1::bigint[]) = 0 OR id = ANY($1))",
        )
        .bind(ids)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Delete dead letters (their checkpoints go with them), those dead for longer than
    /// `older_than_ms` when given. Returns the removed jobs' (id, document id) pairs.
    pub async fn purge_dead(
        &self,
        older_than_ms: Option<i64>,
    ) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('dead', 'rejected', 'failed')
               AND ($1::bigint IS NULL OR COALESCE(dead_at, updated_at) < ingest_now_ms() - $1)
             RETURNING id, CASE WHEN content_hash IS NULL THEN document_id END AS document_id",
        )
        .bind(older_than_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("id"), r.get("document_id")))
            .collect())
    }

    /// Forget the jobs (and their checkpoints) of a document or a source: the next ingest of
    /// that source starts from scratch. Returns how many jobs went.
    pub async fn forget(&self, document_id: &str, source: Option<&str>) -> Result<u64, StoreError> {
        // Checkpoints go with their job (ON DELETE CASCADE).
        let n = sqlx::query("DELETE FROM jobs WHERE document_id = $1 OR source = $2")
            .bind(document_id)
            .bind(source.unwrap_or(document_id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }

    /// The recorded output of the job's last completed stage.
    /// Put every job this process holds back in the queue with its checkpoint.
    pub async fn release_owned(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
               isolated = FALSE
             WHERE state = 'running' AND lease_owner = $1",
        )
        .bind(self.owner())
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    pub async fn load_payload(&self, job_id: i64) -> Result<Option<Payload>, StoreError> {
        let row = sqlx::query("SELECT stage, data, delta FROM job_payloads WHERE job_id = $1")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Payload {
            stage: r.get("stage"),
            data: r.get("data"),
            delta: r.get("delta"),
        }))
    }

    /// Forget a job's checkpoint so it starts again from parse (e.g. the model changed).
    pub async fn reset(&self, claim: &Claim) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query("UPDATE jobs SET stage_done = 0, model_id = NULL WHERE id = $1")
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM job_payloads WHERE job_id = $1")
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Extend the lease if the claim still holds it; the row stays locked until the caller's
    /// transaction ends, so no claim can take the job over in between.
    async fn check_lease(&self, conn: &mut PgConnection, claim: &Claim) -> Result<(), StoreError> {
        // Touching the lease also extends it: every checkpoint is a heartbeat.
        let n = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ingest_now_ms() + $1, updated_at = ingest_now_ms()
             WHERE id = $2 AND lease_epoch = $3 AND state = 'running'",
        )
        .bind(self.lease_ms())
        .bind(claim.id)
        .bind(claim.epoch)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::LeaseLost {
                job: claim.id,
                epoch: claim.epoch,
            });
        }
        Ok(())
    }

    /// Record `stage` as done with its output, atomically, under the job's lease.
    pub async fn checkpoint(
        &self,
        claim: &Claim,
        stage: Stage,
        payload: impl Into<Vec<u8>>,
        document_id: Option<&str>,
        model_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET stage_done = $1, document_id = COALESCE($2, document_id),
               model_id = COALESCE($3, model_id) WHERE id = $4",
        )
        .bind(stage.index())
        .bind(document_id)
        .bind(model_id)
        .bind(claim.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO job_payloads (job_id, stage, data) VALUES ($1, $2, $3)
             ON CONFLICT (job_id) DO UPDATE SET stage = EXCLUDED.stage, data = EXCLUDED.data,
               delta = NULL",
        )
        .bind(claim.id)
        .bind(stage.index())
        .bind(payload.into())
        .execute(&mut *tx)
        .await?;
        count_stage(&mut tx, stage, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record `stage` as done with only what it added to the previous stage's output (see
    /// [`Payload`]). Refused unless the job's checkpoint is the
    /// stage before's, in full.
    pub async fn checkpoint_delta(
        &self,
        claim: &Claim,
        stage: Stage,
        delta: impl Into<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let base = stage.index() - 1;
        let mut tx = self.pool.begin().await?;
        self.check_lease(&mut tx, claim).await?;
        let n = sqlx::query(
            "UPDATE job_payloads SET stage = $1, delta = $2
             WHERE job_id = $3 AND stage = $4 AND delta IS NULL",
        )
        .bind(stage.index())
        .bind(delta.into())
        .bind(claim.id)
        .bind(base)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(no_base_checkpoint(claim, stage));
        }
        sqlx::query("UPDATE jobs SET stage_done = $1 WHERE id = $2")
            .bind(stage.index())
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        count_stage(&mut tx, stage, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The store stage finished: the job is done and its intermediate output is dropped.
    pub async fn finish(
        &self,
        claim: &Claim,
        document_id: &str,
        content_hash: &str,
        validators: &Validators,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET stage_done = $1, state = 'done', document_id = $2, content_hash = $3,
               lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
               last_error_stage = NULL, last_error_class = NULL, suspect = FALSE,
               isolated = FALSE, crashes = 0, refresh = FALSE, etag = $5, last_modified = $6,
               checked_at = ingest_now_ms(), withdrawn_at = NULL WHERE id = $4",
        )
        .bind(Stage::Store.index())
        .bind(document_id)
        .bind(content_hash)
        .bind(claim.id)
        .bind(&validators.etag)
        .bind(&validators.last_modified)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM job_payloads WHERE job_id = $1")
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        count_stage(&mut tx, Stage::Store, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// See [`super::jobs::JobStore::finish_unchanged`].
    pub async fn finish_unchanged(
        &self,
        claim: &Claim,
        validators: &Validators,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET stage_done = $1, state = 'done', refresh = FALSE,
               checked_at = ingest_now_ms(),
               etag = COALESCE($2, etag), last_modified = COALESCE($3, last_modified),
               lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
               last_error_stage = NULL, last_error_class = NULL, suspect = FALSE,
               isolated = FALSE, crashes = 0 WHERE id = $4",
        )
        .bind(Stage::Store.index())
        .bind(&validators.etag)
        .bind(&validators.last_modified)
        .bind(claim.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM job_payloads WHERE job_id = $1")
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// See [`super::jobs::JobStore::revisit`].
    pub async fn revisit(
        &self,
        run_id: &str,
        types: &[DocType],
        sources: Option<&[String]>,
    ) -> Result<u64, StoreError> {
        let scope = Scope {
            run_id: None,
            types: types.to_vec(),
        };
        let sql = format!(
            "UPDATE jobs SET {set}, run_id = $1, due_at = ingest_now_ms(), updated_at = ingest_now_ms()
             WHERE (state = 'dead' OR (state = 'done' AND withdrawn_at IS NULL))
               AND (cardinality($2::text[]) = 0 OR doc_type = ANY($2))
               AND ($3::text IS NULL OR source = $3)",
            set = revisit_set("TRUE")
        );
        // One statement for every known source, or one per listed source.
        let each: Vec<Option<&str>> = match sources {
            None => vec![None],
            Some(list) => list.iter().map(|s| Some(s.as_str())).collect(),
        };
        let mut n = 0;
        let mut tx = self.pool.begin().await?;
        for source in each {
            n += sqlx::query(&sql)
                .bind(run_id)
                .bind(scope.type_names())
                .bind(source)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// See [`super::jobs::JobStore::reinstate`].
    pub async fn reinstate(
        &self,
        doc_type: DocType,
        sources: &[String],
    ) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "UPDATE jobs SET withdrawn_at = NULL, state = 'queued', stage_done = 0, refresh = FALSE,
               content_hash = NULL, etag = NULL, last_modified = NULL, document_id = NULL,
               retries = 0, due_at = ingest_now_ms(), updated_at = ingest_now_ms()
             WHERE source = ANY($1) AND doc_type = $2 AND withdrawn_at IS NOT NULL",
        )
        .bind(sources)
        .bind(doc_type.as_str())
        .execute(&self.pool)
        .await?;
        Ok(n.rows_affected())
    }

    /// See [`super::jobs::JobStore::missing`].
    pub async fn missing(
        &self,
        doc_type: DocType,
        keep: &[String],
    ) -> Result<Vec<Missing>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, source, document_id FROM jobs WHERE doc_type = $1 AND withdrawn_at IS NULL
               AND state IN ('done', 'dead') AND NOT (source = ANY($2)) ORDER BY id",
        )
        .bind(doc_type.as_str())
        .bind(keep)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Missing {
                id: r.get("id"),
                source: r.get("source"),
                document_id: r.get("document_id"),
            })
            .collect())
    }

    /// See [`super::jobs::JobStore::mark_withdrawn`].
    pub async fn mark_withdrawn(&self, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE jobs SET withdrawn_at = ingest_now_ms(), updated_at = ingest_now_ms(),
               state = 'done', dead_at = NULL, refresh = FALSE, content_hash = NULL, etag = NULL,
               last_modified = NULL
             WHERE id = $1 AND state IN ('done', 'dead')",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM job_payloads WHERE job_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n.rows_affected() > 0)
    }

    /// See [`super::jobs::JobStore::document_done_elsewhere`].
    pub async fn document_done_elsewhere(&self, document_id: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE document_id = $1 AND state = 'done' AND withdrawn_at IS NULL",
        )
        .bind(document_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// See [`super::jobs::JobStore::try_lock`]. The row is locked while it is judged, so two
    /// processes never both take it.
    pub async fn try_lock(&self, name: &str) -> Result<Option<LockHolder>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO locks (name, owner, acquired_at, expires_at) VALUES ($1, '', 0, 0)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query(
            "SELECT owner, acquired_at, expires_at < ingest_now_ms() AS expired
             FROM locks WHERE name = $1 FOR UPDATE",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        let owner: String = r.get("owner");
        let expired: bool = r.get("expired");
        if !expired && owner != self.owner && !owner_died_here(&owner, &self.owner) {
            return Ok(Some(LockHolder {
                owner,
                acquired_at: r.get("acquired_at"),
            }));
        }
        sqlx::query(
            "UPDATE locks SET owner = $2, acquired_at = ingest_now_ms(),
               expires_at = ingest_now_ms() + $3 WHERE name = $1",
        )
        .bind(name)
        .bind(&self.owner)
        .bind(self.lease_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    pub async fn renew_lock(&self, name: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE locks SET expires_at = ingest_now_ms() + $1 WHERE name = $2 AND owner = $3",
        )
        .bind(self.lease_ms())
        .bind(name)
        .bind(&self.owner)
        .execute(&self.pool)
        .await?;
        Ok(n.rows_affected() > 0)
    }

    pub async fn unlock(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM locks WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(&self.owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Record a failure: back in the queue after a delay (a retry is charged) or a dead
    /// letter. The last checkpoint is kept either way.
    pub async fn fail(
        &self,
        claim: &Claim,
        stage: Stage,
        class: ErrorClass,
        message: &str,
        after: AfterFailure,
    ) -> Result<(), StoreError> {
        let (state, delay_ms, retry) = match after {
            AfterFailure::RetryAfter(d) => ("queued", d.as_millis() as i64, 1i64),
            AfterFailure::Dead => ("dead", 0i64, 0i64),
        };
        let mut tx = self.pool.begin().await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET state = $1, last_error = $2, last_error_stage = $3, last_error_class = $4,
               lease_owner = NULL, lease_expires_at = NULL, isolated = FALSE,
               due_at = CASE WHEN $1 = 'queued' THEN ingest_now_ms() + $5 ELSE due_at END,
               retries = retries + $6,
               dead_at = CASE WHEN $1 = 'dead' THEN ingest_now_ms() ELSE NULL END
             WHERE id = $7",
        )
        .bind(state)
        .bind(message)
        .bind(stage.as_str())
        .bind(class.as_str())
        .bind(delay_ms)
        .bind(retry)
        .bind(claim.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO job_errors (job_id, source, stage, class, message, at)
             VALUES ($1, $2, $3, $4, $5, ingest_now_ms())",
        )
        .bind(claim.id)
        .bind(&claim.source)
        .bind(stage.as_str())
        .bind(class.as_str())
        .bind(message)
        .execute(&mut *tx)
        .await?;
        count_stage(&mut tx, stage, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Give a claimed job back (shutdown before it finished); its checkpoint stays.
    pub async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
               isolated = FALSE
             WHERE id = $1 AND lease_epoch = $2 AND state = 'running'",
        )
        .bind(claim.id)
        .bind(claim.epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Job states for one run.
    pub async fn run_states(&self, run_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM jobs WHERE run_id = $1 GROUP BY state ORDER BY state",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("state"), r.get("n")))
            .collect())
    }
}

async fn count_stage(
    conn: &mut PgConnection,
    stage: Stage,
    failed: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stage_counters (stage, runs, failures) VALUES ($1, 1, $2)
         ON CONFLICT (stage) DO UPDATE SET runs = stage_counters.runs + 1,
           failures = stage_counters.failures + EXCLUDED.failures",
    )
    .bind(stage.as_str())
    .bind(i64::from(failed))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
