//! The runner: owns the channels, checkpoints, retries and progress; the stages themselves are
//! plain functions. Documents flow parse -> chunk -> embed -> enrich -> store through bounded
//! channels, so memory stays flat however long the list is. A claimed job enters the line at
//! the first stage it has not completed, carrying its last checkpoint's output.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::error::{Classify, ErrorClass, StageFailure};
use super::progress::Progress;
use super::record::{ChunkedDocument, Document, EmbeddedDocument, EnrichedDocument, Stage};
use crate::chunk::Chunker;
use crate::embed::Embedder;
use crate::fetch::{Fetcher, Source};
use crate::store::jobs::{Claim, Jobs};
use crate::store::{GraphStore, RelationalStore, StoreError, VectorStore};

/// Documents buffered between two stages. Documents can be megabytes each; a few per hop
/// keep every stage busy without letting memory grow with the list.
pub const CHANNEL_CAPACITY: usize = 4;
/// Attempts for a transient store failure before the document is marked failed.
pub const STORE_ATTEMPTS: u32 = 3;

/// Test-only fault switch, read from `INGEST_FAULT`: makes a stage fail on purpose so tests
/// can prove resume and isolation. Unset in normal use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The store stage fails with a transient error on every attempt.
    Store,
    /// The parser panics.
    ParsePanic,
    /// The process exits abruptly right after the first embed checkpoint.
    CrashAfterEmbed,
}

impl Fault {
    pub fn from_env() -> Option<Fault> {
        match std::env::var("INGEST_FAULT").ok()?.as_str() {
            "store" => Some(Fault::Store),
            "parse-panic" => Some(Fault::ParsePanic),
            "crash-after-embed" => Some(Fault::CrashAfterEmbed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Documents fetched and parsed at once.
    pub concurrency: usize,
    pub batch_size: usize,
    /// Padded tokens per batch (texts x longest text): bounds inference memory, which grows
    /// with batch x sequence length squared, and limits padding waste.
    pub batch_max_tokens: usize,
    pub batch_max_age: Duration,
    pub store_backoff: Duration,
    pub fault: Option<Fault>,
}

/// Everything the stages need, built once per run.
#[derive(Clone)]
pub struct Services {
    pub jobs: Jobs,
    pub relational: Arc<dyn RelationalStore>,
    pub graph: Arc<dyn GraphStore>,
    pub vectors: Arc<dyn VectorStore>,
    pub embedder: Arc<dyn Embedder>,
    pub fetcher: Fetcher,
    pub chunker: Chunker,
    pub parse: crate::parse::ParseOptions,
    pub enricher: crate::enrich::Enricher,
}

/// What happened to one document in this run.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done {
        chunks: u64,
    },
    Failed {
        source: String,
        stage: Stage,
        failure: StageFailure,
    },
}

#[derive(Debug, Default, Clone)]
pub struct RunReport {
    pub ok: u64,
    pub rejected: u64,
    pub failed: u64,
    pub chunks: u64,
    pub fatal: Option<String>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

struct Env<T> {
    claim: Claim,
    item: T,
}

/// Shared state of one run.
struct Ctx {
    svc: Services,
    cfg: RunnerConfig,
    progress: Progress,
    outcomes: mpsc::Sender<Outcome>,
    fatal: Mutex<Option<String>>,
    stop: watch::Sender<bool>,
}

impl Ctx {
    fn set_fatal(&self, msg: String) {
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(msg);
        }
        self.stop.send_replace(true);
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Record a stage failure for a job and report it. A failure to record is fatal.
    async fn fail(&self, claim: &Claim, stage: Stage, failure: StageFailure) {
        if let Err(e) = self
            .svc
            .jobs
            .fail(claim, stage, failure.class, &failure.message)
            .await
        {
            self.set_fatal(format!("{}: cannot record failure: {e}", claim.source));
        }
        if failure.class == ErrorClass::Fatal {
            self.set_fatal(format!(
                "{}: {} stage: {}",
                claim.source, stage, failure.message
            ));
        }
        let _ = self
            .outcomes
            .send(Outcome::Failed {
                source: claim.source.clone(),
                stage,
                failure,
            })
            .await;
    }

