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
    /// Transient failures already charged (each re-queued the job with backoff).
    pub retries: i64,
    /// Taken back from a holder that died: runs alone.
    pub suspect: bool,
    /// Times a holder died while running this job alone.
    pub crashes: i64,
    /// A refresh revisit: skip the document if its source did not change since `content_hash`.
    pub refresh: bool,
    /// Hash of the bytes last stored from this source, and the HTTP validators that came
    /// with them (for a conditional GET).
    pub content_hash: Option<String>,
    pub validators: Validators,
}

pub use crate::fetch::Validators;

/// A job whose source is gone from a refresh list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub id: i64,
    pub source: String,
    pub document_id: Option<String>,
}

/// Who holds a database lock, and since when (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub owner: String,
    pub acquired_at: i64,
}

/// Whether a lease owner (`host-pid-nonce`) is a process of this host that no longer exists.
pub(crate) fn owner_died_here(owner: &str, me: &str) -> bool {
    let mut parts = owner.rsplitn(3, '-');
    let (Some(_nonce), Some(pid), Some(h)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if h != host_name() || owner == me {
        return false;
    }
    pid.parse::<u32>()
        .map(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        .unwrap_or(false)
}

/// What a refresh revisit sets on a job: queued from the parse stage with a fresh retry
/// budget; `refresh` only for a job that was done (a dead one is simply tried again).
/// Shared by the SQLite and PostgreSQL job stores (`{T}` is the true literal).
pub(crate) fn revisit_set(t: &str) -> String {
    format!(
        "refresh = CASE WHEN state = 'done' THEN {t} ELSE refresh END,
         suspect = CASE WHEN state = 'dead' AND crashes > 0 THEN {t} ELSE suspect END,
         state = 'queued', stage_done = 0, retries = 0, crashes = 0, dead_at = NULL"
    )
}

/// Which jobs a claimer takes: those of one run (the one-machine shortcut) or any (a worker),
/// of some types or all.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub run_id: Option<String>,
    pub types: Vec<DocType>,
}

impl Scope {
    /// `,norm,doctrine,` (empty: every type), for SQL `instr`.
    fn types_csv(&self) -> String {
        if self.types.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = self.types.iter().map(|t| t.as_str()).collect();
            format!(",{},", names.join(","))
        }
    }

    pub fn type_names(&self) -> Vec<String> {
        self.types.iter().map(|t| t.as_str().to_string()).collect()
    }
}

/// What is left to do in a scope: jobs queued or running, and how long until the earliest
/// queued one is due (negative or zero: due now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub open: i64,
    pub next_due_in_ms: Option<i64>,
}

/// What becomes of a job after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Back in the queue, due after this delay (a retry is charged).
    RetryAfter(Duration),
    /// A dead letter: `ingest dlq requeue` brings it back.
    Dead,
}

/// A dead letter, as `ingest dlq list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadJob {
    pub id: i64,
    pub source: String,
    pub doc_type: String,
    pub stage: Option<String>,
    pub class: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    pub retries: i64,
    pub crashes: i64,
    pub dead_at: Option<i64>,
}

