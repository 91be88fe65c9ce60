//! Turns a parsed command line into work: opens the stores, loads the model, runs the
//! pipeline or reports status, and maps the outcome to an exit code.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::sync::watch;
use tracing::Instrument;

use crate::chunk::Chunker;
use crate::cli::{
    Cli, Command, DlqCommand, EnqueueArgs, GlobalArgs, IngestArgs, MetricsArgs, RefreshArgs,
    WorkerArgs,
};
use crate::config::PipelineConfig;
use crate::fetch::{Fetcher, Source};
use crate::logging;
use crate::pipeline::progress::Progress;
use crate::pipeline::record::DocType;
use crate::pipeline::retry::RetryPolicy;
use crate::pipeline::runner::{self, Fault, RunReport, RunnerConfig, Services, TypeServices};
use crate::status;
use crate::store::edge::EdgeVectors;
use crate::store::jobs::{JobStore, Jobs, Scope};
use crate::store::sqlite::Sqlite;
use crate::store::{GraphStore, RelationalStore, VectorStore};

mod bench;
mod cpu;

/// Process exit codes.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FATAL: u8 = 1;
    pub const SOME_FAILED: u8 = 2;
    pub const INTERRUPTED: u8 = 130;
}

/// How long a lease lasts (`--lease-secs`); held leases are renewed every quarter of it.
fn lease(g: &GlobalArgs) -> Duration {
    Duration::from_secs(g.lease_secs)
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Some(Command::Status { json }) => status::print(&cli.global, json).await,
        Some(Command::Models) => {
            print_models(&models_dir(&cli.global));
            Ok(exit::OK)
        }
        Some(Command::Reembed { model, json }) => reembed(&cli.global, &model, json).await,
        Some(Command::Delete { target }) => delete(&cli.global, &target).await,
        Some(Command::Verify { json }) => verify(&cli.global, json).await,
        Some(Command::Search {
            query,
            limit,
            model,
            json,
        }) => search(&cli.global, &query, limit as usize, model, json).await,
        Some(Command::Enqueue(a)) => enqueue(&cli.global, &a).await,
        Some(Command::Worker(a)) => worker(&cli.global, &a).await,
        Some(Command::Dlq { command }) => dlq(&cli.global, command).await,
        Some(Command::Refresh(a)) => refresh(&cli.global, &a).await,
        Some(Command::Cleanup { older_than }) => cleanup(&cli.global, &older_than).await,
        Some(Command::Bench(a)) => bench::run(&cli.global, &a).await,
        None => ingest(&cli.global, &cli.ingest).await,
    }
}

/// The graph store a URL names: the embedded SQLite graph, or a Bolt server (constraints
/// created if missing).
async fn open_graph(url: &str, db: &Sqlite) -> anyhow::Result<Arc<dyn GraphStore>> {
    if url == "sqlite" {
        return Ok(Arc::new(db.clone()));
    }
    let (address, user, password, database) =
        crate::store::neo4j::parse_graph_url(url).map_err(anyhow::Error::msg)?;
    let graph =
        crate::store::neo4j::Neo4jGraph::connect(&address, &user, &password, database.as_deref())
            .await
            .map_err(anyhow::Error::msg)?;
    graph
        .prepare()
        .await
        .map_err(|e| anyhow::anyhow!("graph {}: {e}", crate::store::neo4j::redact(url)))?;
    Ok(Arc::new(graph))
}

/// The stores a run writes to, chosen by URL; the embedded SQLite database is always open
/// (it holds whatever is not on a server).
struct Opened {
    sqlite: Sqlite,
    postgres: Option<crate::store::postgres::Postgres>,
    relational: Arc<dyn RelationalStore>,
    graph: Arc<dyn GraphStore>,
    vectors: Arc<dyn VectorStore>,
    jobs: Jobs,
}

impl Opened {
    /// What the runner needs: these stores, one model, and each served type's pipeline.
    fn services(
        &self,
        configs: &[(DocType, PipelineConfig)],
        embedder: Arc<dyn crate::embed::Embedder>,
    ) -> anyhow::Result<Services> {
        let mut types = std::collections::HashMap::new();
        for (t, c) in configs {
            types.insert(*t, type_services(c, embedder.as_ref())?);
        }
        Ok(Services {
            jobs: self.jobs.clone(),
            relational: self.relational.clone(),
            graph: self.graph.clone(),
            vectors: self.vectors.clone(),
            types,
            embedder,
        })
    }

    /// Remove a document from every store (every model's collection included); false when
    /// the relational store had none.
    async fn erase(&self, document_id: &str) -> Result<bool, crate::store::StoreError> {
        for model in self.vectors.models().await? {
            self.vectors.delete_document(&model, document_id).await?;
        }
        self.graph.delete_document(document_id).await?;
        self.relational.delete_document(document_id).await
    }

    async fn close(&self) {
        self.sqlite.close().await;
        if let Some(pg) = &self.postgres {
            pg.close().await;
        }
    }