    /// Persist a stage's output as the job's checkpoint. Returns false (and stops the run)
    /// when the checkpoint cannot be written.
    async fn checkpoint<T: Serialize>(
        &self,
        claim: &Claim,
        stage: Stage,
        output: &T,
        document_id: &str,
        model_id: Option<&str>,
    ) -> bool {
        match bincode::serialize(output) {
            Ok(bytes) => {
                self.checkpoint_encoded(claim, stage, bytes, document_id, model_id)
                    .await
            }
            Err(e) => {
                self.set_fatal(format!(
                    "{}: cannot encode {stage} checkpoint: {e}",
                    claim.source
                ));
                false
            }
        }
    }

    /// [`Ctx::checkpoint`] for output already encoded (large documents encode off the runtime).
    async fn checkpoint_encoded(
        &self,
        claim: &Claim,
        stage: Stage,
        bytes: Vec<u8>,
        document_id: &str,
        model_id: Option<&str>,
    ) -> bool {
        match self
            .svc
            .jobs
            .checkpoint(claim, stage, &bytes, Some(document_id), model_id)
            .await
        {
            Ok(()) => {
                self.progress.stage_done(stage);
                true
            }
            Err(e) => {
                self.set_fatal(format!("{}: {stage} checkpoint failed: {e}", claim.source));
                false
            }
        }
    }
}

/// Run every claimable job of `run_id` to completion (or until stopped).
pub async fn run(
    run_id: &str,
    svc: Services,
    cfg: RunnerConfig,
    progress: Progress,
    shutdown: watch::Receiver<bool>,
) -> RunReport {
    let started = Instant::now();
    let (outcome_tx, outcome_rx) = mpsc::channel::<Outcome>(64);
    let (stop_tx, _) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        svc,
        cfg,
        progress: progress.clone(),
        outcomes: outcome_tx,
        fatal: Mutex::new(None),
        stop: stop_tx,
    });

    // An outside shutdown request (signal) stops the feeder like a fatal error does.
    let mut ext = shutdown.clone();
    let ctx_sig = ctx.clone();
    let signal_task = tokio::spawn(async move {
        while ext.changed().await.is_ok() {
            if *ext.borrow() {
                ctx_sig.stop.send_replace(true);
                break;
            }
        }
    });

    let (parse_tx, parse_rx) = mpsc::channel::<Claim>(CHANNEL_CAPACITY);
    let (chunk_tx, chunk_rx) = mpsc::channel::<Env<Document>>(CHANNEL_CAPACITY);
    let (embed_tx, embed_rx) = mpsc::channel::<Env<ChunkedDocument>>(CHANNEL_CAPACITY);
    let (enrich_tx, enrich_rx) = mpsc::channel::<Env<EmbeddedDocument>>(CHANNEL_CAPACITY);
    let (store_tx, store_rx) = mpsc::channel::<Env<EnrichedDocument>>(CHANNEL_CAPACITY);

    let collector = tokio::spawn(collect(outcome_rx, progress.clone()));

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(feed(
        ctx.clone(),
        run_id.to_string(),
        parse_tx,
        chunk_tx.clone(),
        embed_tx.clone(),
        enrich_tx.clone(),
        store_tx.clone(),
    )));
    let parse_rx = Arc::new(tokio::sync::Mutex::new(parse_rx));
    for _ in 0..ctx.cfg.concurrency.max(1) {
        tasks.push(tokio::spawn(parse_worker(
            ctx.clone(),
            parse_rx.clone(),
            chunk_tx.clone(),
        )));
    }
    drop(chunk_tx);
    tasks.push(tokio::spawn(chunk_stage(ctx.clone(), chunk_rx, embed_tx)));
    tasks.push(tokio::spawn(embed_stage(ctx.clone(), embed_rx, enrich_tx)));
    tasks.push(tokio::spawn(enrich_stage(ctx.clone(), enrich_rx, store_tx)));
    tasks.push(tokio::spawn(store_stage(ctx.clone(), store_rx)));
    for t in tasks {
        if let Err(e) = t.await {
            ctx.set_fatal(format!("a pipeline task crashed: {e}"));
        }
    }
    signal_task.abort();
    let _ = signal_task.await;
    let interrupted = *shutdown.borrow();
    let fatal = ctx.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // Anything still claimed by this process did not finish: give it back with its checkpoint.
    if let Err(e) = release_own(&ctx.svc.jobs, run_id).await {
        tracing::error!("could not release unfinished jobs: {e}");
    }
    drop(ctx);
    let mut report = collector.await.unwrap_or_default();
    report.fatal = fatal;
    report.interrupted = interrupted;
    report.elapsed = started.elapsed();
    progress.finish();
    report
}

async fn release_own(jobs: &Jobs, run_id: &str) -> Result<(), StoreError> {
    jobs.release_run(run_id).await
}

