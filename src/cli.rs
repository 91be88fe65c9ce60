//! Command line: clap types only. `app` turns them into a run.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ingest",
    version,
    about = "Turn public Italian legal documents into search-ready knowledge",
    long_about = "Turn public Italian legal documents into search-ready knowledge.\n\n\
        `ingest --type norm LIST` ingests every source in LIST (one path, file:// or http(s):// URL \
        per line; blank lines and # comments ignored). Re-running resumes unfinished documents at \
        the stage they stopped and skips finished ones.\n\n\
        Exit codes: 0 all inputs ingested, 2 some inputs rejected or failed (the rest ingested), \
        1 fatal error, 130 interrupted (run again to resume).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub ingest: IngestArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Where the embedded stores and checkpoints live.
    #[arg(
        long,
        global = true,
        env = "INGEST_DATA_DIR",
        default_value = "ingest-data"
    )]
    pub data_dir: PathBuf,

    /// Where `make models` installed the model files (default: ~/.cache/ingest/models).
    #[arg(long, global = true, env = "INGEST_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,

    /// Relational store (documents, chunks, citations and the job checkpoints): `sqlite`
    /// (embedded, in the data dir) or `postgres://USER:PASSWORD@HOST:PORT/DB`. Overrides the
    /// pipeline's `[store] relational`.
    #[arg(long, global = true, env = "INGEST_RELATIONAL_URL")]
    pub relational_url: Option<String>,

    /// Vector store: `qdrant-edge` (embedded, in the data dir) or a Qdrant gRPC URL
    /// (`http://HOST:6334`; API key from INGEST_QDRANT_API_KEY). Overrides `[store] vector`.
    #[arg(long, global = true, env = "INGEST_VECTOR_URL")]
    pub vector_url: Option<String>,

    /// Graph store: `sqlite` (embedded, in the data dir) or `bolt://USER:PASSWORD@HOST:PORT/DB`
    /// (Neo4j 5 or another Bolt server). Overrides the pipeline's `[store] graph`.
    #[arg(long, global = true, env = "INGEST_GRAPH_URL")]
    pub graph_url: Option<String>,

    /// Lease of a claimed job, seconds: a worker extends its leases every quarter of this
    /// while it holds them; a job whose lease ran out (its worker died or hung) is taken over
    /// by another worker.
    #[arg(long, global = true, env = "INGEST_LEASE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(2..=86_400))]
    pub lease_secs: u64,

    /// Log lines on stderr: `text` (human-readable) or `json` (one JSON object per line, with
    /// the run id and the document on every pipeline event; the user-facing lines too).
    #[arg(long, global = true, env = "INGEST_LOG_FORMAT", value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
}

/// Where the Prometheus metrics of a run go.
#[derive(Debug, Args, Clone, Default)]
pub struct MetricsArgs {
    /// Serve the metrics at `GET http://HOST:PORT/metrics` while the run lasts (port 0: a free
    /// port, printed on stderr).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// When the run ends, write the metrics to FILE as a node_exporter textfile (through
    /// FILE.tmp and a rename).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct IngestArgs {
    /// Document type of every source in the list: norm, jurisprudence or doctrine.
    #[arg(long = "type", value_name = "TYPE")]
    pub doc_type: Option<String>,

    /// Text file listing the sources, one per line.
    #[arg(value_name = "LIST")]
    pub list: Option<PathBuf>,

    /// Pipeline file (default: the bundled pipelines/<type>.toml).
    #[arg(long, value_name = "FILE")]
    pub pipeline: Option<PathBuf>,

    /// Embedding model id, overriding the pipeline's.
    #[arg(long)]
    pub model: Option<String>,

    /// Documents fetched and parsed at the same time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// No progress bars (they are also off when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// After SIGTERM / Ctrl-C, how long documents in flight may take to reach a checkpoint
    /// before the rest goes back to the queue, seconds.
    #[arg(long, default_value_t = 30)]
    pub grace_secs: u64,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args, Clone)]
pub struct EnqueueArgs {
    /// Document type of every source in the list: norm, jurisprudence or doctrine.
    #[arg(long = "type", value_name = "TYPE")]
    pub doc_type: String,

    /// Text file listing the sources, one per line.
    #[arg(value_name = "LIST")]
    pub list: PathBuf,

    /// Pipeline file (its `[queue] priority`; default: the bundled pipelines/<type>.toml).
    #[arg(long, value_name = "FILE")]
    pub pipeline: Option<PathBuf>,

    /// Priority of these jobs, overriding the pipeline's (higher runs first).
    #[arg(long)]
    pub priority: Option<i64>,

    /// Print the counts as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    /// Types to work on (repeatable; default: every type).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,

    /// Pipeline file for its type (repeatable; default: the bundled pipelines/<type>.toml).
    #[arg(long, value_name = "FILE")]
    pub pipeline: Vec<PathBuf>,

    /// Embedding model id, overriding the pipelines' (every type a worker serves must use
    /// the same model).
    #[arg(long)]
    pub model: Option<String>,

    /// Documents fetched and parsed at the same time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Exit when no job is left queued or running (else wait for new jobs until stopped).
    #[arg(long)]
    pub until_empty: bool,

