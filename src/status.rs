//! `ingest status`: documents per state and stage, chunks stored, per-stage counters and the
//! latest errors, read from the embedded stores.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::app::{exit, DataDir};
use crate::cli::GlobalArgs;
use crate::pipeline::record::Stage;
use crate::store::edge::EdgeVectors;
use crate::store::sqlite::{graph_counts, Sqlite};
use crate::store::{RelationalStore, VectorStore};

/// Latest errors shown.
const LAST_ERRORS: i64 = 10;

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

#[derive(Debug, Serialize)]
pub struct Status {
    pub data_dir: String,
    pub jobs: Vec<JobGroup>,
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
}

pub async fn collect(g: &GlobalArgs) -> anyhow::Result<Status> {
    let data = DataDir::new(&g.data_dir);
    if !data.database().is_file() {
        anyhow::bail!(
            "no ingest data in {} (run `ingest --type norm LIST` first, or pass --data-dir)",
            data.root.display()
        );
    }
    let db = Sqlite::try_open(&data.database()).await?;
    let pool = db.pool();
    let jobs = sqlx::query(
        "SELECT doc_type, state, stage_done, COUNT(*) AS n FROM jobs
         GROUP BY doc_type, state, stage_done ORDER BY doc_type, state, stage_done",
    )
    .fetch_all(pool)
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
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get("stage"), (r.get("runs"), r.get("failures"))))
            .collect();
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
    let last_errors = sqlx::query(
        "SELECT at, source, stage, class, message FROM job_errors ORDER BY id DESC LIMIT ?",
    )
    .bind(LAST_ERRORS)
    .fetch_all(pool)
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
    let edge = std::sync::Arc::new(EdgeVectors::new(&data.vectors()));
    // Every collection on disk, not only the model the chunks currently point at.
    let models = edge.models().await?;
    let mut vectors = BTreeMap::new();
    let mut vectors_error = None;
    for m in models {
        match edge.count(&m).await {
            Ok(n) => {
                vectors.insert(m, n);
            }
            // The embedded vector store admits one process at a time: while an ingest runs,
            // status still reports everything else.
            Err(e) => vectors_error = Some(format!("{m}: {e}")),
        }
    }
    let (nodes, edges) = graph_counts(pool).await?;
    let status = Status {
        data_dir: data.root.display().to_string(),
        jobs,
        documents: db.count_documents().await?,
        chunks: db.count_chunks().await?,
        vectors,
        vectors_error,
        graph_nodes: nodes.into_iter().collect(),
        graph_edges: edges.into_iter().collect(),
        stages,
        last_errors,
    };
    db.close().await;
    Ok(status)
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