    /// The model a stored document's vectors come from.
    async fn document_model(&self, id: &str) -> anyhow::Result<Option<String>> {
        Ok(match &self.postgres {
            Some(pg) => {
                sqlx::query_scalar("SELECT model_id FROM documents WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pg.pool())
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT model_id FROM documents WHERE id = ?")
                    .bind(id)
                    .fetch_optional(self.sqlite.pool())
                    .await?
            }
        })
    }

    /// A stored chunk's text.
    async fn chunk_text(&self, id: &str) -> anyhow::Result<Option<String>> {
        Ok(match &self.postgres {
            Some(pg) => {
                sqlx::query_scalar("SELECT text FROM chunks WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pg.pool())
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT text FROM chunks WHERE id = ?")
                    .bind(id)
                    .fetch_optional(self.sqlite.pool())
                    .await?
            }
        })
    }

    /// The source a stored document was ingested from.
    async fn document_source(&self, id: &str) -> anyhow::Result<Option<String>> {
        Ok(match &self.postgres {
            Some(pg) => {
                sqlx::query_scalar("SELECT source FROM documents WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pg.pool())
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT source FROM documents WHERE id = ?")
                    .bind(id)
                    .fetch_optional(self.sqlite.pool())
                    .await?
            }
        })
    }
}

/// Open the stores: flag or environment first, then the pipeline's `[store]`, then embedded.
async fn open_stores(
    g: &GlobalArgs,
    data: &DataDir,
    config: Option<&PipelineConfig>,
) -> anyhow::Result<Opened> {
    let pick = |flag: &Option<String>, from_config: Option<String>, default: &str| {
        flag.clone()
            .or(from_config)
            .unwrap_or_else(|| default.to_string())
    };
    let relational_url = pick(
        &g.relational_url,
        config.map(|c| c.store.relational.clone()),
        "sqlite",
    );
    let vector_url = pick(
        &g.vector_url,
        config.map(|c| c.store.vector.clone()),
        "qdrant-edge",
    );
    let persons = config.is_some_and(|c| c.enrich.persons_in_payload);
    // Take the embedded vector collection first: when another process holds it, nothing is
    // touched.
    let vectors: Arc<dyn VectorStore> = if vector_url == "qdrant-edge" {
        Arc::new(Arc::new(
            EdgeVectors::new(&data.vectors()).with_persons_in_payload(persons),
        ))
    } else if vector_url.starts_with("http://") || vector_url.starts_with("https://") {
        let key = std::env::var("INGEST_QDRANT_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        Arc::new(
            crate::store::qdrant::QdrantVectors::connect(&vector_url, key)
                .await
                .map_err(anyhow::Error::msg)?
                .with_persons_in_payload(persons),
        )
    } else {
        bail!("vector store {vector_url:?}: expected \"qdrant-edge\" or a Qdrant gRPC URL (http://HOST:6334)");
    };
    let sqlite = Sqlite::try_open(&data.database()).await?;
    let (relational, postgres, jobs): (Arc<dyn RelationalStore>, _, Jobs) =
        if relational_url == "sqlite" {
            (
                Arc::new(sqlite.clone()),
                None,
                Jobs::Sqlite(JobStore::new(sqlite.pool().clone(), lease(g))),
            )
        } else if relational_url.starts_with("postgres://")
            || relational_url.starts_with("postgresql://")
        {
            let pg = crate::store::postgres::Postgres::connect(&relational_url).await?;
            let jobs = Jobs::Postgres(crate::store::pg_jobs::PgJobStore::new(
                pg.pool().clone(),
                lease(g),
            ));
            (Arc::new(pg.clone()), Some(pg), jobs)
        } else {
            bail!("relational store {relational_url:?}: expected \"sqlite\" or a postgres:// URL");
        };
    let graph = open_graph(&graph_url(g, config), &sqlite).await?;
    Ok(Opened {
        sqlite,
        postgres,
        relational,
        graph,
        vectors,
        jobs,
    })
}

/// The graph URL in force: flag or environment, else the pipeline's, else embedded.
fn graph_url(g: &GlobalArgs, config: Option<&PipelineConfig>) -> String {
    g.graph_url
        .clone()
        .or_else(|| config.map(|c| c.store.graph.clone()))
        .unwrap_or_else(|| "sqlite".to_string())
}

/// `ingest delete TARGET`: the document from every store, and its checkpoints.
async fn delete(g: &GlobalArgs, target: &str) -> anyhow::Result<u8> {
    let data = DataDir::new(&g.data_dir);
    let _lock = data.lock()?;
    let st = open_stores(g, &data, None).await?;
    // A source is stored as listed (absolute path or URL); accept a relative path too.
    let as_path = std::fs::canonicalize(target)
        .ok()
        .map(|p| p.display().to_string());
    let mut found = st.relational.find_document(target).await?;
    if found.is_none() {
        if let Some(p) = &as_path {
            found = st.relational.find_document(p).await?;
        }
    }
    let Some(id) = found else {
        let forgotten = st.jobs.forget(target, as_path.as_deref()).await?;
        st.close().await;
        if forgotten > 0 {
            println!("{target}: no stored document; {forgotten} job(s) forgotten");
            return Ok(exit::OK);
        }
        bail!("{target}: no such document id or source");
    };
    let source = st.document_source(&id).await?;
    st.erase(&id).await?;
    let forgotten = st.jobs.forget(&id, source.as_deref()).await?;
    st.close().await;
    println!(
        "deleted {id} (source {}); {forgotten} job(s) forgotten",
        source.unwrap_or_default()
    );
    Ok(exit::OK)
}

/// One document's chunk ids disagree between stores.
#[derive(Debug, serde::Serialize)]
struct Drift {
    document_id: String,
    model_id: Option<String>,
    relational: usize,
    vectors: usize,
    graph: usize,
    /// Chunk ids present in some store and missing from another, at most ten.
    examples: Vec<String>,
}

/// `ingest verify`: per document, chunk ids in rows, vectors (its model's collection) and graph.
async fn verify(g: &GlobalArgs, json: bool) -> anyhow::Result<u8> {
    let data = DataDir::new(&g.data_dir);
    let _lock = data.lock()?;
    let st = open_stores(g, &data, None).await?;
    let mut ids: std::collections::BTreeSet<String> =
        st.relational.document_ids().await?.into_iter().collect();
    ids.extend(st.graph.document_ids().await?);
    let models = st.vectors.models().await?;
    for m in &models {
        ids.extend(st.vectors.document_ids(m).await?);
    }
    let mut drifts = Vec::new();
    for id in &ids {
        let model = st.document_model(id).await?;
        let mut rel = st.relational.chunk_ids(id).await?;
        rel.sort();
        let graph = st.graph.document_chunk_ids(id).await?;
        // The document's points in its own model's collection; without a row, in any.
        let mut vec_ids = Vec::new();
        for m in models
            .iter()
            .filter(|m| model.as_deref().is_none_or(|x| x == m.as_str()))
        {
            vec_ids.extend(st.vectors.document_chunk_ids(m, id).await?);
        }
        vec_ids.sort();
        if rel != vec_ids || rel != graph {
            let all: std::collections::BTreeSet<&String> =
                rel.iter().chain(&vec_ids).chain(&graph).collect();
            let examples = all
                .into_iter()
                .filter(|c| !(rel.contains(c) && vec_ids.contains(c) && graph.contains(c)))
                .take(10)
                .cloned()
                .collect();
            drifts.push(Drift {
                document_id: id.clone(),
                model_id: model,
                relational: rel.len(),
                vectors: vec_ids.len(),
                graph: graph.len(),
                examples,
            });
        }
    }
    st.close().await;
    if json {
        println!(
            "{}",
            serde_json::json!({ "documents": ids.len(), "drift": drifts })
        );
    } else {
        for d in &drifts {
            println!(
                "drift: {}: relational {} chunks, vectors {} ({}), graph {}; e.g. {}",
                d.document_id,
                d.relational,
                d.vectors,
                d.model_id.as_deref().unwrap_or("any model"),
                d.graph,
                d.examples.join(", ")
            );
        }
        println!(
            "verified {} documents: {}",
            ids.len(),
            if drifts.is_empty() {
                "stores agree".to_string()
            } else {
                format!("{} with drift", drifts.len())
            }
        );
    }
    Ok(if drifts.is_empty() {
        exit::OK
    } else {
        exit::SOME_FAILED
    })
}

pub fn models_dir(g: &GlobalArgs) -> PathBuf {
    g.models_dir
        .clone()
        .unwrap_or_else(crate::embed::default_models_dir)
}

#[derive(Debug, Serialize)]
struct ReembedSummary {
    model: String,
    documents: u64,
    chunks: u64,
    /// Chunks longer than the model reads whole (the model truncates them).
    chunks_over_limit: u64,
    elapsed_secs: f64,
    chunks_per_hour: f64,
}

async fn reembed(g: &GlobalArgs, model: &str, json: bool) -> anyhow::Result<u8> {
    let data = DataDir::new(&g.data_dir);
    if !data.database().is_file() {
        bail!(
            "no ingest data in {} (ingest something first, or pass --data-dir)",
            data.root.display()
        );
    }
    crate::embed::model_spec(model)?;
    let _lock = data.lock()?;
    let started = std::time::Instant::now();
    let embedder = {
        let (id, dir) = (model.to_string(), models_dir(g));
        tokio::task::spawn_blocking(move || crate::embed::load(&id, &dir))
            .await
            .context("model loading crashed")??
    };
    let embed_cfg = PipelineConfig::bundled(DocType::Norm)?.embed;
    let db = Sqlite::try_open(&data.database()).await?;
    let vectors: Arc<dyn VectorStore> = Arc::new(Arc::new(EdgeVectors::new(&data.vectors())));
    let mut summary = ReembedSummary {
        model: model.to_string(),
        documents: 0,
        chunks: 0,
        chunks_over_limit: 0,
        elapsed_secs: 0.0,
        chunks_per_hour: 0.0,
    };
    // One document at a time: memory stays flat, and a crash leaves every finished document
    // on the new model (its vectors are durable before its rows say so).
    for id in db.documents_not_on_model(model).await? {
        let Some((info, chunks)) = db.load_document(&id).await? else {
            continue;
        };
        let e = embedder.clone();
        let texts: Vec<String> = chunks.iter().map(|c| c.embed_text.clone()).collect();
        let (batch_size, budget) = (embed_cfg.batch_size, embed_cfg.batch_max_tokens);
        let (vecs, tokens) = tokio::task::spawn_blocking(move || {
            let tokens: Vec<u32> = texts.iter().map(|t| e.count_tokens(t) as u32).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            crate::embed::embed_in_batches(e.as_ref(), &refs, &tokens, batch_size, budget)
                .map(|v| (v, tokens))
        })
        .await
        .context("embedding crashed")??;
        summary.chunks_over_limit += tokens
            .iter()
            .filter(|t| **t as usize > embedder.max_tokens())
            .count() as u64;
        let counts: Vec<(String, u32)> = chunks.iter().map(|c| c.id.clone()).zip(tokens).collect();
        // The payload carries concepts and entities: keep them on the new model too.
        let notes = db.load_annotations(&id).await?;
        let doc = Arc::new(crate::pipeline::record::EnrichedDocument {
            info,
            chunks,
            model_id: model.to_string(),
            vectors: vecs,
            references: notes.references,
            entities: notes.entities,
            concepts: notes.concepts,
        });
        vectors.upsert_document(&doc, embedder.dimension()).await?;
        db.set_model(&id, model, &counts).await?;
        summary.documents += 1;
        summary.chunks += doc.chunks.len() as u64;
    }
    db.close().await;
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    summary.chunks_per_hour = if summary.elapsed_secs > 0.0 {
        summary.chunks as f64 * 3600.0 / summary.elapsed_secs
    } else {
        0.0
    };
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "re-embedded with {}: {} documents, {} chunks ({} longer than the model reads whole) | elapsed: {:.1}s | {:.0} chunks/hour",
            summary.model, summary.documents, summary.chunks, summary.chunks_over_limit, summary.elapsed_secs, summary.chunks_per_hour
        );
    }
    Ok(exit::OK)
}

#[derive(Debug, Serialize)]
struct SearchResult {
    rank: usize,
    score: f32,
    chunk_id: String,
    document_id: String,
    eid: Option<String>,
    num: Option<String>,
    heading: Option<String>,
    text: Option<String>,
}

async fn search(
    g: &GlobalArgs,
    query: &str,
    limit: usize,
    model: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    let data = DataDir::new(&g.data_dir);
    if !data.database().is_file() && g.relational_url.is_none() {
        bail!(
            "no ingest data in {} (ingest something first, or pass --data-dir)",
            data.root.display()
        );
    }
    let model = match model {
        Some(m) => m,
        None => PipelineConfig::bundled(DocType::Norm)?.embed.model,
    };
    let embedder = {
        let (id, dir) = (model.clone(), models_dir(g));
        tokio::task::spawn_blocking(move || crate::embed::load(&id, &dir))
            .await
            .context("model loading crashed")??
    };
    let text = query.to_string();
    let vector = {
        let e = embedder.clone();
        tokio::task::spawn_blocking(move || e.embed(&[text.as_str()]))
            .await
            .context("embedding crashed")??
            .pop()
            .context("the model returned no vector")?
    };
    let st = open_stores(g, &data, None).await?;
    let hits = st.vectors.search(&model, vector, limit).await?;
    let mut results = Vec::with_capacity(hits.len());
    for (i, h) in hits.into_iter().enumerate() {
        let text = st.chunk_text(&h.chunk_id).await?;
        let field = |k: &str| h.payload[k].as_str().map(str::to_string);
        results.push(SearchResult {
            rank: i + 1,
            score: h.score,
            eid: field("eid"),
            num: field("num"),
            heading: field("heading"),
            chunk_id: h.chunk_id,
            document_id: h.document_id,
            text,
        });
    }
    st.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            let snippet: String = r.text.as_deref().unwrap_or("").chars().take(160).collect();
            println!(
                "{}. {:.3} {} {} {}\n   {}",
                r.rank,
                r.score,
                r.document_id,
                r.num.as_deref().unwrap_or(r.eid.as_deref().unwrap_or("")),
                r.heading
                    .as_deref()
                    .map(|h| format!("({h})"))
                    .unwrap_or_default(),
                snippet.replace('\n', " ")
            );
        }
    }
    Ok(exit::OK)
}