    /// Longest wait between two looks at an idle queue, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub poll_ms: u64,

    /// After SIGTERM / Ctrl-C, how long documents in flight may take to reach a checkpoint
    /// before the rest goes back to the queue, seconds.
    #[arg(long, default_value_t = 30)]
    pub grace_secs: u64,

    /// No progress bars.
    #[arg(long)]
    pub no_progress: bool,

    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args, Clone)]
pub struct RefreshArgs {
    /// Types to refresh (repeatable; default: every type). With a LIST, exactly one.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,

    /// The current list of sources: those not yet known are added, those known are revisited,
    /// and known sources missing from it are withdrawn. Without it, every known source of
    /// the types is revisited and none is withdrawn.
    #[arg(value_name = "LIST")]
    pub list: Option<PathBuf>,

    /// Pipeline file for its type (repeatable; default: the bundled pipelines/<type>.toml).
    #[arg(long, value_name = "FILE")]
    pub pipeline: Vec<PathBuf>,

    /// Embedding model id, overriding the pipelines'.
    #[arg(long)]
    pub model: Option<String>,

    /// Documents fetched and parsed at the same time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// After SIGTERM / Ctrl-C, how long documents in flight may take to reach a checkpoint,
    /// seconds.
    #[arg(long, default_value_t = 30)]
    pub grace_secs: u64,

    /// No progress bars.
    #[arg(long)]
    pub no_progress: bool,

    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Document type of the corpus (only `norm`: copies of Akoma Ntoso acts).
    #[arg(long = "type", value_name = "TYPE", default_value = "norm")]
    pub doc_type: String,

    /// Copies of each fixture in the corpus, each a distinct act (1 = the fixtures as they are).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub scale: u32,

    /// Embedding model id, overriding the pipeline's.
    #[arg(long)]
    pub model: Option<String>,

    /// Directory of the Akoma Ntoso fixtures the corpus is built from.
    #[arg(long, value_name = "DIR", default_value = "fixtures/norm")]
    pub fixtures: PathBuf,

    /// Only fixtures whose file name starts with this (empty: every `*.xml`).
    #[arg(long, value_name = "PREFIX", default_value = "it_normattiva_")]
    pub prefix: String,

    /// Documents fetched and parsed at the same time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Where the corpus and the fresh embedded stores are written (a temporary directory
    /// inside it, removed at the end; default: the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Print the figures as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Also append the figures as one line of JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead jobs, newest first: source, type, stage, error class and reason.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Put dead jobs back in the queue with a fresh retry budget; they resume from their last
    /// checkpoint.
    Requeue {
        /// Job ids (from `ingest dlq list`).
        ids: Vec<i64>,
        /// Every dead job.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Delete dead jobs and their checkpoints.
    Purge {
        /// Only those dead for longer than this (`30m`, `24h`, `7d`).
        #[arg(long)]
        older_than: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add the sources of LIST to the job queue (a source already queued or done adds
    /// nothing; a dead one is queued again). Workers (`ingest worker`) run them.
    Enqueue(EnqueueArgs),
    /// Claim and run queued jobs until stopped (or `--until-empty`). Several workers, on
    /// one machine or many (with PostgreSQL as the relational store), share one queue.
    Worker(WorkerArgs),
    /// Revisit known sources (for a nightly cron job): unchanged ones are skipped without
    /// parsing (conditional GET, content hash), changed ones re-ingested with their superseded
    /// chunks removed (a newer norm version closes the old one's validity instead), sources
    /// gone from LIST withdrawn. One refresh at a time per database.
    Refresh(RefreshArgs),
    /// Remove dead jobs older than `--older-than` with their checkpoints and whatever they
    /// had partly stored.
    Cleanup {
        /// Age of the dead letters to remove: 90s, 30m, 24h, 7d.
        #[arg(long, value_name = "AGE")]
        older_than: String,
    },
    /// Dead letters: jobs rejected or out of retries.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Documents per state and stage, chunks stored, stage counters, latest errors.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Models this build knows and whether their files are installed.
    Models,
    /// Re-embed every stored chunk with another model, without fetching or parsing again.
    /// Vectors go to that model's own collection; documents already on it are skipped.
    Reembed {
        /// Model id (see `ingest models`).
        #[arg(long)]
        model: String,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Erase a document from every store (rows, vectors in every model's collection, graph)
    /// and its checkpoints, by document id or by the source it was ingested from.
    Delete {
        /// A document id (`it:cass:civ:2025;30636`, an FRBR URI) or a source as listed.
        target: String,
    },
    /// Check that the stores agree: per document, the chunk ids in the relational store, the
    /// vector collection of its model, and the graph. Prints every drift; exit 2 on any.
    Verify {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Throughput benchmark: builds a corpus of distinct acts from the fixtures at `--scale`,
    /// ingests it end to end into fresh stores (model loaded first), then embeds the same
    /// chunks alone; prints chunks/hour of both, their ratio, busy time per stage, peak RSS.
    Bench(BenchArgs),
    /// Semantic search over the stored chunks: the nearest chunks to QUERY.
    Search {
        /// What to look for, in natural language.
        query: String,
        /// How many chunks to return.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Model (collection) to search; default: the norm pipeline's model.
        #[arg(long)]
        model: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}