async fn collect(mut rx: mpsc::Receiver<Outcome>, progress: Progress) -> RunReport {
    let mut r = RunReport::default();
    while let Some(o) = rx.recv().await {
        match o {
            Outcome::Done { chunks } => {
                r.ok += 1;
                r.chunks += chunks;
            }
            Outcome::Failed {
                source,
                stage,
                failure,
            } => {
                match failure.class {
                    ErrorClass::Rejected => r.rejected += 1,
                    _ => r.failed += 1,
                }
                let label = match failure.class {
                    ErrorClass::Rejected => "rejected",
                    ErrorClass::Transient => "failed (will retry on the next run)",
                    ErrorClass::Fatal => "failed (fatal)",
                };
                progress.println(&format!(
                    "{label}: {source}: {stage} stage: {}",
                    failure.message
                ));
            }
        }
    }
    r
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    bincode::deserialize(bytes).ok()
}

/// Claims jobs one at a time and sends each to the first stage it has not completed.
async fn feed(
    ctx: Arc<Ctx>,
    run_id: String,
    parse_tx: mpsc::Sender<Claim>,
    chunk_tx: mpsc::Sender<Env<Document>>,
    embed_tx: mpsc::Sender<Env<ChunkedDocument>>,
    enrich_tx: mpsc::Sender<Env<EmbeddedDocument>>,
    store_tx: mpsc::Sender<Env<EnrichedDocument>>,
) {
    let model = ctx.svc.embedder.model_id().to_string();
    while !ctx.stopping() {
        let claim = match ctx.svc.jobs.claim_next(&run_id).await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                ctx.set_fatal(format!("cannot claim the next job: {e}"));
                break;
            }
        };
        let mut claim = claim;
        // Chunks are sized in the model's tokens and vectors belong to one model: a checkpoint
        // made with another model is not reused past parse.
        if claim.stage_done >= Stage::Chunk.index()
            && claim.model_id.as_deref().is_some_and(|m| m != model)
        {
            if let Err(e) = ctx.svc.jobs.reset(&claim).await {
                ctx.set_fatal(format!("{}: cannot reset checkpoint: {e}", claim.source));
                break;
            }
            claim.stage_done = 0;
        }
        let payload = if claim.stage_done > 0 {
            match ctx.svc.jobs.load_payload(claim.id).await {
                Ok(p) => p,
                Err(e) => {
                    ctx.set_fatal(format!("{}: cannot read checkpoint: {e}", claim.source));
                    break;
                }
            }
        } else {
            None
        };
        ctx.progress.skip_through(claim.stage_done);
        let sent = match (claim.stage_done, payload) {
            (1, Some((1, b))) => match decode::<Document>(&b) {
                Some(item) => chunk_tx.send(Env { claim, item }).await.is_ok(),
                None => restart(&ctx, claim, &parse_tx).await,
            },
            (2, Some((2, b))) => match decode::<ChunkedDocument>(&b) {
                Some(item) => embed_tx.send(Env { claim, item }).await.is_ok(),
                None => restart(&ctx, claim, &parse_tx).await,
            },
            (3, Some((3, b))) => match decode::<EmbeddedDocument>(&b) {
                Some(item) => enrich_tx.send(Env { claim, item }).await.is_ok(),
                None => restart(&ctx, claim, &parse_tx).await,
            },
            (4, Some((4, b))) => match decode::<EnrichedDocument>(&b) {
                Some(item) => store_tx.send(Env { claim, item }).await.is_ok(),
                None => restart(&ctx, claim, &parse_tx).await,
            },
            (0, _) => parse_tx.send(claim).await.is_ok(),
            // A checkpoint without its output (or of another format) cannot be trusted.
            (_, _) => restart(&ctx, claim, &parse_tx).await,
        };
        if !sent {
            break;
        }
    }
}

async fn restart(ctx: &Ctx, mut claim: Claim, parse_tx: &mpsc::Sender<Claim>) -> bool {
    tracing::warn!(source = %claim.source, "checkpoint unreadable; starting the document again");
    if let Err(e) = ctx.svc.jobs.reset(&claim).await {
        ctx.set_fatal(format!("{}: cannot reset checkpoint: {e}", claim.source));
        return false;
    }
    claim.stage_done = 0;
    parse_tx.send(claim).await.is_ok()
}

