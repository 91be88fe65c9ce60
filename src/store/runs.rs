//! Runs of the commands that claim jobs (the `runs` table), and queue depth per type and
//! state: what `ingest status` and the metrics read. The same API on the SQLite and the
//! PostgreSQL job stores (and on [`Jobs`], which delegates).

use serde::Serialize;
use sqlx::Row;

use super::jobs::{JobStore, Jobs};
use super::pg_jobs::PgJobStore;
use super::sqlite::now_ms;
use super::StoreError;

/// One run, as recorded: started when the command starts working, completed when it ends.
/// `finished_at` stays empty while it runs (or if its process died).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    /// `ingest` (the `--type T LIST` shortcut) or `worker`.
    pub kind: String,
    /// The process, `host-pid-nonce` (the owner of the leases it holds).
    pub worker: String,
    /// Epoch milliseconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub documents_ok: i64,
    pub documents_rejected: i64,
    pub documents_failed: i64,
    pub documents_retried: i64,
    pub chunks: i64,
    /// `ok`, `interrupted` or `fatal`; empty while running.
    pub outcome: Option<String>,
    pub fatal: Option<String>,
}

/// What a run did, written when it ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTotals {
    pub ok: u64,
    pub rejected: u64,
    pub failed: u64,
    pub retried: u64,
    pub chunks: u64,
    pub interrupted: bool,
    pub fatal: Option<String>,
}

impl RunTotals {
    pub fn outcome(&self) -> &'static str {
        if self.fatal.is_some() {
            "fatal"
        } else if self.interrupted {
            "interrupted"
        } else {
            "ok"
        }
    }
}

/// Jobs of one type in one state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Depth {
    pub doc_type: String,
    pub state: String,
    pub count: i64,
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn record(r: &impl RowGet) -> RunRecord {
    RunRecord {
        run_id: r.text("run_id"),
        kind: r.text("kind"),
        worker: r.text("worker"),
        started_at: r.int("started_at"),
        finished_at: r.opt_int("finished_at"),
        documents_ok: r.int("documents_ok"),
        documents_rejected: r.int("documents_rejected"),
        documents_failed: r.int("documents_failed"),
        documents_retried: r.int("documents_retried"),
        chunks: r.int("chunks"),
        outcome: r.opt_text("outcome"),
        fatal: r.opt_text("fatal"),
    }
}

/// Column access shared by SQLite and PostgreSQL rows.
trait RowGet {
    fn text(&self, c: &str) -> String;
    fn opt_text(&self, c: &str) -> Option<String>;
    fn int(&self, c: &str) -> i64;
    fn opt_int(&self, c: &str) -> Option<i64>;
}

macro_rules! row_get {
    ($t:ty) => {
        impl RowGet for $t {
            fn text(&self, c: &str) -> String {
                self.get(c)
            }
            fn opt_text(&self, c: &str) -> Option<String> {
                self.get(c)
            }
            fn int(&self, c: &str) -> i64 {
                self.get(c)
            }
            fn opt_int(&self, c: &str) -> Option<i64> {
                self.get(c)
            }
        }
    };
}
row_get!(sqlx::sqlite::SqliteRow);
row_get!(sqlx::postgres::PgRow);

const RUN_COLUMNS: &str = "run_id, kind, worker, started_at, finished_at, documents_ok, \
    documents_rejected, documents_failed, documents_retried, chunks, outcome, fatal";

/// The reads of runs and queue depth, the same SQL on both job stores but for the LIMIT
/// placeholder (`?` in SQLite, `$1` in PostgreSQL).
macro_rules! run_reads {
    ($limit:literal) => {
        /// The latest runs, newest first.
        pub async fn runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
            let rows = sqlx::query(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, run_id DESC LIMIT {}",
                $limit
            ))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
            Ok(rows.iter().map(record).collect())
        }

        /// Runs not finished (running, or their process died), newest first.
        pub async fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
            let rows = sqlx::query(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE finished_at IS NULL ORDER BY started_at DESC, run_id DESC"
            ))
            .fetch_all(self.pool())
            .await?;
            Ok(rows.iter().map(record).collect())
        }

        /// Jobs per type and state.
        pub async fn queue_depth(&self) -> Result<Vec<Depth>, StoreError> {
            let rows = sqlx::query(
                "SELECT doc_type, state, COUNT(*) AS n FROM jobs GROUP BY doc_type, state
                 ORDER BY doc_type, state",
            )
            .fetch_all(self.pool())
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| Depth {
                    doc_type: r.get("doc_type"),
                    state: r.get("state"),
                    count: r.get("n"),
                })
                .collect())
        }
    };
}

