//! The job table, which doubles as the per-document stage checkpoints.
//!
//! A job is claimed under a lease (owner, expiry, epoch). Every checkpoint write re-checks
//! the epoch in the same transaction that records the stage's output, so a worker that lost
//! its lease can never advance a document, and a stage counts as done only once its output
//! is durable.

use std::time::Duration;

use serde::Serialize;
use sqlx::{Row, SqlitePool};

use super::sqlite::{now_ms, write_tx};
use super::StoreError;
use crate::pipeline::error::ErrorClass;
use crate::pipeline::record::{DocType, Stage};

/// Sources inserted per transaction when enqueueing a list.
const ENQUEUE_BATCH: usize = 500;

/// A claimed job: what the runner needs to run (or resume) one document.
#[derive(Debug, Clone)]
pub struct Claim {
    pub id: i64,
    pub source: String,
    pub doc_type: DocType,
    /// Last completed stage (0 = none).
    pub stage_done: i64,
    pub epoch: i64,
    pub model_id: Option<String>,
    pub attempts: i64,
    /// The document id this source had when claimed (from an earlier run), if any: when the
    /// source now yields another id, the old document is removed from every store.
    pub document_id: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EnqueueStats {
    pub added: u64,
    pub requeued: u64,
    pub already_done: u64,
    pub pending: u64,
}

#[derive(Clone)]
pub struct JobStore {
    pool: SqlitePool,
    owner: String,
    lease: Duration,
}

impl JobStore {
    pub fn new(pool: SqlitePool, lease: Duration) -> Self {
        Self {
            pool,
            owner: lease_owner(),
            lease,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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
            let mut tx = write_tx(&self.pool).await?;
            for source in batch {
                let now = now_ms();
                let prev: Option<String> =
                    sqlx::query_scalar("SELECT state FROM jobs WHERE source = ? AND doc_type = ?")
                        .bind(source)
                        .bind(doc_type.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                match prev.as_deref() {
                    None => {
                        sqlx::query(
                            "INSERT INTO jobs (source, doc_type, state, priority, due_at, run_id, created_at, updated_at)
                             VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                        )
                        .bind(source)
                        .bind(doc_type.as_str())
                        .bind(priority)
                        .bind(now)
                        .bind(run_id)
                        .bind(now)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        stats.added += 1;
                    }
                    Some(state) => {
                        let requeue = matches!(state, "rejected" | "failed" | "dead");
                        sqlx::query(
                            "UPDATE jobs SET run_id = ?, updated_at = ?,
                               state = CASE WHEN state IN ('rejected', 'failed', 'dead') THEN 'queued' ELSE state END,
                               due_at = CASE WHEN state IN ('rejected', 'failed', 'dead') THEN ? ELSE due_at END
                             WHERE source = ? AND doc_type = ?",
                        )
                        .bind(run_id)
                        .bind(now)
                        .bind(now)
                        .bind(source)
                        .bind(doc_type.as_str())
                        .execute(&mut *tx)
                        .await?;
                        if state == "done" {
                            stats.already_done += 1;
                        } else if requeue {
                            stats.requeued += 1;
                        } else {
                            stats.pending += 1;
                        }
                    }
                }
            }
            tx.commit().await?;
        }
        Ok(stats)
    }

    /// Jobs left `running` by a process of this host that no longer exists go back to the
    /// queue at once instead of waiting for their lease to expire.
    pub async fn release_dead_local_leases(&self) -> Result<u64, StoreError> {
        let host = host_name();
        let rows = sqlx::query("SELECT id, lease_owner FROM jobs WHERE state = 'running'")
            .fetch_all(&self.pool)
            .await?;
        let mut released = 0;
        for r in rows {
            let id: i64 = r.get("id");
            let owner: Option<String> = r.get("lease_owner");
            let Some(owner) = owner else { continue };
            let mut parts = owner.rsplitn(3, '-');
            let (Some(_nonce), Some(pid), Some(h)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if h != host || owner == self.owner {
                continue;
            }
            let alive = pid
                .parse::<u32>()
                .map(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
                .unwrap_or(true);
            if !alive {
                released += sqlx::query(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND state = 'running'",
                )
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
            }
        }
        Ok(released)
    }

    /// Claim the next job of this run: queued ones, or running ones whose lease expired,
    /// by priority then due time.
    pub async fn claim_next(&self, run_id: &str) -> Result<Option<Claim>, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,
               lease_epoch = lease_epoch + 1, attempts = attempts + 1, updated_at = ?
             WHERE id = (SELECT id FROM jobs WHERE run_id = ? AND due_at <= ?
                           AND (state = 'queued'
                                OR (state = 'running' AND lease_expires_at < ? AND lease_owner != ?))
                         ORDER BY priority DESC, due_at, id LIMIT 1)
             RETURNING id, source, doc_type, stage_done, lease_epoch, model_id, attempts, document_id",
        )
        .bind(&self.owner)
        .bind(now + self.lease.as_millis() as i64)
        .bind(now)
        .bind(run_id)
        .bind(now)
        .bind(now)
        // Documents this process already holds are in its pipeline, not abandoned.
        .bind(&self.owner)
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
        }))
    }

    /// Forget the jobs (and their checkpoints) of a document or a source: the next ingest of
    /// that source starts from scratch. Returns how many jobs went.
    pub async fn forget(&self, document_id: &str, source: Option<&str>) -> Result<u64, StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let cond = "document_id = ?1 OR source = ?2";
        sqlx::query(&format!(
            "DELETE FROM job_payloads WHERE job_id IN (SELECT id FROM jobs WHERE {cond})"
        ))
        .bind(document_id)
        .bind(source.unwrap_or(document_id))
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(&format!("DELETE FROM jobs WHERE {cond}"))
            .bind(document_id)
            .bind(source.unwrap_or(document_id))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Put this process's running jobs of a run back in the queue (end of a run).
    pub async fn release_run(&self, run_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL
             WHERE run_id = ? AND state = 'running' AND lease_owner = ?",
        )
        .bind(run_id)
        .bind(&self.owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The recorded output of the job's last completed stage.
    pub async fn load_payload(&self, job_id: i64) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT stage, data FROM job_payloads WHERE job_id = ?")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("stage"), r.get("data"))))
    }

    /// Forget a job's checkpoint so it starts again from parse (e.g. the model changed).
    pub async fn reset(&self, claim: &Claim) -> Result<(), StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query("UPDATE jobs SET stage_done = 0, model_id = NULL WHERE id = ?")
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM job_payloads WHERE job_id = ?")
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn check_lease(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        claim: &Claim,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        // Touching the lease also extends it: every checkpoint is a heartbeat.
        let n = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ?, updated_at = ?
             WHERE id = ? AND lease_epoch = ? AND state = 'running'",
        )
        .bind(now + self.lease.as_millis() as i64)
        .bind(now)
        .bind(claim.id)
        .bind(claim.epoch)
        .execute(&mut **tx)
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
        payload: &[u8],
        document_id: Option<&str>,
        model_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET stage_done = ?, document_id = COALESCE(?, document_id),
               model_id = COALESCE(?, model_id) WHERE id = ?",
        )
        .bind(stage.index())
        .bind(document_id)
        .bind(model_id)
        .bind(claim.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO job_payloads (job_id, stage, data) VALUES (?, ?, ?)
             ON CONFLICT(job_id) DO UPDATE SET stage = excluded.stage, data = excluded.data",
        )
        .bind(claim.id)
        .bind(stage.index())
        .bind(payload)
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
    ) -> Result<(), StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET stage_done = ?, state = 'done', document_id = ?, content_hash = ?,
               lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
               last_error_stage = NULL, last_error_class = NULL WHERE id = ?",
        )
        .bind(Stage::Store.index())
        .bind(document_id)
        .bind(content_hash)
        .bind(claim.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM job_payloads WHERE job_id = ?")
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        count_stage(&mut tx, Stage::Store, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a failure. Rejected inputs are final for this run; transient failures that
    /// outlived their retries are marked failed and retried by the next run of the list.
    /// The last checkpoint is kept either way.
    pub async fn fail(
        &self,
        claim: &Claim,
        stage: Stage,
        class: ErrorClass,
        message: &str,
    ) -> Result<(), StoreError> {
        let state = match class {
            ErrorClass::Rejected => "rejected",
            ErrorClass::Transient | ErrorClass::Fatal => "failed",
        };
        let mut tx = write_tx(&self.pool).await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET state = ?, last_error = ?, last_error_stage = ?, last_error_class = ?,
               lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
        )
        .bind(state)
        .bind(message)
        .bind(stage.as_str())
        .bind(class.as_str())
        .bind(claim.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO job_errors (job_id, source, stage, class, message, at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(claim.id)
        .bind(&claim.source)
        .bind(stage.as_str())
        .bind(class.as_str())
        .bind(message)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        count_stage(&mut tx, stage, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Give a claimed job back (shutdown before it finished); its checkpoint stays.
    pub async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL
             WHERE id = ? AND lease_epoch = ? AND state = 'running'",
        )
        .bind(claim.id)
        .bind(claim.epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Job states for one run.
    pub async fn run_states(&self, run_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) AS n FROM jobs WHERE run_id = ? GROUP BY state")
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
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    stage: Stage,
    failed: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stage_counters (stage, runs, failures) VALUES (?, 1, ?)
         ON CONFLICT(stage) DO UPDATE SET runs = runs + 1, failures = failures + excluded.failures",
    )
    .bind(stage.as_str())
    .bind(if failed { 1 } else { 0 })
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `host-pid-nonce`: identifies the process holding a lease. The nonce keeps a restarted
/// process that got the same pid (containers) from mistaking a dead run's leases for its own.
pub fn lease_owner() -> String {
    format!(
        "{}-{}-{:08x}",
        host_name(),
        std::process::id(),
        rand::random::<u32>()
    )
}

/// The job queue and checkpoints, in SQLite (embedded) or PostgreSQL (when the relational store
/// is PostgreSQL): one interface for the runner.
#[derive(Clone)]
pub enum Jobs {
    Sqlite(JobStore),
    Postgres(super::pg_jobs::PgJobStore),
}

macro_rules! both {
    ($self:ident, $j:ident => $e:expr) => {
        match $self {
            Jobs::Sqlite($j) => $e,
            Jobs::Postgres($j) => $e,
        }
    };
}

impl Jobs {
    pub fn owner(&self) -> &str {
        both!(self, j => j.owner())
    }

    pub async fn enqueue(
        &self,
        run_id: &str,
        doc_type: DocType,
        priority: i64,
        sources: &[String],
    ) -> Result<EnqueueStats, StoreError> {
        both!(self, j => j.enqueue(run_id, doc_type, priority, sources).await)
    }

    pub async fn release_dead_local_leases(&self) -> Result<u64, StoreError> {
        both!(self, j => j.release_dead_local_leases().await)
    }

    pub async fn claim_next(&self, run_id: &str) -> Result<Option<Claim>, StoreError> {
        both!(self, j => j.claim_next(run_id).await)
    }

    pub async fn forget(&self, document_id: &str, source: Option<&str>) -> Result<u64, StoreError> {
        both!(self, j => j.forget(document_id, source).await)
    }

    pub async fn load_payload(&self, job_id: i64) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        both!(self, j => j.load_payload(job_id).await)
    }

    pub async fn reset(&self, claim: &Claim) -> Result<(), StoreError> {
        both!(self, j => j.reset(claim).await)
    }

    pub async fn checkpoint(
        &self,
        claim: &Claim,
        stage: Stage,
        payload: &[u8],
        document_id: Option<&str>,
        model_id: Option<&str>,
    ) -> Result<(), StoreError> {
        both!(self, j => j.checkpoint(claim, stage, payload, document_id, model_id).await)
    }

    pub async fn finish(
        &self,
        claim: &Claim,
        document_id: &str,
        content_hash: &str,
    ) -> Result<(), StoreError> {
        both!(self, j => j.finish(claim, document_id, content_hash).await)
    }

    pub async fn fail(
        &self,
        claim: &Claim,
        stage: Stage,
        class: ErrorClass,
        message: &str,
    ) -> Result<(), StoreError> {
        both!(self, j => j.fail(claim, stage, class, message).await)
    }

    pub async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        both!(self, j => j.release(claim).await)
    }

    pub async fn release_run(&self, run_id: &str) -> Result<(), StoreError> {
        both!(self, j => j.release_run(run_id).await)
    }

    pub async fn run_states(&self, run_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        both!(self, j => j.run_states(run_id).await)
    }
}