fn print_models(dir: &Path) {
    for m in crate::embed::MODELS {
        let state = match crate::embed::check_model_files(m, dir) {
            Ok(_) => "installed".to_string(),
            Err(e) => format!("missing ({e})"),
        };
        println!(
            "{}\t{} dims\t{} tokens\t{}",
            m.id, m.dimension, m.max_tokens, state
        );
    }
}

/// Paths of the embedded stores inside the data dir.
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("ingest.db")
    }
    pub fn vectors(&self) -> PathBuf {
        self.root.join("vectors")
    }

    /// Take the data dir for this process (commands that write: ingest, reembed). The embedded
    /// stores admit one writer process; the lock is released when the returned file closes.
    pub fn lock(&self) -> anyhow::Result<std::fs::File> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create data dir {}", self.root.display()))?;
        let path = self.root.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "data dir {} is in use by another process (one ingest or reembed at a time: wait for it to finish)",
                self.root.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

/// Read a list: one source per line, blank lines and `#` comments skipped. Relative paths
/// are relative to the list's directory. Unusable lines are reported and skipped.
pub fn read_list(path: &Path) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open list {}", path.display()))?;
    let base = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    let mut sources = Vec::new();
    let mut bad = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read list {}", path.display()))?;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match Source::resolve(t, base) {
            Ok(s) => {
                let key = s.key();
                if seen.insert(key.clone()) {
                    sources.push(key);
                }
            }
            Err(e) => bad.push(format!("rejected: {}:{}: {t}: {e}", path.display(), n + 1)),
        }
    }
    Ok((sources, bad))
}