async fn parse_worker(
    ctx: Arc<Ctx>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Claim>>>,
    tx: mpsc::Sender<Env<Document>>,
) {
    loop {
        let claim = {
            let mut guard = rx.lock().await;
            guard.recv().await
        };
        let Some(claim) = claim else { break };
        match fetch_and_parse(&ctx, &claim).await {
            Ok((doc, bytes)) => {
                if !ctx
                    .checkpoint_encoded(&claim, Stage::Parse, bytes, &doc.info.id, None)
                    .await
                {
                    break;
                }
                if tx.send(Env { claim, item: doc }).await.is_err() {
                    break;
                }
            }
            Err(f) => ctx.fail(&claim, Stage::Parse, f).await,
        }
    }
}

/// Fetch, then parse on the blocking pool; also encodes the checkpoint there.
async fn fetch_and_parse(ctx: &Ctx, claim: &Claim) -> Result<(Document, Vec<u8>), StageFailure> {
    let source = Source::from_key(&claim.source).map_err(|e| StageFailure::from_error(&e))?;
    let bytes = ctx
        .svc
        .fetcher
        .fetch(&source)
        .await
        .map_err(|e| StageFailure::from_error(&e))?;
    let doc_type = claim.doc_type;
    let key = claim.source.clone();
    let panic = ctx.cfg.fault == Some(Fault::ParsePanic);
    let opts = ctx.svc.parse.clone();
    tokio::task::spawn_blocking(move || {
        let parsed = crate::parse::parse_with(doc_type, &key, &bytes, &opts, |_| {
            if panic {
                panic!("injected parser panic (INGEST_FAULT=parse-panic)")
            }
        });
        let doc = parsed.map_err(|e| StageFailure::from_error(&e))?;
        let encoded = bincode::serialize(&doc)
            .map_err(|e| StageFailure::new(ErrorClass::Fatal, format!("encode checkpoint: {e}")))?;
        Ok((doc, encoded))
    })
    .await
    .map_err(|e| StageFailure::new(ErrorClass::Rejected, format!("parser crashed: {e}")))?
}

async fn chunk_stage(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<Env<Document>>,
    tx: mpsc::Sender<Env<ChunkedDocument>>,
) {
    while let Some(Env { claim, item }) = rx.recv().await {
        let chunker = ctx.svc.chunker.clone();
        let embedder = ctx.svc.embedder.clone();
        let result = tokio::task::spawn_blocking(move || {
            let count = |t: &str| embedder.count_tokens(t);
            let mut embed = |texts: &[&str]| embedder.embed(texts).map_err(|e| e.to_string());
            chunker.chunk(item, &count, &mut embed)
        })
        .await;
        let chunked = match result {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                ctx.fail(&claim, Stage::Chunk, StageFailure::from_error(&e))
                    .await;
                continue;
            }
            Err(e) => {
                let f = StageFailure::new(ErrorClass::Rejected, format!("chunker crashed: {e}"));
                ctx.fail(&claim, Stage::Chunk, f).await;
                continue;
            }
        };
        let model = ctx.svc.embedder.model_id().to_string();
        if !ctx
            .checkpoint(
                &claim,
                Stage::Chunk,
                &chunked,
                &chunked.info.id.clone(),
                Some(&model),
            )
            .await
        {
            break;
        }
        if tx
            .send(Env {
                claim,
                item: chunked,
            })
            .await
            .is_err()
        {
            break;
        }
    }
}

struct PendingEmbed {
    env: Env<ChunkedDocument>,
    vectors: Vec<Vec<f32>>,
}

impl PendingEmbed {
    fn remaining(&self) -> usize {
        self.env.item.chunks.len() - self.vectors.len()
    }
}

