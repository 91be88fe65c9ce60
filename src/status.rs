//! `ingest status`: documents per state and stage, chunks stored, per-stage counters, the
//! last run's throughput, the runs in progress with the jobs they hold, and the latest errors,
//! read from the stores the URLs name (the embedded ones by default). `--json` prints one
//! object whose fields are stable (`version` changes if one changes meaning).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::app::{exit, DataDir};
use crate::cli::GlobalArgs;
use crate::pipeline::record::Stage;
use crate::store::edge::EdgeVectors;
use crate::store::jobs::{JobStore, Jobs};
use crate::store::pg_jobs::PgJobStore;
use crate::store::runs::RunRecord;
use crate::store::sqlite::{graph_counts, Sqlite};
use crate::store::{RelationalStore, VectorStore};
use std::time::Duration;

/// Latest errors shown.
const LAST_ERRORS: i64 = 10;
/// Latest runs shown.
const LAST_RUNS: i64 = 5;
/// Version of the `--json` object.
pub const STATUS_VERSION: u32 = 1;

#[derive(Debug, Serialize, PartialEq)]
pub struct JobGroup {
    pub doc_type: String,
    pub state: String,
    /// Last completed stage.
    pub stage: String,
    pub count: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct StageCounter {
    pub stage: String,
    pub runs: i64,
    pub failures: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ErrorLine {
    pub at_ms: i64,
    pub source: String,
    pub stage: String,
    pub class: String,
    pub message: String,
}

/// A process holding leases (a worker, or an ingest run), from the job table.
#[derive(Debug, Serialize, PartialEq)]
pub struct LeaseHolder {
    pub owner: String,
    pub jobs: i64,
    /// Epoch ms when its earliest lease runs out (heartbeats push it forward).
    pub lease_expires_at: Option<i64>,
}

/// One document type's jobs: how many per state and per last completed stage.
#[derive(Debug, Serialize, PartialEq, Default)]
pub struct TypeJobs {
    pub total: i64,
    pub states: BTreeMap<String, i64>,
    pub stages: BTreeMap<String, i64>,
}

/// A recorded run with its throughput.
#[derive(Debug, Serialize, PartialEq)]
pub struct RunView {
    #[serde(flatten)]
    pub run: RunRecord,
    /// Documents that ended in this run: ok + rejected + failed.
    pub documents: i64,
    /// Until its end, or until now while it runs.
    pub elapsed_secs: f64,
    pub chunks_per_hour: f64,
    pub documents_per_hour: f64,
}

impl RunView {
    fn new(run: RunRecord, now_ms: i64) -> Self {
        let documents = run.documents_ok + run.documents_rejected + run.documents_failed;
        let end = run.finished_at.unwrap_or(now_ms);
        let elapsed_secs = (end - run.started_at).max(0) as f64 / 1000.0;
        let rate = |n: i64| {
            if elapsed_secs > 0.0 {
                n as f64 * 3600.0 / elapsed_secs
            } else {
                0.0
            }
        };
        RunView {
            chunks_per_hour: rate(run.chunks),
            documents_per_hour: rate(documents),
            documents,
            elapsed_secs,
            run,
        }
    }
}

/// A run still in progress (or whose process died before recording its end), with the
/// jobs its process holds.
#[derive(Debug, Serialize, PartialEq)]
pub struct Worker {
    pub run_id: String,
    pub kind: String,
    pub worker: String,
    pub started_at: i64,
    pub jobs_held: i64,
    /// Epoch ms when its earliest lease runs out.
    pub lease_expires_at: Option<i64>,
    /// Whether its process exists (known for processes on this host only).
    pub alive: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub version: u32,
    pub data_dir: String,
    pub jobs: Vec<JobGroup>,
    /// Per document type: jobs per state and per last completed stage.
    pub by_type: BTreeMap<String, TypeJobs>,
    /// The latest finished run, with its throughput.
    pub last_run: Option<RunView>,
    /// The latest runs, newest first.
    pub runs: Vec<RunView>,
    /// Runs not finished, with the jobs their process holds.
    pub workers: Vec<Worker>,
    pub documents: u64,
    pub chunks: u64,
    /// Points per model collection.
    pub vectors: BTreeMap<String, u64>,
    /// Why vector counts are missing (e.g. a running ingest holds the collection).
    pub vectors_error: Option<String>,
    pub graph_nodes: BTreeMap<String, i64>,
    pub graph_edges: BTreeMap<String, i64>,
    pub stages: Vec<StageCounter>,
    pub last_errors: Vec<ErrorLine>,
    /// Dead letters (`ingest dlq list` shows them all).
    pub dead_jobs: i64,
    pub dead: Vec<crate::store::jobs::DeadJob>,
    /// Queued jobs waiting for a retry (they failed transiently before).
    pub retrying: i64,
    /// Sources withdrawn by a refresh (gone from its list; nothing of them is stored).
    pub withdrawn: i64,
    pub lease_holders: Vec<LeaseHolder>,
}

/// Job groups, stage counters and the latest errors: the same SQL on SQLite and PostgreSQL.
macro_rules! job_tables {
    ($pool:expr) => {{
        let jobs: Vec<JobGroup> = sqlx::query(
            "SELECT doc_type, state, stage_done, COUNT(*) AS n FROM jobs
             GROUP BY doc_type, state, stage_done ORDER BY doc_type, state, stage_done",
        )
        .fetch_all($pool)
        .await?
        .into_iter()
        .map(|r| JobGroup {
            doc_type: r.get("doc_type"),
            state: r.get("state"),
            stage: Stage::done_name(r.get("stage_done")).to_string(),
            count: r.get("n"),
        })
        .collect();
        let counters: BTreeMap<String, (i64, i64)> =
            sqlx::query("SELECT stage, runs, failures FROM stage_counters")
                .fetch_all($pool)
                .await?
                .into_iter()
                .map(|r| (r.get("stage"), (r.get("runs"), r.get("failures"))))
                .collect();
        let last_errors: Vec<ErrorLine> = sqlx::query(&format!(
            "SELECT at, source, stage, class, message FROM job_errors ORDER BY id DESC LIMIT {LAST_ERRORS}"
        ))
        .fetch_all($pool)
        .await?
        .into_iter()
        .map(|r| ErrorLine {
            at_ms: r.get("at"),
            source: r.get("source"),
            stage: r.get("stage"),
            class: r.get("class"),
            message: r.get("message"),
        })
        .collect();
        let (dead_jobs, retrying, withdrawn): (i64, i64, i64) = {
            let r = sqlx::query(
                "SELECT COUNT(CASE WHEN state IN ('dead', 'rejected', 'failed') THEN 1 END) AS dead,
                        COUNT(CASE WHEN state = 'queued' AND retries > 0 THEN 1 END) AS retrying,
                        COUNT(withdrawn_at) AS withdrawn
                 FROM jobs",
            )
            .fetch_one($pool)
            .await?;
            (r.get("dead"), r.get("retrying"), r.get("withdrawn"))
        };
        let holders: Vec<LeaseHolder> = sqlx::query(
            "SELECT lease_owner, COUNT(*) AS n, MIN(lease_expires_at) AS expires FROM jobs
             WHERE state = 'running' AND lease_owner IS NOT NULL
             GROUP BY lease_owner ORDER BY lease_owner",
        )
        .fetch_all($pool)
        .await?
        .into_iter()
        .map(|r| LeaseHolder {
            owner: r.get("lease_owner"),
            jobs: r.get("n"),
            lease_expires_at: r.get("expires"),
        })
        .collect();
        (jobs, counters, last_errors, (dead_jobs, retrying, withdrawn, holders))
    }};
}

pub async fn collect(g: &GlobalArgs) -> anyhow::Result<Status> {
    let data = DataDir::new(&g.data_dir);
    let postgres_url = g
        .relational_url
        .clone()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
    if postgres_url.is_none() && !data.database().is_file() {
        anyhow::bail!(
            "no ingest data in {} (run `ingest --type norm LIST` first, or pass --data-dir)",
            data.root.display()
        );
    }
    // The relational store and the job tables: PostgreSQL when its URL is given.
    let (jobs, counters, last_errors, queue, dead, documents, chunks, db, runs) =
        match &postgres_url {
            Some(url) => {
                let pg = crate::store::postgres::Postgres::connect(url).await?;
                let (j, c, e, q) = job_tables!(pg.pool());
                let (d, n) = (pg.count_documents().await?, pg.count_chunks().await?);
                let store = Jobs::Postgres(PgJobStore::new(pg.pool().clone(), Duration::ZERO));
                let dead = store.dead(LAST_ERRORS).await?;
                let runs = read_runs(&store).await?;
                pg.close().await;
                let db = if data.database().is_file() {
                    Some(Sqlite::try_open(&data.database()).await?)
                } else {
                    None
                };
                (j, c, e, q, dead, d, n, db, runs)
            }
            None => {
                let db = Sqlite::try_open(&data.database()).await?;
                let (j, c, e, q) = job_tables!(db.pool());
                let (d, n) = (db.count_documents().await?, db.count_chunks().await?);
                let store = Jobs::Sqlite(JobStore::new(db.pool().clone(), Duration::ZERO));
                let dead = store.dead(LAST_ERRORS).await?;
                let runs = read_runs(&store).await?;
                (j, c, e, q, dead, d, n, Some(db), runs)
            }
        };
    let (recent, open) = runs;
    let now = crate::store::sqlite::now_ms();
    let by_type = by_type(&jobs);
    let (dead_jobs, retrying, withdrawn, lease_holders) = queue;
    let workers = open
        .into_iter()
        .map(|r| {
            let held = lease_holders.iter().find(|h| h.owner == r.worker);
            Worker {
                alive: process_alive(&r.worker),
                jobs_held: held.map(|h| h.jobs).unwrap_or(0),
                lease_expires_at: held.and_then(|h| h.lease_expires_at),
                run_id: r.run_id,
                kind: r.kind,
                worker: r.worker,
                started_at: r.started_at,
            }
        })
        .collect();
    let last_run = recent
        .iter()
        .find(|r| r.finished_at.is_some())
        .cloned()
        .map(|r| RunView::new(r, now));
    let runs = recent.into_iter().map(|r| RunView::new(r, now)).collect();
    let stages = Stage::ALL
        .iter()
        .map(|s| {
            let (runs, failures) = counters.get(s.as_str()).copied().unwrap_or((0, 0));
            StageCounter {
                stage: s.as_str().to_string(),
                runs,
                failures,
            }
        })
        .collect();
    let vector_store: std::sync::Arc<dyn VectorStore> = match g
        .vector_url
        .as_deref()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
    {
        Some(url) => {
            let key = std::env::var("INGEST_QDRANT_API_KEY")
                .ok()
                .filter(|k| !k.is_empty());
            std::sync::Arc::new(
                crate::store::qdrant::QdrantVectors::connect(url, key)
                    .await
                    .map_err(anyhow::Error::msg)?,
            )
        }
        None => std::sync::Arc::new(std::sync::Arc::new(EdgeVectors::new(&data.vectors()))),
    };
    // Every collection, not only the model the chunks currently point at.
    let models = vector_store.models().await?;
    let mut vectors = BTreeMap::new();
    let mut vectors_error = None;
    for m in models {
        match vector_store.count(&m).await {
            Ok(n) => {
                vectors.insert(m, n);
            }
            // The embedded vector store admits one process at a time: while an ingest runs,
            // status still reports everything else.
            Err(e) => vectors_error = Some(format!("{m}: {e}")),
        }
    }
    let (nodes, edges) = match g.graph_url.as_deref().filter(|u| *u != "sqlite") {
        Some(url) => {
            let (address, user, password, database) =
                crate::store::neo4j::parse_graph_url(url).map_err(anyhow::Error::msg)?;
            let graph = crate::store::neo4j::Neo4jGraph::connect(
                &address,
                &user,
                &password,
                database.as_deref(),
            )
            .await
            .map_err(anyhow::Error::msg)?;
            graph.counts().await.map_err(anyhow::Error::msg)?
        }
        None => match &db {
            Some(db) => graph_counts(db.pool()).await?,
            None => (Vec::new(), Vec::new()),
        },
    };
    let status = Status {
        version: STATUS_VERSION,
        data_dir: data.root.display().to_string(),
        jobs,
        by_type,
        last_run,
        runs,
        workers,
        documents,
        chunks,
        vectors,
        vectors_error,
        graph_nodes: nodes.into_iter().collect(),
        graph_edges: edges.into_iter().collect(),
        stages,
        last_errors,
        dead_jobs,
        dead,
        retrying,
        withdrawn,
        lease_holders,
    };
    if let Some(db) = db {
        db.close().await;
    }
    Ok(status)
}

/// The latest runs and the unfinished ones.
async fn read_runs(jobs: &Jobs) -> anyhow::Result<(Vec<RunRecord>, Vec<RunRecord>)> {
    Ok((jobs.runs(LAST_RUNS).await?, jobs.open_runs().await?))
}

/// Job groups summed per type: per state and per last completed stage.
pub fn by_type(jobs: &[JobGroup]) -> BTreeMap<String, TypeJobs> {
    let mut out: BTreeMap<String, TypeJobs> = BTreeMap::new();
    for j in jobs {
        let t = out.entry(j.doc_type.clone()).or_default();
        t.total += j.count;
        *t.states.entry(j.state.clone()).or_default() += j.count;
        *t.stages.entry(j.stage.clone()).or_default() += j.count;
    }
    out
}

/// Whether the process named by a lease owner (`host-pid-nonce`) exists; unknown (None) for
/// another host.
fn process_alive(owner: &str) -> Option<bool> {
    let mut parts = owner.rsplitn(3, '-');
    let (_nonce, pid, host) = (parts.next()?, parts.next()?, parts.next()?);
    if host != crate::store::jobs::host_name() {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
}

fn run_line(r: &RunView) -> String {
    let state = match (&r.run.outcome, r.run.finished_at) {
        (Some(o), Some(_)) => o.clone(),
        _ => "running".to_string(),
    };
    format!(
        "{} ({}, {}): {} documents ({} ok, {} rejected, {} failed, {} retries) | chunks: {} | elapsed: {:.1}s | {:.0} chunks/hour",
        r.run.run_id,
        r.run.kind,
        state,
        r.documents,
        r.run.documents_ok,
        r.run.documents_rejected,
        r.run.documents_failed,
        r.run.documents_retried,
        r.run.chunks,
        r.elapsed_secs,
        r.chunks_per_hour
    )
}

pub async fn print(g: &GlobalArgs, json: bool) -> anyhow::Result<u8> {
    let s = collect(g).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(exit::OK);
    }
    println!("data dir: {}", s.data_dir);
    println!("documents by type, state and last completed stage:");
    if s.jobs.is_empty() {
        println!("  (none)");
    }
    for j in &s.jobs {
        println!(
            "  {:<14} {:<9} {:<7} {}",
            j.doc_type, j.state, j.stage, j.count
        );
    }
    println!("documents stored: {}", s.documents);
    println!("chunks stored: {}", s.chunks);
    for (m, n) in &s.vectors {
        println!("vectors [{m}]: {n}");
    }
    if let Some(e) = &s.vectors_error {
        println!("vectors: unavailable ({e}; is an ingest running?)");
    }
    let join = |m: &BTreeMap<String, i64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("graph nodes: {}", join(&s.graph_nodes));
    println!("graph edges: {}", join(&s.graph_edges));
    println!("stage runs:");
    for c in &s.stages {
        println!("  {:<7} {} runs, {} failed", c.stage, c.runs, c.failures);
    }
    if s.retrying > 0 {
        println!("waiting for a retry: {}", s.retrying);
    }
    if !s.lease_holders.is_empty() {
        println!("processes holding jobs:");
        for h in &s.lease_holders {
            println!("  {} ({} jobs)", h.owner, h.jobs);
        }
    }
    if let Some(r) = &s.last_run {
        println!("last run: {}", run_line(r));
    }
    if !s.workers.is_empty() {
        println!("runs in progress:");
        for w in &s.workers {
            let alive = match w.alive {
                Some(true) => "alive",
                Some(false) => "process gone",
                None => "on another host",
            };
            println!(
                "  {} ({}) by {}: {} jobs held, {alive}",
                w.run_id, w.kind, w.worker, w.jobs_held
            );
        }
    }
    println!(
        "dead jobs: {} (ingest dlq list | requeue | purge)",
        s.dead_jobs
    );
    if s.withdrawn > 0 {
        println!(
            "withdrawn sources: {} (gone from a refresh list; listed again, they come back)",
            s.withdrawn
        );
    }
    for d in &s.dead {
        println!(
            "  #{} {}: {} stage ({}): {}",
            d.id,
            d.source,
            d.stage.as_deref().unwrap_or("-"),
            d.class.as_deref().unwrap_or("-"),
            d.error.as_deref().unwrap_or("")
        );
    }
    if !s.last_errors.is_empty() {
        println!("latest errors:");
        for e in &s.last_errors {
            println!(
                "  {}: {} stage ({}): {}",
                e.source, e.stage, e.class, e.message
            );
        }
    }
    Ok(exit::OK)
}

/// Peak resident set size of this process, from /proc (Linux).
pub fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