impl JobStore {
    /// Record that run `run_id` of `kind` starts now, in this process.
    pub async fn start_run(&self, run_id: &str, kind: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runs (run_id, kind, worker, started_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(run_id) DO UPDATE SET started_at = excluded.started_at, finished_at = NULL",
        )
        .bind(run_id)
        .bind(kind)
        .bind(self.owner())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Record that run `run_id` ended now, with what it did.
    pub async fn finish_run(&self, run_id: &str, t: &RunTotals) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET finished_at = ?, documents_ok = ?, documents_rejected = ?,
               documents_failed = ?, documents_retried = ?, chunks = ?, outcome = ?, fatal = ?
             WHERE run_id = ?",
        )
        .bind(now_ms())
        .bind(as_i64(t.ok))
        .bind(as_i64(t.rejected))
        .bind(as_i64(t.failed))
        .bind(as_i64(t.retried))
        .bind(as_i64(t.chunks))
        .bind(t.outcome())
        .bind(t.fatal.as_deref())
        .bind(run_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    run_reads!("?");
}

impl PgJobStore {
    /// Record that run `run_id` of `kind` starts now (server clock), in this process.
    pub async fn start_run(&self, run_id: &str, kind: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runs (run_id, kind, worker, started_at) VALUES ($1, $2, $3, ingest_now_ms())
             ON CONFLICT (run_id) DO UPDATE SET started_at = EXCLUDED.started_at, finished_at = NULL",
        )
        .bind(run_id)
        .bind(kind)
        .bind(self.owner())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Record that run `run_id` ended now, with what it did.
    pub async fn finish_run(&self, run_id: &str, t: &RunTotals) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET finished_at = ingest_now_ms(), documents_ok = $1,
               documents_rejected = $2, documents_failed = $3, documents_retried = $4,
               chunks = $5, outcome = $6, fatal = $7
             WHERE run_id = $8",
        )
        .bind(as_i64(t.ok))
        .bind(as_i64(t.rejected))
        .bind(as_i64(t.failed))
        .bind(as_i64(t.retried))
        .bind(as_i64(t.chunks))
        .bind(t.outcome())
        .bind(t.fatal.as_deref())
        .bind(run_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    run_reads!("$1");
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
    pub async fn start_run(&self, run_id: &str, kind: &str) -> Result<(), StoreError> {
        both!(self, j => j.start_run(run_id, kind).await)
    }

    pub async fn finish_run(&self, run_id: &str, totals: &RunTotals) -> Result<(), StoreError> {
        both!(self, j => j.finish_run(run_id, totals).await)
    }

    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        both!(self, j => j.runs(limit).await)
    }

    pub async fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        both!(self, j => j.open_runs().await)
    }

    pub async fn queue_depth(&self) -> Result<Vec<Depth>, StoreError> {
        both!(self, j => j.queue_depth().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_run_is_recorded_at_start_and_completed_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::sqlite::Sqlite::try_open(&dir.path().join("t.db"))
            .await
            .unwrap();
        let jobs = Jobs::Sqlite(JobStore::new(db.pool().clone(), Duration::from_secs(60)));
        jobs.start_run("r1", "ingest").await.unwrap();
        let open = jobs.open_runs().await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].worker, jobs.owner());
        assert_eq!((open[0].finished_at, open[0].outcome.clone()), (None, None));
        let t = RunTotals {
            ok: 3,
            rejected: 1,
            retried: 2,
            chunks: 40,
            ..Default::default()
        };
        jobs.finish_run("r1", &t).await.unwrap();
        assert!(jobs.open_runs().await.unwrap().is_empty());
        let r = &jobs.runs(5).await.unwrap()[0];
        assert_eq!(
            (
                r.documents_ok,
                r.documents_rejected,
                r.documents_retried,
                r.chunks
            ),
            (3, 1, 2, 40)
        );
        assert_eq!(r.outcome.as_deref(), Some("ok"));
        assert!(r.finished_at.unwrap() >= r.started_at);
        jobs.enqueue(
            "r1",
            crate::pipeline::record::DocType::Norm,
            1,
            &["a".into(), "b".into()],
        )
        .await
        .unwrap();
        assert_eq!(
            jobs.queue_depth().await.unwrap(),
            vec![Depth {
                doc_type: "norm".into(),
                state: "queued".into(),
                count: 2
            }]
        );
        db.close().await;
    }
}