#[derive(Debug, Serialize)]
struct Summary {
    run_id: String,
    documents_ok: u64,
    documents_rejected: u64,
    documents_failed: u64,
    documents_skipped_done: u64,
    /// Documents of this list still queued or running when the run ended (none unless it was
    /// interrupted or stopped by a fatal error).
    documents_unfinished: u64,
    chunks: u64,
    elapsed_secs: f64,
    chunks_per_hour: f64,
    peak_rss_kb: Option<u64>,
    interrupted: bool,
    fatal: Option<String>,
}

/// Parser options from the pipeline: risky parsers run in a child process of this binary.
fn parse_options(p: &crate::config::ParseConfig) -> anyhow::Result<crate::parse::ParseOptions> {
    let isolation = if p.isolate {
        let exe =
            std::env::current_exe().context("cannot locate this program for child parsers")?;
        Some(crate::parse::isolate::Isolation {
            exe,
            deadline: Duration::from_secs(p.deadline_secs),
            max_memory: p.max_memory_mb * 1024 * 1024,
        })
    } else {
        None
    };
    Ok(crate::parse::ParseOptions {
        isolation,
        ocr: crate::parse::ocr::OcrConfig {
            languages: p.ocr_languages.clone(),
            dpi: p.ocr_dpi,
            ..Default::default()
        },
    })
}

/// A type's pipeline: `file` or the bundled one, with `model` overriding its model.
fn load_pipeline(
    doc_type: DocType,
    file: Option<&Path>,
    model: Option<&str>,
) -> anyhow::Result<PipelineConfig> {
    let mut config = match file {
        Some(p) => PipelineConfig::load(p)?,
        None => PipelineConfig::bundled(doc_type)?,
    };
    if config.doc_type().map_err(anyhow::Error::msg)? != doc_type {
        bail!(
            "pipeline file is for type {}, but --type is {doc_type}",
            config.doc_type
        );
    }
    if let Some(m) = model {
        config.embed.model = m.to_string();
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("--model {m}: {e}"))?;
    }
    Ok(config)
}

async fn load_embedder(
    g: &GlobalArgs,
    model: &str,
) -> anyhow::Result<Arc<dyn crate::embed::Embedder>> {
    let id = model.to_string();
    let dir = models_dir(g);
    tokio::task::spawn_blocking(move || crate::embed::load(&id, &dir))
        .await
        .context("model loading crashed")?
        .map_err(Into::into)
}

/// What one type's pipeline file asks of the stages.
fn type_services(
    config: &PipelineConfig,
    embedder: &dyn crate::embed::Embedder,
) -> anyhow::Result<Arc<TypeServices>> {
    let max_tokens = if config.chunk.max_tokens == 0 {
        embedder.max_tokens()
    } else {
        config.chunk.max_tokens.min(embedder.max_tokens())
    };
    let fetcher = Fetcher::try_new(
        config.parse.max_bytes,
        Duration::from_secs(config.parse.http_timeout_secs),
        config.parse.fetch_attempts,
    )
    .context("cannot build the HTTP client")?;
    Ok(Arc::new(TypeServices {
        fetcher,
        chunker: Chunker::from_config(&config.chunk, &config.embed.model, max_tokens),
        parse: parse_options(&config.parse)?,
        enricher: crate::enrich::Enricher::from_config(&config.enrich)
            .map_err(anyhow::Error::msg)?,
        retry: RetryPolicy::from_config(&config.retry),
        soft_limit: Duration::from_secs(config.limits.soft_secs),
    }))
}

fn runner_config(
    g: &GlobalArgs,
    config: &PipelineConfig,
    concurrency: u16,
    scope: Scope,
    until_empty: bool,
    poll: Duration,
    grace: Duration,
) -> RunnerConfig {
    RunnerConfig {
        concurrency: concurrency as usize,
        max_in_flight: crate::pipeline::runner::in_flight_limit(concurrency as usize),
        batch_size: config.embed.batch_size,
        batch_max_tokens: config.embed.batch_max_tokens,
        batch_max_age: Duration::from_millis(config.embed.batch_max_age_ms),
        store_backoff: Duration::from_millis(200),
        fault: Fault::from_env(),
        scope,
        until_empty,
        poll,
        heartbeat: lease(g) / 4,
        grace,
    }
}

/// What a run that claims jobs needs before it starts: the data dir locked, the stores open,
/// the model's collection ready, and jobs of dead local processes handed back.
async fn open_for_work(
    g: &GlobalArgs,
    config: &PipelineConfig,
    embedder: &dyn crate::embed::Embedder,
) -> anyhow::Result<(std::fs::File, Opened)> {
    let data = DataDir::new(&g.data_dir);
    let lock = data.lock()?;
    let st = open_stores(g, &data, Some(config)).await?;
    st.vectors
        .prepare(embedder.model_id(), embedder.dimension())
        .await?;
    let released = st.jobs.release_dead_local_leases().await?;
    if released > 0 {
        tracing::info!(released, "resuming jobs left by a process that died");
    }
    Ok((lock, st))
}