/// Embeds chunks in batches that may span documents; a batch closes when full or when its
/// oldest chunk has waited `batch_max_age`.
async fn embed_stage(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<Env<ChunkedDocument>>,
    tx: mpsc::Sender<Env<EmbeddedDocument>>,
) {
    let batch_size = ctx.cfg.batch_size.max(1);
    let token_budget = ctx.cfg.batch_max_tokens.max(1);
    let max_age = ctx.cfg.batch_max_age;
    let mut queue: VecDeque<PendingEmbed> = VecDeque::new();
    let mut waiting = 0usize;
    let mut waiting_tokens = 0usize;
    let mut oldest: Option<Instant> = None;
    let mut closed = false;
    // A model whose vectors depend on batch neighbours gets batches cut from one document
    // alone, the same way every run: no waiting for other documents to fill them.
    let per_document = !ctx.svc.embedder.batch_invariant();
    loop {
        let aged = oldest.is_some_and(|t| t.elapsed() >= max_age);
        let ready = waiting >= batch_size
            || waiting_tokens >= token_budget
            || (waiting > 0 && (closed || aged || per_document));
        if !ready {
            // Documents with nothing left to embed (or none at all) leave at once.
            if !flush_completed(&ctx, &mut queue, &tx).await {
                return;
            }
            if closed {
                break;
            }
            let deadline = oldest.map(|t| t + max_age);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(env) => {
                        waiting += env.item.chunks.len();
                        waiting_tokens += env.item.chunks.iter().map(|c| c.tokens as usize).sum::<usize>();
                        if oldest.is_none() && !env.item.chunks.is_empty() {
                            oldest = Some(Instant::now());
                        }
                        queue.push_back(PendingEmbed { env, vectors: Vec::new() });
                    }
                    None => closed = true,
                },
                _ = sleep_until(deadline) => {}
            }
            continue;
        }
        // Take texts from the oldest documents first, up to batch_size texts and the padded
        // token budget (always at least one text).
        let mut texts: Vec<String> = Vec::with_capacity(batch_size);
        let mut owners: Vec<usize> = Vec::with_capacity(batch_size);
        let mut longest = 0usize;
        let mut batch_tokens = 0usize;
        if per_document {
            // The same cut as `embed_in_batches` (reembed), so vectors match across commands.
            if let Some((qi, p)) = queue.iter().enumerate().find(|(_, p)| p.remaining() > 0) {
                let chunks = &p.env.item.chunks;
                let tokens: Vec<u32> = chunks.iter().map(|c| c.tokens).collect();
                let start = p.vectors.len();
                let end = crate::embed::next_batch_end(&tokens, start, batch_size, token_budget);
                for c in &chunks[start..end] {
                    batch_tokens += c.tokens as usize;
                    texts.push(c.embed_text.clone());
                    owners.push(qi);
                }
            }
        }
        'fill: for (qi, p) in queue.iter().enumerate() {
            if per_document {
                break;
            }
            let start = p.vectors.len();
            for c in p.env.item.chunks.iter().skip(start) {
                let t = (c.tokens as usize).max(1);
                let padded = (texts.len() + 1) * longest.max(t);
                if texts.len() == batch_size || (!texts.is_empty() && padded > token_budget) {
                    break 'fill;
                }
                longest = longest.max(t);
                batch_tokens += c.tokens as usize;
                texts.push(c.embed_text.clone());
                owners.push(qi);
            }
        }
        let embedder = ctx.svc.embedder.clone();
        let n = texts.len();
        let result = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embedder.embed(&refs)
        })
        .await;
        let vectors = match result {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                let f = StageFailure::from_error(&e);
                fail_all(&ctx, &mut queue, Stage::Embed, f).await;
                return;
            }
            Err(e) => {
                let f = StageFailure::new(ErrorClass::Fatal, format!("embedding crashed: {e}"));
                fail_all(&ctx, &mut queue, Stage::Embed, f).await;
                return;
            }
        };
        for (qi, v) in owners.into_iter().zip(vectors) {
            queue[qi].vectors.push(v);
        }
        waiting -= n;
        waiting_tokens = waiting_tokens.saturating_sub(batch_tokens);
        ctx.progress.chunks_embedded(n as u64);
        oldest = if waiting > 0 {
            Some(Instant::now())
        } else {
            None
        };
        if !flush_completed(&ctx, &mut queue, &tx).await {
            return;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending::<()>().await,
    }
}

/// Checkpoint and forward documents at the head of the queue whose chunks are all embedded.
async fn flush_completed(
    ctx: &Ctx,
    queue: &mut VecDeque<PendingEmbed>,
    tx: &mpsc::Sender<Env<EmbeddedDocument>>,
) -> bool {
    while queue.front().is_some_and(|p| p.remaining() == 0) {
        let Some(p) = queue.pop_front() else { break };
        let Env { claim, item } = p.env;
        let doc = EmbeddedDocument {
            info: item.info,
            chunks: item.chunks,
            model_id: ctx.svc.embedder.model_id().to_string(),
            vectors: p.vectors,
        };
        if !ctx
            .checkpoint(
                &claim,
                Stage::Embed,
                &doc,
                &doc.info.id.clone(),
                Some(&doc.model_id.clone()),
            )
            .await
        {
            return false;
        }
        if ctx.cfg.fault == Some(Fault::CrashAfterEmbed) {
            // Simulates a kill -9 right after a durable checkpoint.
            std::process::exit(137);
        }
        if tx.send(Env { claim, item: doc }).await.is_err() {
            return false;
        }
    }
    true
}