/// The current time on SQLite's clock, epoch milliseconds (`'now'` is fixed for a statement).
const SQL_NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

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
                        // Listing a dead source again is a request to try it again, with a
                        // fresh retry budget (it still runs alone if it ever crashed a worker).
                        sqlx::query(
                            "UPDATE jobs SET run_id = ?, updated_at = ?,
                               retries = CASE WHEN state IN ('rejected', 'failed', 'dead') THEN 0 ELSE retries END,
                               suspect = CASE WHEN state IN ('rejected', 'failed', 'dead') AND crashes > 0 THEN 1 ELSE suspect END,
                               crashes = CASE WHEN state IN ('rejected', 'failed', 'dead') THEN 0 ELSE crashes END,
                               dead_at = CASE WHEN state IN ('rejected', 'failed', 'dead') THEN NULL ELSE dead_at END,
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
        let rows = sqlx::query("SELECT id, lease_owner FROM jobs WHERE state = 'running'")
            .fetch_all(&self.pool)
            .await?;
        let mut released = 0;
        for r in rows {
            let id: i64 = r.get("id");
            let owner: Option<String> = r.get("lease_owner");
            let Some(owner) = owner else { continue };
            if owner_died_here(&owner, &self.owner) {
                // The holder died with it: it runs alone next time, and if it was already
                // running alone, it is the one that killed the process.
                released += sqlx::query(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
                       suspect = 1, crashes = crashes + isolated, isolated = 0
                     WHERE id = ? AND state = 'running' AND lease_owner = ?",
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
    /// expired (their holder died or hung: they come back suspect, to run alone), by priority
    /// then due time. Times are the database's.
    pub async fn claim_next(&self, scope: &Scope) -> Result<Option<Claim>, StoreError> {
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = ?1, lease_expires_at = {now} + ?2,
               lease_epoch = lease_epoch + 1, attempts = attempts + 1, updated_at = {now},
               suspect = CASE WHEN state = 'running' THEN 1 ELSE suspect END,
               crashes = crashes + CASE WHEN state = 'running' THEN isolated ELSE 0 END,
               isolated = 0
             WHERE id = (SELECT id FROM jobs WHERE (?3 IS NULL OR run_id = ?3)
                           AND (?4 = '' OR instr(?4, ',' || doc_type || ',') > 0)
                           AND due_at <= {now}
                           AND (state = 'queued'
                                OR (state = 'running' AND lease_expires_at < {now} AND lease_owner != ?1))
                         ORDER BY priority DESC, due_at, id LIMIT 1)
             RETURNING id, source, doc_type, stage_done, lease_epoch, model_id, attempts, document_id,
               retries, suspect, crashes, refresh, content_hash, etag, last_modified",
            now = SQL_NOW
        );
        let row = sqlx::query(&sql)
            // Documents this process already holds are in its pipeline, not abandoned.
            .bind(&self.owner)
            .bind(self.lease.as_millis() as i64)
            .bind(scope.run_id.as_deref())
            .bind(scope.types_csv())
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
            suspect: r.get::<i64, _>("suspect") != 0,
            crashes: r.get("crashes"),
            refresh: r.get::<i64, _>("refresh") != 0,
            content_hash: r.get("content_hash"),
            validators: Validators {
                etag: r.get("etag"),
                last_modified: r.get("last_modified"),
            },
        }))
    }

    /// This process runs the claimed job alone: if the process dies now, the job is the
    /// culprit.
    pub async fn mark_isolated(&self, claim: &Claim) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET isolated = 1 WHERE id = ? AND lease_epoch = ? AND state = 'running'",
        )
        .bind(claim.id)
        .bind(claim.epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Extend every lease this process holds (long stages must not look abandoned).
    pub async fn heartbeat(&self) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE jobs SET lease_expires_at = {SQL_NOW} + ? WHERE lease_owner = ? AND state = 'running'"
        );
        Ok(sqlx::query(&sql)
            .bind(self.lease.as_millis() as i64)
            .bind(&self.owner)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Jobs of `scope` still queued or running, and when the next queued one is due.
    pub async fn pending(&self, scope: &Scope) -> Result<Pending, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) AS n, MIN(CASE WHEN state = 'queued' THEN due_at END) - {SQL_NOW} AS due
             FROM jobs WHERE (?1 IS NULL OR run_id = ?1)
               AND (?2 = '' OR instr(?2, ',' || doc_type || ',') > 0)
               AND state IN ('queued', 'running')"
        );
        let r = sqlx::query(&sql)
            .bind(scope.run_id.as_deref())
            .bind(scope.types_csv())
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
             ORDER BY dead_at DESC, id DESC LIMIT ?",
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

    /// Put dead letters back in the queue with a fresh retry budget (all when `ids` is
    /// empty), keeping their checkpoints. Returns how many.
    pub async fn requeue_dead(&self, ids: &[i64]) -> Result<u64, StoreError> {
        let list = ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "UPDATE jobs SET state = 'queued', due_at = {SQL_NOW}, retries = 0,
               suspect = CASE WHEN crashes > 0 THEN 1 ELSE suspect END, crashes = 0, dead_at = NULL
             WHERE state IN ('dead', 'rejected', 'failed') AND (?1 = '' OR instr(',' || ?1 || ',', ',' || id || ',') > 0)"
        );
        Ok(sqlx::query(&sql)
            .bind(list)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Delete dead letters (and their checkpoints), those dead for longer than `older_than_ms`
    /// when given. Returns the removed jobs' ids, each with the document it may have partly
    /// stored: only a job that never completed a store has one (a job that did keeps the last
    /// document it stored completely).
    pub async fn purge_dead(
        &self,
        older_than_ms: Option<i64>,
    ) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let sql = format!(
            "SELECT id, CASE WHEN content_hash IS NULL THEN document_id END AS document_id
             FROM jobs WHERE state IN ('dead', 'rejected', 'failed')
               AND (?1 IS NULL OR COALESCE(dead_at, updated_at) < {SQL_NOW} - ?1)"
        );
        let rows: Vec<(i64, Option<String>)> = sqlx::query(&sql)
            .bind(older_than_ms)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.get("id"), r.get("document_id")))
            .collect();
        for (id, _) in &rows {
            sqlx::query("DELETE FROM job_payloads WHERE job_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM jobs WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows)
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

    /// Put every job this process holds back in the queue with its checkpoint (end of a run,
    /// shutdown). Returns how many.
    pub async fn release_owned(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, isolated = 0
             WHERE state = 'running' AND lease_owner = ?",
        )
        .bind(&self.owner)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// The recorded output of the job's last completed stage.
    pub async fn load_payload(&self, job_id: i64) -> Result<Option<Payload>, StoreError> {
        let row = sqlx::query("SELECT stage, data, delta FROM job_payloads WHERE job_id = ?")
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
        // Touching the lease also extends it: every checkpoint is a heartbeat.
        let sql = format!(
            "UPDATE jobs SET lease_expires_at = {SQL_NOW} + ?, updated_at = {SQL_NOW}
             WHERE id = ? AND lease_epoch = ? AND state = 'running'"
        );
        let n = sqlx::query(&sql)
            .bind(self.lease.as_millis() as i64)
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

    /// Record `stage` as done with its output, atomically, under the job's lease. An owned
    /// payload goes to the driver as it is; a borrowed one would be copied (a big act's
    /// checkpoint is megabytes).
    pub async fn checkpoint(
        &self,
        claim: &Claim,
        stage: Stage,
        payload: impl Into<Vec<u8>>,
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
             ON CONFLICT(job_id) DO UPDATE SET stage = excluded.stage, data = excluded.data,
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

    /// Record `stage` as done with only what it added to the previous stage's output, which
    /// stays the payload's `data` (see [`Payload`]). Refused unless the job's checkpoint is
    /// the stage before's, in full.
    pub async fn checkpoint_delta(
        &self,
        claim: &Claim,
        stage: Stage,
        delta: impl Into<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let base = stage.index() - 1;
        let mut tx = write_tx(&self.pool).await?;
        self.check_lease(&mut tx, claim).await?;
        let n = sqlx::query(
            "UPDATE job_payloads SET stage = ?, delta = ?
             WHERE job_id = ? AND stage = ? AND delta IS NULL",
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
        sqlx::query("UPDATE jobs SET stage_done = ? WHERE id = ?")
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
        let mut tx = write_tx(&self.pool).await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET stage_done = ?, state = 'done', document_id = ?, content_hash = ?,
               lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
               last_error_stage = NULL, last_error_class = NULL, suspect = 0, isolated = 0,
               crashes = 0, refresh = 0, etag = ?, last_modified = ?, checked_at = ?,
               withdrawn_at = NULL WHERE id = ?",
        )
        .bind(Stage::Store.index())
        .bind(document_id)
        .bind(content_hash)
        .bind(&validators.etag)
        .bind(&validators.last_modified)
        .bind(now_ms())
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

    /// A refresh found the source unchanged: the job is done again without any stage
    /// running; fresh validators (from a full 200 answer) replace the stored ones.
    pub async fn finish_unchanged(
        &self,
        claim: &Claim,
        validators: &Validators,
    ) -> Result<(), StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        self.check_lease(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE jobs SET stage_done = ?, state = 'done', refresh = 0, checked_at = ?,
               etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),
               lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
               last_error_stage = NULL, last_error_class = NULL, suspect = 0, isolated = 0,
               crashes = 0 WHERE id = ?",
        )
        .bind(Stage::Store.index())
        .bind(now_ms())
        .bind(&validators.etag)
        .bind(&validators.last_modified)
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

    /// Queue known sources of `types` for a refresh in `run_id`: done ones are revisited
    /// (conditional fetch, skipped when unchanged), dead ones tried again. `sources` limits
    /// it to those sources; withdrawn sources are not revisited. Returns how many were queued.
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
            "UPDATE jobs SET {set}, run_id = ?1, due_at = {SQL_NOW}, updated_at = {SQL_NOW}
             WHERE (state = 'dead' OR (state = 'done' AND withdrawn_at IS NULL))
               AND (?2 = '' OR instr(?2, ',' || doc_type || ',') > 0)
               AND (?3 IS NULL OR source = ?3)",
            set = revisit_set("1")
        );
        // One statement for every known source, or one per listed source.
        let each: Vec<Option<&str>> = match sources {
            None => vec![None],
            Some(list) => list.iter().map(|s| Some(s.as_str())).collect(),
        };
        let mut n = 0;
        let mut tx = write_tx(&self.pool).await?;
        for source in each {
            n += sqlx::query(&sql)
                .bind(run_id)
                .bind(scope.types_csv())
                .bind(source)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Sources listed again after they were withdrawn start over (nothing of them is stored).
    pub async fn reinstate(
        &self,
        doc_type: DocType,
        sources: &[String],
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        let mut tx = write_tx(&self.pool).await?;
        for source in sources {
            n += sqlx::query(&format!(
                "UPDATE jobs SET withdrawn_at = NULL, state = 'queued', stage_done = 0, refresh = 0,
                   content_hash = NULL, etag = NULL, last_modified = NULL, document_id = NULL,
                   retries = 0, due_at = {SQL_NOW}, updated_at = {SQL_NOW}
                 WHERE source = ? AND doc_type = ? AND withdrawn_at IS NOT NULL"
            ))
            .bind(source)
            .bind(doc_type.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Finished jobs of `doc_type` (done or dead, not yet withdrawn) whose source is not in
    /// `keep`. Jobs queued or running belong to some worker and are left alone.
    pub async fn missing(
        &self,
        doc_type: DocType,
        keep: &[String],
    ) -> Result<Vec<Missing>, StoreError> {
        let keep: std::collections::HashSet<&str> = keep.iter().map(String::as_str).collect();
        let rows = sqlx::query(
            "SELECT id, source, document_id FROM jobs WHERE doc_type = ? AND withdrawn_at IS NULL
               AND state IN ('done', 'dead') ORDER BY id",
        )
        .bind(doc_type.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Missing {
                id: r.get("id"),
                source: r.get("source"),
                document_id: r.get("document_id"),
            })
            .filter(|m| !keep.contains(m.source.as_str()))
            .collect())
    }

    /// Mark a job withdrawn (its document has been removed from the stores). Only a job
    /// still finished is marked: one a worker picked up meanwhile is left to it.
    pub async fn mark_withdrawn(&self, id: i64) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE jobs SET withdrawn_at = {SQL_NOW}, updated_at = {SQL_NOW}, state = 'done',
               dead_at = NULL, refresh = 0, content_hash = NULL, etag = NULL, last_modified = NULL
             WHERE id = ? AND state IN ('done', 'dead')"
        );
        let n = sqlx::query(&sql).bind(id).execute(&self.pool).await?;
        sqlx::query("DELETE FROM job_payloads WHERE job_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(n.rows_affected() > 0)
    }

    /// Whether a job that is done (not withdrawn) produced this document.
    pub async fn document_done_elsewhere(&self, document_id: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE document_id = ? AND state = 'done' AND withdrawn_at IS NULL",
        )
        .bind(document_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Take the lock `name` for this process, unless a live holder has it: then its holder.
    /// A holder's lease runs on the database clock; a lease that expired, or a holder on this
    /// host whose process is gone, loses the lock.
    pub async fn try_lock(&self, name: &str) -> Result<Option<LockHolder>, StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let row = sqlx::query(&format!(
            "SELECT owner, acquired_at, expires_at < {SQL_NOW} AS expired FROM locks WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = row {
            let owner: String = r.get("owner");
            let expired: i64 = r.get("expired");
            if expired == 0 && owner != self.owner && !owner_died_here(&owner, &self.owner) {
                return Ok(Some(LockHolder {
                    owner,
                    acquired_at: r.get("acquired_at"),
                }));
            }
        }
        sqlx::query(&format!(
            "INSERT INTO locks (name, owner, acquired_at, expires_at)
             VALUES (?1, ?2, {SQL_NOW}, {SQL_NOW} + ?3)
             ON CONFLICT(name) DO UPDATE SET owner = excluded.owner,
               acquired_at = excluded.acquired_at, expires_at = excluded.expires_at"
        ))
        .bind(name)
        .bind(&self.owner)
        .bind(self.lease.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Extend a lock this process holds; false if it lost it.
    pub async fn renew_lock(&self, name: &str) -> Result<bool, StoreError> {
        let sql =
            format!("UPDATE locks SET expires_at = {SQL_NOW} + ? WHERE name = ? AND owner = ?");
        let n = sqlx::query(&sql)
            .bind(self.lease.as_millis() as i64)
            .bind(name)
            .bind(&self.owner)
            .execute(&self.pool)
            .await?;
        Ok(n.rows_affected() > 0)
    }

    pub async fn unlock(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM locks WHERE name = ? AND owner = ?")
            .bind(name)
            .bind(&self.owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Record a failure: the job goes back to the queue after a delay (a retry is charged)
    /// or becomes a dead letter. Its last checkpoint is kept either way, so a retry resumes.
    pub async fn fail(
        &self,
        claim: &Claim,
        stage: Stage,
        class: ErrorClass,
        message: &str,
        after: AfterFailure,
    ) -> Result<(), StoreError> {
        let (state, delay_ms, retry) = match after {
            AfterFailure::RetryAfter(d) => ("queued", d.as_millis() as i64, 1),
            AfterFailure::Dead => ("dead", 0, 0),
        };
        let mut tx = write_tx(&self.pool).await?;
        self.check_lease(&mut tx, claim).await?;
        let sql = format!(
            "UPDATE jobs SET state = ?1, last_error = ?2, last_error_stage = ?3, last_error_class = ?4,
               lease_owner = NULL, lease_expires_at = NULL, isolated = 0,
               due_at = CASE WHEN ?1 = 'queued' THEN {SQL_NOW} + ?5 ELSE due_at END,
               retries = retries + ?6,
               dead_at = CASE WHEN ?1 = 'dead' THEN {SQL_NOW} ELSE NULL END
             WHERE id = ?7"
        );
        sqlx::query(&sql)
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
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, isolated = 0
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

pub fn host_name() -> String {
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

/// [`JobStore::checkpoint_delta`] found no full checkpoint of the stage before `stage`.
pub(crate) fn no_base_checkpoint(claim: &Claim, stage: Stage) -> StoreError {
    StoreError::Payload(format!(
        "job {}: no {} checkpoint for the {stage} output to add to",
        claim.id,
        Stage::done_name(stage.index() - 1)
    ))
}

/// A job's checkpoint: the output of its last completed stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The stage it is the output of.
    pub stage: i64,
    /// That stage's encoded output; with a `delta`, the output of the stage before.
    pub data: Vec<u8>,
    /// What `stage` added to `data`, when it was checkpointed as an addition
    /// ([`JobStore::checkpoint_delta`]).
    pub delta: Option<Vec<u8>>,
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
        // A withdrawn source listed again starts over; it then counts as queued, not done.
        self.reinstate(doc_type, sources).await?;
        both!(self, j => j.enqueue(run_id, doc_type, priority, sources).await)
    }

    pub async fn release_dead_local_leases(&self) -> Result<u64, StoreError> {
        both!(self, j => j.release_dead_local_leases().await)
    }

    pub async fn claim_next(&self, scope: &Scope) -> Result<Option<Claim>, StoreError> {
        both!(self, j => j.claim_next(scope).await)
    }

    pub async fn finish_unchanged(
        &self,
        claim: &Claim,
        validators: &Validators,
    ) -> Result<(), StoreError> {
        both!(self, j => j.finish_unchanged(claim, validators).await)
    }

    pub async fn revisit(
        &self,
        run_id: &str,
        types: &[DocType],
        sources: Option<&[String]>,
    ) -> Result<u64, StoreError> {
        both!(self, j => j.revisit(run_id, types, sources).await)
    }

    pub async fn reinstate(
        &self,
        doc_type: DocType,
        sources: &[String],
    ) -> Result<u64, StoreError> {
        both!(self, j => j.reinstate(doc_type, sources).await)
    }

    pub async fn missing(
        &self,
        doc_type: DocType,
        keep: &[String],
    ) -> Result<Vec<Missing>, StoreError> {
        both!(self, j => j.missing(doc_type, keep).await)
    }

    pub async fn mark_withdrawn(&self, id: i64) -> Result<bool, StoreError> {
        both!(self, j => j.mark_withdrawn(id).await)
    }

    pub async fn try_lock(&self, name: &str) -> Result<Option<LockHolder>, StoreError> {
        both!(self, j => j.try_lock(name).await)
    }

    pub async fn document_done_elsewhere(&self, document_id: &str) -> Result<bool, StoreError> {
        both!(self, j => j.document_done_elsewhere(document_id).await)
    }

    pub async fn renew_lock(&self, name: &str) -> Result<bool, StoreError> {
        both!(self, j => j.renew_lock(name).await)
    }

    pub async fn unlock(&self, name: &str) -> Result<(), StoreError> {
        both!(self, j => j.unlock(name).await)
    }

    pub async fn mark_isolated(&self, claim: &Claim) -> Result<(), StoreError> {
        both!(self, j => j.mark_isolated(claim).await)
    }

    pub async fn heartbeat(&self) -> Result<u64, StoreError> {
        both!(self, j => j.heartbeat().await)
    }

    pub async fn pending(&self, scope: &Scope) -> Result<Pending, StoreError> {
        both!(self, j => j.pending(scope).await)
    }

    pub async fn dead(&self, limit: i64) -> Result<Vec<DeadJob>, StoreError> {
        both!(self, j => j.dead(limit).await)
    }

    pub async fn requeue_dead(&self, ids: &[i64]) -> Result<u64, StoreError> {
        both!(self, j => j.requeue_dead(ids).await)
    }

    pub async fn purge_dead(
        &self,
        older_than_ms: Option<i64>,
    ) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        both!(self, j => j.purge_dead(older_than_ms).await)
    }

    pub async fn forget(&self, document_id: &str, source: Option<&str>) -> Result<u64, StoreError> {
        both!(self, j => j.forget(document_id, source).await)
    }

    pub async fn load_payload(&self, job_id: i64) -> Result<Option<Payload>, StoreError> {
        both!(self, j => j.load_payload(job_id).await)
    }

    pub async fn checkpoint_delta(
        &self,
        claim: &Claim,
        stage: Stage,
        delta: impl Into<Vec<u8>>,
    ) -> Result<(), StoreError> {
        both!(self, j => j.checkpoint_delta(claim, stage, delta).await)
    }

    pub async fn reset(&self, claim: &Claim) -> Result<(), StoreError> {
        both!(self, j => j.reset(claim).await)
    }

    pub async fn checkpoint(
        &self,
        claim: &Claim,
        stage: Stage,
        payload: impl Into<Vec<u8>>,
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
        validators: &Validators,
    ) -> Result<(), StoreError> {
        both!(self, j => j.finish(claim, document_id, content_hash, validators).await)
    }

    pub async fn fail(
        &self,
        claim: &Claim,
        stage: Stage,
        class: ErrorClass,
        message: &str,
        after: AfterFailure,
    ) -> Result<(), StoreError> {
        both!(self, j => j.fail(claim, stage, class, message, after).await)
    }

    pub async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        both!(self, j => j.release(claim).await)
    }

    pub async fn release_owned(&self) -> Result<u64, StoreError> {
        both!(self, j => j.release_owned().await)
    }

    pub async fn run_states(&self, run_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        both!(self, j => j.run_states(run_id).await)
    }
}