async fn ingest(g: &GlobalArgs, a: &IngestArgs) -> anyhow::Result<u8> {
    let Some(type_name) = a.doc_type.as_deref() else {
        bail!("missing --type (norm, jurisprudence or doctrine); see `ingest --help`");
    };
    let doc_type: DocType = type_name.parse().map_err(anyhow::Error::msg)?;
    let Some(list) = a.list.as_deref() else {
        bail!("missing LIST: a text file with one source per line");
    };
    let config = load_pipeline(doc_type, a.pipeline.as_deref(), a.model.as_deref())?;
    let (sources, bad_lines) = read_list(list)?;
    for b in &bad_lines {
        logging::warn_line(b);
    }
    let embedder = load_embedder(g, &config.embed.model).await?;

    let (_lock, st) = open_for_work(g, &config, embedder.as_ref()).await?;
    let jobs = st.jobs.clone();
    let run_id = new_run_id("");
    let stats = jobs
        .enqueue(
            &run_id,
            doc_type,
            config.queue.priority_for(doc_type),
            &sources,
        )
        .await?;

    let services = st.services(&[(doc_type, config.clone())], embedder)?;
    // The shortcut works on its own list until every source is done or dead, waiting out
    // retry delays.
    let runner_cfg = runner_config(
        g,
        &config,
        a.concurrency,
        Scope {
            run_id: Some(run_id.clone()),
            types: vec![doc_type],
        },
        true,
        Duration::from_secs(1),
        Duration::from_secs(a.grace_secs),
    );
    let progress = Progress::new(!a.no_progress);
    progress.set_total(stats.added + stats.requeued + stats.pending + stats.already_done);
    for _ in 0..stats.already_done {
        progress.skip_through(5);
    }

    let watch = RunWatch::start(&jobs, &run_id, "ingest", &a.metrics).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let signals = tokio::spawn(watch_signals(shutdown_tx, progress.clone()));
    let report = runner::run(services, runner_cfg, progress, shutdown_rx)
        .instrument(watch.span.clone())
        .await;
    signals.abort();
    let watched = watch.end(&jobs, &report, &a.metrics).await;
    let unfinished: u64 = jobs
        .run_states(&run_id)
        .await?
        .into_iter()
        .filter(|(state, _)| state == "queued" || state == "running")
        .map(|(_, n)| n as u64)
        .sum();
    st.close().await;
    watched?;

    let code = report_outcome(
        &run_id,
        &report,
        &stats,
        bad_lines.len() as u64,
        unfinished,
        a.json,
    );
    Ok(code)
}

/// The job table alone (enqueue, dead letters): no model, no vector store, no data-dir lock,
/// so it works while a worker runs.
async fn open_jobs(
    g: &GlobalArgs,
    config: Option<&PipelineConfig>,
) -> anyhow::Result<(Jobs, Option<Sqlite>)> {
    let url = g
        .relational_url
        .clone()
        .or_else(|| config.map(|c| c.store.relational.clone()))
        .unwrap_or_else(|| "sqlite".to_string());
    if url == "sqlite" {
        let data = DataDir::new(&g.data_dir);
        std::fs::create_dir_all(&g.data_dir)
            .with_context(|| format!("cannot create data dir {}", g.data_dir.display()))?;
        let db = Sqlite::try_open(&data.database()).await?;
        Ok((
            Jobs::Sqlite(JobStore::new(db.pool().clone(), lease(g))),
            Some(db),
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pg = crate::store::postgres::Postgres::connect(&url).await?;
        Ok((
            Jobs::Postgres(crate::store::pg_jobs::PgJobStore::new(
                pg.pool().clone(),
                lease(g),
            )),
            None,
        ))
    } else {
        bail!("relational store {url:?}: expected \"sqlite\" or a postgres:// URL");
    }
}

async fn enqueue(g: &GlobalArgs, a: &EnqueueArgs) -> anyhow::Result<u8> {
    let doc_type: DocType = a.doc_type.parse().map_err(anyhow::Error::msg)?;
    let config = load_pipeline(doc_type, a.pipeline.as_deref(), None)?;
    let (sources, bad_lines) = read_list(&a.list)?;
    for b in &bad_lines {
        logging::warn_line(b);
    }
    let (jobs, _db) = open_jobs(g, Some(&config)).await?;
    let run_id = new_run_id("enqueue-");
    let priority = a
        .priority
        .unwrap_or_else(|| config.queue.priority_for(doc_type));
    let stats = jobs.enqueue(&run_id, doc_type, priority, &sources).await?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "added": stats.added,
                "requeued": stats.requeued,
                "already_queued": stats.pending,
                "already_done": stats.already_done,
                "rejected_lines": bad_lines.len(),
                "priority": priority,
            })
        );
    } else {
        println!(
            "enqueued {} new, {} dead requeued; {} already queued or running, {} already done (priority {priority})",
            stats.added, stats.requeued, stats.pending, stats.already_done
        );
    }
    Ok(if bad_lines.is_empty() {
        exit::OK
    } else {
        exit::SOME_FAILED
    })
}

#[derive(Debug, Serialize)]
struct WorkerSummary {
    worker: String,
    documents_ok: u64,
    documents_rejected: u64,
    documents_failed: u64,
    retries_scheduled: u64,
    chunks: u64,
    elapsed_secs: f64,
    chunks_per_hour: f64,
    peak_rss_kb: Option<u64>,
    interrupted: bool,
    fatal: Option<String>,
}

/// Types served, each with its pipeline, and the model they share.
type TypeConfigs = (Vec<DocType>, Vec<(DocType, PipelineConfig)>, String);