async fn fail_all(ctx: &Ctx, queue: &mut VecDeque<PendingEmbed>, stage: Stage, f: StageFailure) {
    for p in queue.drain(..) {
        ctx.fail(&p.env.claim, stage, f.clone()).await;
    }
}

async fn enrich_stage(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<Env<EmbeddedDocument>>,
    tx: mpsc::Sender<Env<EnrichedDocument>>,
) {
    while let Some(Env { claim, item }) = rx.recv().await {
        let enricher = ctx.svc.enricher.clone();
        let enriched =
            match tokio::task::spawn_blocking(move || crate::enrich::enrich(item, &enricher)).await
            {
                Ok(e) => e,
                Err(e) => {
                    let f =
                        StageFailure::new(ErrorClass::Rejected, format!("enricher crashed: {e}"));
                    ctx.fail(&claim, Stage::Enrich, f).await;
                    continue;
                }
            };
        if !ctx
            .checkpoint(
                &claim,
                Stage::Enrich,
                &enriched,
                &enriched.info.id.clone(),
                None,
            )
            .await
        {
            break;
        }
        if tx
            .send(Env {
                claim,
                item: enriched,
            })
            .await
            .is_err()
        {
            break;
        }
    }
}

async fn store_stage(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Env<EnrichedDocument>>) {
    while let Some(Env { claim, item }) = rx.recv().await {
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match store_document(&ctx, &claim, &item).await {
                Err(e) if e.class() == ErrorClass::Transient && attempt < STORE_ATTEMPTS => {
                    let wait = ctx.cfg.store_backoff * 2u32.pow(attempt - 1);
                    tracing::warn!(source = %claim.source, attempt, "store failed, retrying: {e}");
                    tokio::time::sleep(wait).await;
                }
                other => break other,
            }
        };
        match result {
            Ok(()) => {
                if let Err(e) = ctx
                    .svc
                    .jobs
                    .finish(&claim, &item.info.id, &item.info.content_hash)
                    .await
                {
                    ctx.set_fatal(format!("{}: store checkpoint failed: {e}", claim.source));
                    break;
                }
                ctx.progress.stage_done(Stage::Store);
                let _ = ctx
                    .outcomes
                    .send(Outcome::Done {
                        chunks: item.chunks.len() as u64,
                    })
                    .await;
            }
            Err(e) => {
                ctx.fail(&claim, Stage::Store, StageFailure::from_error(&e))
                    .await
            }
        }
    }
}

/// Write one document to every store. Superseded chunks (from an earlier version of the same
/// document) are removed everywhere; all writes are upserts on deterministic ids.
async fn store_document(
    ctx: &Ctx,
    claim: &Claim,
    doc: &EnrichedDocument,
) -> Result<(), StoreError> {
    if ctx.cfg.fault == Some(Fault::Store) {
        return Err(StoreError::Injected(
            "store stage disabled by INGEST_FAULT=store".into(),
        ));
    }
    let svc = &ctx.svc;
    let before = svc.relational.chunk_ids(&doc.info.id).await?;
    let keep: std::collections::HashSet<&str> = doc.chunks.iter().map(|c| c.id.as_str()).collect();
    let stale: Vec<String> = before
        .into_iter()
        .filter(|id| !keep.contains(id.as_str()))
        .collect();
    svc.vectors
        .upsert_document(doc, svc.embedder.dimension())
        .await?;
    if !stale.is_empty() {
        // Superseded chunks go from every model's collection, not only the current one.
        for model in svc.vectors.models().await? {
            svc.vectors.delete_chunks(&model, &stale).await?;
        }
    }
    svc.graph.upsert_document(doc).await?;
    svc.relational.upsert_document(doc).await?;
    // The source used to yield another document (its identity changed, e.g. a decision now
    // recognised by court and number): that one goes, or it would linger as a duplicate.
    if let Some(old) = claim
        .document_id
        .as_deref()
        .filter(|old| *old != doc.info.id)
    {
        delete_everywhere(svc, old).await?;
    }
    Ok(())
}

/// Remove a document from every store (every model's collection included).
pub async fn delete_everywhere(svc: &Services, document_id: &str) -> Result<bool, StoreError> {
    for model in svc.vectors.models().await? {
        svc.vectors.delete_document(&model, document_id).await?;
    }
    svc.graph.delete_document(document_id).await?;
    svc.relational.delete_document(document_id).await
}