/// The pipelines of the types a worker or a refresh serves (default: every type), from
/// `--pipeline` files or the bundled ones, and the one model they share.
fn type_configs(
    type_names: &[String],
    pipelines: &[PathBuf],
    model: Option<&str>,
) -> anyhow::Result<TypeConfigs> {
    let mut types: Vec<DocType> = type_names
        .iter()
        .map(|t| t.parse().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let mut files: Vec<(DocType, PathBuf)> = Vec::new();
    for f in pipelines {
        let c = PipelineConfig::load(f)?;
        files.push((c.doc_type().map_err(anyhow::Error::msg)?, f.clone()));
    }
    if types.is_empty() {
        types = vec![DocType::Norm, DocType::Jurisprudence, DocType::Doctrine];
    }
    types.sort_by_key(|t| t.as_str());
    types.dedup();
    let mut configs = Vec::new();
    for t in &types {
        let file = files
            .iter()
            .find(|(ft, _)| ft == t)
            .map(|(_, f)| f.as_path());
        configs.push((*t, load_pipeline(*t, file, model)?));
    }
    let model = configs[0].1.embed.model.clone();
    if let Some((t, c)) = configs.iter().find(|(_, c)| c.embed.model != model) {
        bail!(
            "the {t} pipeline embeds with {} but the {} pipeline with {model}: one worker serves one model (pass --model, or run one worker per model with --type)",
            c.embed.model,
            configs[0].0
        );
    }
    Ok((types, configs, model))
}

async fn worker(g: &GlobalArgs, a: &WorkerArgs) -> anyhow::Result<u8> {
    let (types, configs, model) = type_configs(&a.types, &a.pipeline, a.model.as_deref())?;
    let embedder = load_embedder(g, &model).await?;
    let first = &configs[0].1;
    let (_lock, st) = open_for_work(g, first, embedder.as_ref()).await?;
    let jobs = st.jobs.clone();
    let services = st.services(&configs, embedder)?;
    let runner_cfg = runner_config(
        g,
        first,
        a.concurrency,
        Scope {
            run_id: None,
            types: types.clone(),
        },
        a.until_empty,
        Duration::from_millis(a.poll_ms.max(10)),
        Duration::from_secs(a.grace_secs),
    );
    let progress = Progress::new(!a.no_progress);
    let run_id = new_run_id("worker-");
    let watch = RunWatch::start(&jobs, &run_id, "worker", &a.metrics).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let signals = tokio::spawn(watch_signals(shutdown_tx, progress.clone()));
    let report = runner::run(services, runner_cfg, progress, shutdown_rx)
        .instrument(watch.span.clone())
        .await;
    signals.abort();
    let span = watch.span.clone();
    let watched = watch.end(&jobs, &report, &a.metrics).await;
    st.close().await;
    watched?;
    let secs = report.elapsed.as_secs_f64();
    let summary = WorkerSummary {
        worker: jobs.owner().to_string(),
        documents_ok: report.ok,
        documents_rejected: report.rejected,
        documents_failed: report.failed,
        retries_scheduled: report.retried,
        chunks: report.chunks,
        elapsed_secs: secs,
        chunks_per_hour: per_hour(report.chunks, secs),
        peak_rss_kb: status::peak_rss_kb(),
        interrupted: report.interrupted,
        fatal: report.fatal.clone(),
    };
    let line = format!(
        "worker {}: {} ok, {} rejected, {} dead after retries, {} retries scheduled | chunks: {} | elapsed: {:.1}s",
        summary.worker,
        summary.documents_ok,
        summary.documents_rejected,
        summary.documents_failed,
        summary.retries_scheduled,
        summary.chunks,
        secs
    );
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    if logging::json() {
        span.in_scope(|| {
            tracing::info!(
                target: logging::REPORT_TARGET,
                documents_ok = summary.documents_ok,
                documents_rejected = summary.documents_rejected,
                documents_failed = summary.documents_failed,
                retries_scheduled = summary.retries_scheduled,
                chunks = summary.chunks,
                elapsed_secs = secs,
                chunks_per_hour = summary.chunks_per_hour,
                "{line}"
            )
        });
    } else if !a.json {
        println!("{line}");
    }
    if let Some(f) = &report.fatal {
        span.in_scope(|| logging::error_line(&format!("error: {f}")));
        return Ok(exit::FATAL);
    }
    // A worker stopped by a signal has done what it was asked: its jobs are back in the queue.
    Ok(exit::OK)
}

/// A count over `secs` seconds as a rate per hour (0 for an empty interval).
fn per_hour(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 * 3600.0 / secs
    } else {
        0.0
    }
}

/// `30m`, `24h`, `7d`, `90s` (or plain seconds) as milliseconds.
pub fn parse_age(s: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("{s:?}: expected a duration like 30m, 24h or 7d"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{s:?}: unknown unit {unit:?} (use s, m, h or d)"),
    };
    n.checked_mul(secs * 1000)
        .ok_or_else(|| anyhow::anyhow!("{s:?}: too long"))
}

async fn dlq(g: &GlobalArgs, command: DlqCommand) -> anyhow::Result<u8> {
    let (jobs, _db) = open_jobs(g, None).await?;
    match command {
        DlqCommand::List { limit, json } => {
            let dead = jobs.dead(limit.max(1)).await?;
            if json {
                println!("{}", serde_json::to_string(&dead)?);
            } else if dead.is_empty() {
                println!("no dead jobs");
            } else {
                for d in &dead {
                    println!(
                        "{}\t{}\t{}\t{} stage\t{}\tretries {}\t{}",
                        d.id,
                        d.doc_type,
                        d.source,
                        d.stage.as_deref().unwrap_or("-"),
                        d.class.as_deref().unwrap_or("-"),
                        d.retries,
                        d.error.as_deref().unwrap_or("")
                    );
                }
            }
        }
        DlqCommand::Requeue { ids, all } => {
            if ids.is_empty() && !all {
                bail!("dlq requeue: give job ids (see `ingest dlq list`) or --all");
            }
            let n = jobs.requeue_dead(&ids).await?;
            println!("requeued {n} dead job(s); a worker (or the same ingest command) runs them from their last checkpoint");
            if !ids.is_empty() && (n as usize) < ids.len() {
                eprintln!(
                    "{} of the given ids are not dead jobs",
                    ids.len() - n as usize
                );
                return Ok(exit::SOME_FAILED);
            }
        }
        DlqCommand::Purge { older_than } => {
            let age = older_than.as_deref().map(parse_age).transpose()?;
            let gone = jobs.purge_dead(age).await?;
            println!("purged {} dead job(s) and their checkpoints", gone.len());
        }
    }
    Ok(exit::OK)
}

fn report_outcome(
    run_id: &str,
    r: &RunReport,
    stats: &crate::store::jobs::EnqueueStats,
    bad_lines: u64,
    unfinished: u64,
    json: bool,
) -> u8 {
    let secs = r.elapsed.as_secs_f64();
    let summary = Summary {
        run_id: run_id.to_string(),
        documents_ok: r.ok,
        documents_rejected: r.rejected + bad_lines,
        documents_failed: r.failed,
        documents_skipped_done: stats.already_done,
        documents_unfinished: unfinished,
        chunks: r.chunks,
        elapsed_secs: secs,
        chunks_per_hour: per_hour(r.chunks, secs),
        peak_rss_kb: status::peak_rss_kb(),
        interrupted: r.interrupted,
        fatal: r.fatal.clone(),
    };
    let line = format!(
        "documents: {} ok, {} rejected, {} failed, {} already done | chunks: {} | elapsed: {:.1}s | {:.0} chunks/hour",
        summary.documents_ok,
        summary.documents_rejected,
        summary.documents_failed,
        summary.documents_skipped_done,
        summary.chunks,
        summary.elapsed_secs,
        summary.chunks_per_hour
    );
    if json {
        println!(
            "{}",
            serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into())
        );
    }
    // In JSON log mode the summary is an event on stderr (stdout keeps `--json`'s object).
    let span = tracing::info_span!("run", run_id, kind = "ingest");
    let _in = span.enter();
    if logging::json() {
        tracing::info!(
            target: logging::REPORT_TARGET,
            documents_ok = summary.documents_ok,
            documents_rejected = summary.documents_rejected,
            documents_failed = summary.documents_failed,
            documents_skipped_done = summary.documents_skipped_done,
            documents_unfinished = summary.documents_unfinished,
            chunks = summary.chunks,
            elapsed_secs = summary.elapsed_secs,
            chunks_per_hour = summary.chunks_per_hour,
            "{line}"
        );
    } else if !json {
        println!("{line}");
    }
    if let Some(f) = &r.fatal {
        logging::error_line(&format!("error: {f}"));
        logging::error_line("every completed stage is checkpointed; fix the cause and run the same command again to resume");
        return exit::FATAL;
    }
    if r.interrupted {
        logging::warn_line("interrupted: unfinished documents keep their checkpoints; run the same command again to resume");
        return exit::INTERRUPTED;
    }
    if unfinished > 0 {
        logging::warn_line(&format!(
            "{unfinished} documents of this list were not processed; run the same command again to finish them"
        ));
        return exit::SOME_FAILED;
    }
    if summary.documents_rejected > 0 || summary.documents_failed > 0 {
        return exit::SOME_FAILED;
    }
    exit::OK
}

/// What watches a run: its row in the `runs` table, its span (carrying the run id), and the
/// metrics endpoint while it lasts.
struct RunWatch {
    run_id: String,
    span: tracing::Span,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl RunWatch {
    async fn start(
        jobs: &Jobs,
        run_id: &str,
        kind: &str,
        m: &MetricsArgs,
    ) -> anyhow::Result<RunWatch> {
        let span = tracing::info_span!("run", run_id, kind);
        // Listen first: a bad address stops the command before the run is recorded.
        let server = match &m.metrics_addr {
            Some(addr) => {
                let (local, task) = crate::metrics::serve(addr, jobs.clone()).await?;
                span.in_scope(|| {
                    logging::info_line(&format!("metrics: serving http://{local}/metrics"))
                });
                Some(task)
            }
            None => None,
        };
        jobs.start_run(run_id, kind)
            .await
            .context("cannot record the run in the runs table")?;
        span.in_scope(|| tracing::info!(kind, "run started"));
        Ok(RunWatch {
            run_id: run_id.to_string(),
            span,
            server,
        })
    }

    /// Record the run's end and totals, write the metrics file, stop the endpoint.
    async fn end(self, jobs: &Jobs, r: &RunReport, m: &MetricsArgs) -> anyhow::Result<()> {
        let totals = crate::store::runs::RunTotals {
            ok: r.ok,
            rejected: r.rejected,
            failed: r.failed,
            retried: r.retried,
            chunks: r.chunks,
            interrupted: r.interrupted,
            fatal: r.fatal.clone(),
        };
        let span = self.span.clone();
        async move {
            if let Err(e) = jobs.finish_run(&self.run_id, &totals).await {
                logging::warn_line(&format!(
                    "run {}: cannot record its end in the runs table: {e}",
                    self.run_id
                ));
            }
            tracing::info!(outcome = totals.outcome(), "run finished");
            if let Some(task) = self.server {
                task.abort();
            }
            if let Some(path) = &m.metrics_file {
                crate::metrics::write_file(path, jobs).await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// First Ctrl-C / SIGTERM: stop taking new documents and drain; second: exit at once
/// (every completed stage is already durable).
async fn watch_signals(tx: watch::Sender<bool>, progress: Progress) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            return;
        }
    };
    let mut seen = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        seen += 1;
        if seen == 1 {
            progress.println("stopping: finishing documents in flight (signal again to exit now)");
            tx.send_replace(true);
        } else {
            progress.println("exiting now; run the same command again to resume");
            std::process::exit(exit::INTERRUPTED as i32);
        }
    }
}

/// The database lock a refresh holds for its whole run.
const REFRESH_LOCK: &str = "refresh";

#[derive(Debug, Serialize)]
struct RefreshSummary {
    run_id: String,
    revisited: u64,
    added: u64,
    unchanged: u64,
    reingested: u64,
    withdrawn: Vec<String>,
    documents_rejected: u64,
    documents_failed: u64,
    documents_unfinished: u64,
    chunks: u64,
    elapsed_secs: f64,
    interrupted: bool,
    fatal: Option<String>,
}

async fn refresh(g: &GlobalArgs, a: &RefreshArgs) -> anyhow::Result<u8> {
    let (types, configs, model) = type_configs(&a.types, &a.pipeline, a.model.as_deref())?;
    let listed = match &a.list {
        Some(list) => {
            let [t] = types.as_slice() else {
                bail!("refresh with a LIST needs exactly one --type: the type of its sources");
            };
            let (sources, bad) = read_list(list)?;
            for b in &bad {
                logging::error_line(b);
            }
            Some((*t, sources, bad.len() as u64))
        }
        None => None,
    };
    // One refresh at a time: the lock lives in the database, so it holds across machines
    // sharing PostgreSQL; a second trigger (cron fired twice) is a no-op.
    let (locks, _db) = open_jobs(g, Some(&configs[0].1)).await?;
    if let Some(h) = locks.try_lock(REFRESH_LOCK).await? {
        logging::info_line(&format!(
            "refresh: another refresh holds the lock ({}, taken {}s ago); nothing to do",
            h.owner,
            (crate::store::sqlite::now_ms() - h.acquired_at).max(0) / 1000
        ));
        return Ok(exit::OK);
    }
    let renew_locks = locks.clone();
    let renew_every = lease(g) / 4;
    let renewer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(renew_every.max(Duration::from_millis(50))).await;
            match renew_locks.renew_lock(REFRESH_LOCK).await {
                Ok(true) => {}
                Ok(false) => tracing::error!("the refresh lock was taken over"),
                Err(e) => tracing::warn!("cannot renew the refresh lock (will try again): {e}"),
            }
        }
    });
    let result = refresh_locked(g, a, &types, &configs, &model, listed).await;
    renewer.abort();
    if let Err(e) = locks.unlock(REFRESH_LOCK).await {
        logging::error_line(&format!(
            "refresh: cannot release the lock (it expires on its own): {e}"
        ));
    }
    result
}

async fn refresh_locked(
    g: &GlobalArgs,
    a: &RefreshArgs,
    types: &[DocType],
    configs: &[(DocType, PipelineConfig)],
    model: &str,
    listed: Option<(DocType, Vec<String>, u64)>,
) -> anyhow::Result<u8> {
    let embedder = load_embedder(g, model).await?;
    let first = &configs[0].1;
    let (_lock, st) = open_for_work(g, first, embedder.as_ref()).await?;
    let jobs = st.jobs.clone();
    let run_id = new_run_id("refresh-");
    let mut added = 0;
    let mut withdrawn = Vec::new();
    let mut bad_lines = 0;
    let revisited = match &listed {
        Some((t, sources, bad)) => {
            bad_lines = *bad;
            let priority = first.queue.priority_for(*t);
            let stats = jobs.enqueue(&run_id, *t, priority, sources).await?;
            added = stats.added;
            // Known sources gone from the list leave every store; the job remembers when.
            for m in jobs.missing(*t, sources).await? {
                if let Some(id) = &m.document_id {
                    st.erase(id).await?;
                }
                if jobs.mark_withdrawn(m.id).await? {
                    logging::info_line(&format!(
                        "withdrawn: {} ({})",
                        m.source,
                        m.document_id.as_deref().unwrap_or("nothing stored")
                    ));
                    withdrawn.push(m.source);
                }
            }
            jobs.revisit(&run_id, &[*t], Some(sources)).await?
        }
        None => jobs.revisit(&run_id, types, None).await?,
    };
    let services = st.services(configs, embedder)?;
    let runner_cfg = runner_config(
        g,
        first,
        a.concurrency,
        Scope {
            run_id: Some(run_id.clone()),
            types: types.to_vec(),
        },
        true,
        Duration::from_secs(1),
        Duration::from_secs(a.grace_secs),
    );
    let progress = Progress::new(!a.no_progress);
    progress.set_total(revisited + added);
    let watch = RunWatch::start(&jobs, &run_id, "refresh", &a.metrics).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let signals = tokio::spawn(watch_signals(shutdown_tx, progress.clone()));
    let report = runner::run(services, runner_cfg, progress, shutdown_rx)
        .instrument(watch.span.clone())
        .await;
    signals.abort();
    let span = watch.span.clone();
    let watched = watch.end(&jobs, &report, &a.metrics).await;
    let unfinished: u64 = jobs
        .run_states(&run_id)
        .await?
        .into_iter()
        .filter(|(state, _)| state == "queued" || state == "running")
        .map(|(_, n)| n as u64)
        .sum();
    st.close().await;
    watched?;
    let summary = RefreshSummary {
        run_id,
        revisited,
        added,
        unchanged: report.unchanged,
        reingested: report.ok,
        withdrawn,
        documents_rejected: report.rejected + bad_lines,
        documents_failed: report.failed,
        documents_unfinished: unfinished,
        chunks: report.chunks,
        elapsed_secs: report.elapsed.as_secs_f64(),
        interrupted: report.interrupted,
        fatal: report.fatal.clone(),
    };
    let line = format!(
        "refresh: {} revisited, {} new | {} unchanged, {} ingested, {} withdrawn, {} rejected, {} failed | chunks: {} | elapsed: {:.1}s",
        summary.revisited,
        summary.added,
        summary.unchanged,
        summary.reingested,
        summary.withdrawn.len(),
        summary.documents_rejected,
        summary.documents_failed,
        summary.chunks,
        summary.elapsed_secs
    );
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    if logging::json() {
        span.in_scope(|| {
            tracing::info!(
                target: logging::REPORT_TARGET,
                revisited = summary.revisited,
                added = summary.added,
                unchanged = summary.unchanged,
                reingested = summary.reingested,
                withdrawn = summary.withdrawn.len(),
                chunks = summary.chunks,
                elapsed_secs = summary.elapsed_secs,
                "{line}"
            )
        });
    } else if !a.json {
        println!("{line}");
    }
    if let Some(f) = &report.fatal {
        span.in_scope(|| logging::error_line(&format!("error: {f}")));
        return Ok(exit::FATAL);
    }
    if report.interrupted {
        span.in_scope(|| {
            logging::error_line("interrupted: the next refresh resumes the unfinished documents")
        });
        return Ok(exit::INTERRUPTED);
    }
    if unfinished > 0 || summary.documents_rejected > 0 || summary.documents_failed > 0 {
        return Ok(exit::SOME_FAILED);
    }
    Ok(exit::OK)
}

/// Dead jobs older than `older_than` go, with their checkpoints and any document they had
/// partly stored (unless another job finished that document).
async fn cleanup(g: &GlobalArgs, older_than: &str) -> anyhow::Result<u8> {
    let age = parse_age(older_than)?;
    let data = DataDir::new(&g.data_dir);
    let _lock = data.lock()?;
    let st = open_stores(g, &data, None).await?;
    let gone = st.jobs.purge_dead(Some(age)).await?;
    let mut erased = 0;
    for (_, document_id) in &gone {
        let Some(id) = document_id else { continue };
        if st.jobs.document_done_elsewhere(id).await? {
            continue;
        }
        // Whatever reached any store goes (a store stage can die between stores).
        st.erase(id).await?;
        erased += 1;
    }
    st.close().await;
    println!(
        "cleanup: removed {} dead job(s) older than {older_than} with their checkpoints, and the partial outputs of {erased} document(s)",
        gone.len()
    );
    Ok(exit::OK)
}

/// A run's id: `PREFIX<ms since the epoch>-<pid>`, unique per process start.
pub(crate) fn new_run_id(prefix: &str) -> String {
    format!(
        "{prefix}{}-{}",
        crate::store::sqlite::now_ms(),
        std::process::id()
    )
}
