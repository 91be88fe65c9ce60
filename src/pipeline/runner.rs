//! The runner: owns the channels, checkpoints, retries and progress; the stages themselves are
//! plain functions. Documents flow parse -> chunk -> embed -> enrich -> store through bounded
//! channels, so memory stays flat however long the list is. A claimed job enters the line at
//! the first stage it has not completed, carrying its last checkpoint's output.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::error::{Classify, ErrorClass, StageFailure};
use super::progress::Progress;
use super::record::{
    ChunkedDocument, DocType, Document, EmbeddedDocument, EnrichedDocument, Enrichment, Stage,
};
use super::retry::RetryPolicy;
use crate::chunk::Chunker;
use crate::embed::Embedder;
use crate::fetch::{Fetched, Fetcher, Source, Validators};
use crate::store::jobs::{AfterFailure, Claim, Jobs, Scope};
use crate::store::{GraphStore, RelationalStore, StoreError, VectorStore};

/// Documents buffered between two stages. Documents can be megabytes each; a few per hop
/// keep every stage busy without letting memory grow with the list.
pub const CHANNEL_CAPACITY: usize = 4;
/// Documents a runner holds past the parse stage, besides those being fetched and parsed:
/// one being chunked and one chunked ahead of the embedder, one being embedded and one
/// waiting, one being enriched, one being stored.
pub const IN_FLIGHT_PAST_PARSE: usize = 6;

/// How many documents a runner with `concurrency` parse workers claims ahead. Inference is
/// the slow stage; without a bound the fast ones (fetch, parse) filled every channel, which
/// at the benchmark's 10x scale meant 18 documents held at once, parsed or chunked, and their
/// leases, which another worker could have taken.
pub fn in_flight_limit(concurrency: usize) -> usize {
    concurrency.max(1) + IN_FLIGHT_PAST_PARSE
}

/// Attempts for a transient store failure inside one claim, before the failure goes to the
/// queue's retry policy.
pub const STORE_ATTEMPTS: u32 = 3;

/// Test-only fault switch, read from `INGEST_FAULT`: makes a stage fail on purpose so tests
/// can prove resume and isolation. Unset in normal use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The store stage fails with a transient error on every attempt.
    Store,
    /// The parser panics.
    ParsePanic,
    /// The process exits abruptly right after the first embed checkpoint.
    CrashAfterEmbed,
    /// `crash-in-<stage>`: the process kills itself (SIGKILL) in the middle of the first
    /// document's `<stage>`: its work done, its checkpoint not yet written (in the store
    /// stage: vectors written, rows not; the graph write runs alongside the vector write).
    CrashIn(Stage),
    /// `crash-on:<text>`: the process kills itself whenever it parses a source containing
    /// `<text>` (a poison document).
    CrashOn(String),
}

impl Fault {
    pub fn from_env() -> Option<Fault> {
        let v = std::env::var("INGEST_FAULT").ok()?;
        if let Some(text) = v.strip_prefix("crash-on:") {
            return Some(Fault::CrashOn(text.to_string()));
        }
        if let Some(stage) = v.strip_prefix("crash-in-") {
            return Stage::ALL
                .into_iter()
                .find(|s| s.as_str() == stage)
                .map(Fault::CrashIn);
        }
        match v.as_str() {
            "store" => Some(Fault::Store),
            "parse-panic" => Some(Fault::ParsePanic),
            "crash-after-embed" => Some(Fault::CrashAfterEmbed),
            _ => None,
        }
    }

    /// Die like `kill -9` would if this fault is set for `stage`.
    fn crash_in(fault: &Option<Fault>, stage: Stage) {
        if *fault == Some(Fault::CrashIn(stage)) {
            kill_self();
        }
    }
}

fn kill_self() {
    // SAFETY: signalling our own pid; SIGKILL cannot be caught, so this does not return.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort();
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Documents fetched and parsed at once.
    pub concurrency: usize,
    /// Documents claimed and not yet settled, at most (see [`in_flight_limit`]).
    pub max_in_flight: usize,
    pub batch_size: usize,
    /// Padded tokens per batch (texts x longest text): bounds inference memory, which grows
    /// with batch x sequence length squared, and limits padding waste.
    pub batch_max_tokens: usize,
    pub batch_max_age: Duration,
    pub store_backoff: Duration,
    pub fault: Option<Fault>,
    /// Which jobs this runner claims.
    pub scope: Scope,
    /// Stop when nothing is left queued or running in the scope (else wait for more work).
    pub until_empty: bool,
    /// Longest wait between two looks at the queue when idle.
    pub poll: Duration,
    /// How often held leases are extended.
    pub heartbeat: Duration,
    /// After a shutdown signal, how long documents in flight may take to reach a checkpoint.
    pub grace: Duration,
}

/// Everything the stages need, built once per run.
#[derive(Clone)]
pub struct Services {
    pub jobs: Jobs,
    pub relational: Arc<dyn RelationalStore>,
    pub graph: Arc<dyn GraphStore>,
    pub vectors: Arc<dyn VectorStore>,
    pub embedder: Arc<dyn Embedder>,
    /// Per document type: what its pipeline file says (a worker serves several types).
    pub types: HashMap<DocType, Arc<TypeServices>>,
}

/// One document type's pipeline: how its documents are fetched, parsed, chunked, enriched,
/// retried and timed.
pub struct TypeServices {
    pub fetcher: Fetcher,
    pub chunker: Chunker,
    pub parse: crate::parse::ParseOptions,
    pub enricher: crate::enrich::Enricher,
    pub retry: RetryPolicy,
    /// Soft per-document limit on one stage's work (fetch+parse, chunking).
    pub soft_limit: Duration,
}

impl Services {
    /// The services of a claimed job's type. Claims are scoped to the types this runner
    /// has, so a missing entry is a bug, reported as a fatal error by the caller.
    fn of(&self, t: DocType) -> Option<Arc<TypeServices>> {
        self.types.get(&t).cloned()
    }
}

/// What happened to one document in this run.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done {
        chunks: u64,
    },
    /// A refresh found the source unchanged: nothing ran past the fetch.
    Unchanged,
    /// A transient failure: the document is back in the queue, due after `delay`.
    Retrying {
        source: String,
        stage: Stage,
        failure: StageFailure,
        retry: i64,
        max: u32,
        delay: Duration,
    },
    /// A dead letter (rejected input, or out of retries).
    Failed {
        source: String,
        stage: Stage,
        failure: StageFailure,
        retries: i64,
    },
}

#[derive(Debug, Default, Clone)]
pub struct RunReport {
    pub ok: u64,
    /// Refreshed sources found unchanged (skipped without parsing).
    pub unchanged: u64,
    pub rejected: u64,
    pub failed: u64,
    pub retried: u64,
    pub chunks: u64,
    pub fatal: Option<String>,
    pub interrupted: bool,
    pub elapsed: Duration,
    /// Busy time per stage.
    pub busy: super::clock::StageBusy,
}

struct Env<T> {
    claim: Claim,
    item: T,
}

/// A chunked document on its way to the embed stage, with the token ids the chunk stage
/// computed for each chunk's embedded text while counting (`None` where it has none: a
/// document resumed from its chunk checkpoint, or an embedder that tokenises for itself).
struct ToEmbed {
    doc: ChunkedDocument,
    ids: Vec<Option<Vec<u32>>>,
}

impl ToEmbed {
    fn without_ids(doc: ChunkedDocument) -> Self {
        let ids = vec![None; doc.chunks.len()];
        Self { doc, ids }
    }
}

/// The span of one document's work: events in it carry the source, the job and (once known)
/// the document id. Nested in the run's span, which carries the run id.
fn doc_span(claim: &Claim, document_id: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        "document",
        source = %claim.source,
        job_id = claim.id,
        doc_type = claim.doc_type.as_str(),
        document_id
    )
}

/// Shared state of one run.
struct Ctx {
    svc: Services,
    cfg: RunnerConfig,
    progress: Progress,
    outcomes: mpsc::Sender<Outcome>,
    fatal: Mutex<Option<String>>,
    stop: watch::Sender<bool>,
    /// Documents claimed and not yet done, failed or released.
    in_flight: AtomicUsize,
    settled: tokio::sync::Notify,
    clock: super::clock::StageClock,
    /// HTTP validators of the bodies fetched in this run, by job, until the job is stored.
    validators: Mutex<HashMap<i64, Validators>>,
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

    /// A document left the pipeline (done, failed or re-queued).
    fn settle(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        self.settled.notify_waiters();
    }

    /// Wait until at most `n` documents are in flight (or the run is stopping).
    async fn wait_in_flight_at_most(&self, n: usize) {
        let mut stop = self.stop.subscribe();
        loop {
            // Registered before the check, so a settle between the two is not missed.
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) <= n || self.stopping() {
                return;
            }
            tokio::select! {
                _ = &mut settled => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// Record a stage failure for a job under the failure policy and report it: rejected
    /// inputs are dead at once; transient (and fatal) failures go back to the queue with
    /// backoff until the type's retries are used up, then they are dead. A failure to
    /// record is fatal.
    async fn fail(&self, claim: &Claim, stage: Stage, failure: StageFailure) {
        let policy = self
            .svc
            .of(claim.doc_type)
            .map(|t| t.retry.clone())
            .unwrap_or_else(|| RetryPolicy::from_config(&Default::default()));
        let after = after_failure(failure.class, claim.retries, &policy);
        let counted = match (failure.class, after) {
            (ErrorClass::Fatal, _) => crate::metrics::Outcome::Fatal,
            (_, AfterFailure::RetryAfter(_)) => crate::metrics::Outcome::Retry,
            (ErrorClass::Rejected, _) => crate::metrics::Outcome::Rejected,
            (ErrorClass::Transient, AfterFailure::Dead) => crate::metrics::Outcome::Dead,
        };
        crate::metrics::global().document(claim.doc_type, stage, counted);
        if let Err(e) = self
            .svc
            .jobs
            .fail(claim, stage, failure.class, &failure.message, after)
            .instrument(doc_span(claim, claim.document_id.as_deref()))
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
        let outcome = match after {
            AfterFailure::RetryAfter(delay) => Outcome::Retrying {
                source: claim.source.clone(),
                stage,
                failure,
                retry: claim.retries + 1,
                max: policy.max_retries,
                delay,
            },
            AfterFailure::Dead => Outcome::Failed {
                source: claim.source.clone(),
                stage,
                failure,
                retries: claim.retries,
            },
        };
        self.settle();
        let _ = self.outcomes.send(outcome).await;
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
        match self.encode(claim, stage, output) {
            Some(bytes) => {
                self.checkpoint_encoded(claim, stage, bytes, document_id, model_id)
                    .await
            }
            None => false,
        }
    }

    /// A checkpoint's bytes; an output that cannot be encoded stops the run.
    fn encode<T: Serialize>(&self, claim: &Claim, stage: Stage, output: &T) -> Option<Vec<u8>> {
        bincode::serialize(output)
            .map_err(|e| {
                self.set_fatal(format!(
                    "{}: cannot encode {stage} checkpoint: {e}",
                    claim.source
                ))
            })
            .ok()
    }

    /// Persist what a stage added to the previous stage's checkpoint, as the job's checkpoint
    /// (see [`crate::store::jobs::Payload`]). Returns false (and stops the run) when it cannot
    /// be written.
    async fn checkpoint_delta<T: Serialize>(
        &self,
        claim: &Claim,
        stage: Stage,
        delta: &T,
        document_id: &str,
    ) -> bool {
        let Some(bytes) = self.encode(claim, stage, delta) else {
            return false;
        };
        let span = doc_span(claim, Some(document_id));
        let written = self
            .svc
            .jobs
            .checkpoint_delta(claim, stage, bytes)
            .instrument(span.clone())
            .await;
        self.checkpoint_written(claim, stage, &span, written)
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
        let span = doc_span(claim, Some(document_id));
        let written = self
            .svc
            .jobs
            .checkpoint(claim, stage, bytes, Some(document_id), model_id)
            .instrument(span.clone())
            .await;
        self.checkpoint_written(claim, stage, &span, written)
    }

    /// Log, count and report a checkpoint write; a failed one stops the run.
    fn checkpoint_written(
        &self,
        claim: &Claim,
        stage: Stage,
        span: &tracing::Span,
        written: Result<(), crate::store::StoreError>,
    ) -> bool {
        match written {
            Ok(()) => {
                span.in_scope(|| tracing::info!(stage = stage.as_str(), "stage done"));
                crate::metrics::global().document(
                    claim.doc_type,
                    stage,
                    crate::metrics::Outcome::Ok,
                );
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

/// What the failure policy does with a failure of `class` for a job that already used
/// `retries` retries.
pub fn after_failure(class: ErrorClass, retries: i64, policy: &RetryPolicy) -> AfterFailure {
    match class {
        ErrorClass::Rejected => AfterFailure::Dead,
        ErrorClass::Transient | ErrorClass::Fatal => {
            let used = u32::try_from(retries.max(0)).unwrap_or(u32::MAX);
            if policy.may_retry(used) {
                AfterFailure::RetryAfter(policy.delay(used + 1))
            } else {
                AfterFailure::Dead
            }
        }
    }
}

/// Claim and run the jobs of `cfg.scope` until none is left (`until_empty`) or until stopped
/// by `shutdown` (a signal: claiming stops, documents in flight get `cfg.grace` to reach a
/// checkpoint, then whatever is still held goes back to the queue) or a fatal error.
pub async fn run(
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
        in_flight: AtomicUsize::new(0),
        settled: tokio::sync::Notify::new(),
        clock: Default::default(),
        validators: Mutex::new(HashMap::new()),
    });

    // An outside shutdown request (signal) stops the feeder like a fatal error does.
    let mut ext = shutdown.clone();
    let ctx_sig = ctx.clone();
    let signal_task = tokio::spawn(
        async move {
            while ext.changed().await.is_ok() {
                if *ext.borrow() {
                    ctx_sig.stop.send_replace(true);
                    break;
                }
            }
        }
        .in_current_span(),
    );
    // Leases are extended while documents are held, however long a stage takes.
    let ctx_hb = ctx.clone();
    let heartbeat_task = tokio::spawn(
        async move {
            let mut tick =
                tokio::time::interval(ctx_hb.cfg.heartbeat.max(Duration::from_millis(50)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = ctx_hb.svc.jobs.heartbeat().await {
                    tracing::warn!("lease heartbeat failed (will try again): {e}");
                }
            }
        }
        .in_current_span(),
    );

    let (parse_tx, parse_rx) = mpsc::channel::<Claim>(CHANNEL_CAPACITY);
    let (chunk_tx, chunk_rx) = mpsc::channel::<Env<Document>>(CHANNEL_CAPACITY);
    let (embed_tx, embed_rx) = mpsc::channel::<Env<ToEmbed>>(CHANNEL_CAPACITY);
    let (enrich_tx, enrich_rx) = mpsc::channel::<Env<EmbeddedDocument>>(CHANNEL_CAPACITY);
    let (store_tx, store_rx) = mpsc::channel::<Env<EnrichedDocument>>(CHANNEL_CAPACITY);

    let collector = tokio::spawn(collect(outcome_rx, progress.clone()).in_current_span());

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(
        feed(
            ctx.clone(),
            Lines {
                parse: parse_tx,
                chunk: chunk_tx.clone(),
                embed: embed_tx.clone(),
                enrich: enrich_tx.clone(),
                store: store_tx.clone(),
            },
        )
        .in_current_span(),
    );
    let parse_rx = Arc::new(tokio::sync::Mutex::new(parse_rx));
    for _ in 0..ctx.cfg.concurrency.max(1) {
        tasks
            .spawn(parse_worker(ctx.clone(), parse_rx.clone(), chunk_tx.clone()).in_current_span());
    }
    drop(chunk_tx);
    tasks.spawn(chunk_stage(ctx.clone(), chunk_rx, embed_tx).in_current_span());
    tasks.spawn(embed_stage(ctx.clone(), embed_rx, enrich_tx).in_current_span());
    tasks.spawn(enrich_stage(ctx.clone(), enrich_rx, store_tx).in_current_span());
    tasks.spawn(store_stage(ctx.clone(), store_rx).in_current_span());

    // After a signal, documents in flight get the grace period; then the line is cut.
    let grace = ctx.cfg.grace;
    let mut sig = shutdown.clone();
    let grace_over = async move {
        while !*sig.borrow() {
            if sig.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        tokio::time::sleep(grace).await;
    };
    tokio::pin!(grace_over);
    let mut cut = false;
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Err(e)) if !e.is_cancelled() => {
                    ctx.set_fatal(format!("a pipeline task crashed: {e}"))
                }
                Some(_) => {}
            },
            _ = &mut grace_over, if !cut => {
                cut = true;
                let held = ctx.in_flight.load(Ordering::SeqCst);
                if held > 0 {
                    progress.println(&format!(
                        "grace period over: {held} documents go back to the queue at their last checkpoint"
                    ));
                }
                tasks.abort_all();
            }
        }
    }
    signal_task.abort();
    heartbeat_task.abort();
    let _ = signal_task.await;
    let _ = heartbeat_task.await;
    let interrupted = *shutdown.borrow();
    let fatal = ctx.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let busy = ctx.clock.snapshot();
    // Anything still held by this process did not finish: give it back with its checkpoint.
    if let Err(e) = ctx.svc.jobs.release_owned().await {
        tracing::error!("could not release unfinished jobs: {e}");
    }
    drop(ctx);
    let mut report = collector.await.unwrap_or_default();
    report.fatal = fatal;
    report.interrupted = interrupted;
    report.elapsed = started.elapsed();
    report.busy = busy;
    progress.finish();
    report
}

async fn collect(mut rx: mpsc::Receiver<Outcome>, progress: Progress) -> RunReport {
    let mut r = RunReport::default();
    while let Some(o) = rx.recv().await {
        match o {
            Outcome::Done { chunks } => {
                r.ok += 1;
                r.chunks += chunks;
            }
            Outcome::Unchanged => r.unchanged += 1,
            Outcome::Retrying {
                source,
                stage,
                failure,
                retry,
                max,
                delay,
            } => {
                r.retried += 1;
                report_span(&source, stage).in_scope(|| {
                    progress.println(&format!(
                        "retry {retry}/{max} in {:.1}s: {source}: {stage} stage: {}",
                        delay.as_secs_f64(),
                        failure.message
                    ))
                });
            }
            Outcome::Failed {
                source,
                stage,
                failure,
                retries,
            } => {
                match failure.class {
                    ErrorClass::Rejected => r.rejected += 1,
                    _ => r.failed += 1,
                }
                let label = match failure.class {
                    ErrorClass::Rejected => "rejected".to_string(),
                    ErrorClass::Transient => format!("dead after {retries} retries"),
                    ErrorClass::Fatal => "failed (fatal)".to_string(),
                };
                report_span(&source, stage).in_scope(|| {
                    progress.println(&format!(
                        "{label}: {source}: {stage} stage: {}",
                        failure.message
                    ))
                });
            }
        }
    }
    r
}

/// The span of a user-facing line about one document (its source and failing stage).
fn report_span(source: &str, stage: Stage) -> tracing::Span {
    tracing::info_span!("document", source, stage = stage.as_str())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    bincode::deserialize(bytes).ok()
}

/// The entries of the line: a claimed job goes to the first stage it has not completed.
struct Lines {
    parse: mpsc::Sender<Claim>,
    chunk: mpsc::Sender<Env<Document>>,
    embed: mpsc::Sender<Env<ToEmbed>>,
    enrich: mpsc::Sender<Env<EmbeddedDocument>>,
    store: mpsc::Sender<Env<EnrichedDocument>>,
}

/// Claims jobs one at a time and sends each to the first stage it has not completed. When
/// nothing is claimable it waits for the next due retry (or polls, for a worker), so a run
/// ends only when its scope is empty. A job taken back from a holder that died runs alone.
async fn feed(ctx: Arc<Ctx>, lines: Lines) {
    let mut stop = ctx.stop.subscribe();
    while !ctx.stopping() {
        ctx.wait_in_flight_at_most(ctx.cfg.max_in_flight.max(1) - 1)
            .await;
        if ctx.stopping() {
            break;
        }
        let claim = match ctx.svc.jobs.claim_next(&ctx.cfg.scope).await {
            Ok(c) => c,
            Err(e) if e.class() == ErrorClass::Transient => {
                tracing::warn!("cannot claim the next job (will try again): {e}");
                tokio::select! {
                    _ = tokio::time::sleep(ctx.cfg.poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            Err(e) => {
                ctx.set_fatal(format!("cannot claim the next job: {e}"));
                break;
            }
        };
        let Some(claim) = claim else {
            let pending = match ctx.svc.jobs.pending(&ctx.cfg.scope).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("cannot read the queue (will try again): {e}");
                    Default::default()
                }
            };
            if pending.open == 0 && ctx.cfg.until_empty {
                break;
            }
            // Holders on this host that died give their jobs back at once.
            if let Err(e) = ctx.svc.jobs.release_dead_local_leases().await {
                tracing::warn!("cannot check for abandoned jobs: {e}");
            }
            let wait = pending
                .next_due_in_ms
                .map(|ms| Duration::from_millis(ms.max(0) as u64))
                .unwrap_or(ctx.cfg.poll)
                .clamp(Duration::from_millis(20), ctx.cfg.poll);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
                // A document settled: the scope may be empty now, or a job re-queued.
                _ = ctx.settled.notified() => {}
            }
            continue;
        };
        let Some(types) = ctx.svc.of(claim.doc_type) else {
            ctx.set_fatal(format!(
                "{}: claimed a {} job this runner has no pipeline for",
                claim.source, claim.doc_type
            ));
            break;
        };
        ctx.in_flight.fetch_add(1, Ordering::SeqCst);
        let stage = Stage::after(claim.stage_done).unwrap_or(Stage::Store);
        if claim.crashes >= i64::from(types.retry.max_crashes) {
            let f = StageFailure::new(
                ErrorClass::Rejected,
                format!(
                    "poison: the process died {} times while running this document alone; not retried",
                    claim.crashes
                ),
            );
            ctx.fail(&claim, stage, f).await;
            continue;
        }
        if claim.suspect {
            // Its last holder died with it and others in flight: run it alone, so that if it
            // is the one that kills the process, only it is charged.
            ctx.wait_in_flight_at_most(1).await;
            if ctx.stopping() {
                break;
            }
            if let Err(e) = ctx.svc.jobs.mark_isolated(&claim).await {
                ctx.set_fatal(format!(
                    "{}: cannot mark the job isolated: {e}",
                    claim.source
                ));
                break;
            }
            tracing::info!(source = %claim.source, "running alone: its last holder died");
            if !dispatch(&ctx, claim, &lines).await {
                break;
            }
            ctx.wait_in_flight_at_most(0).await;
            continue;
        }
        if !dispatch(&ctx, claim, &lines).await {
            break;
        }
    }
}

/// Send a claimed job into the line at its first unfinished stage, with its checkpoint.
async fn dispatch(ctx: &Ctx, claim: Claim, lines: &Lines) -> bool {
    doc_span(&claim, claim.document_id.as_deref())
        .in_scope(|| tracing::info!(stage_done = claim.stage_done, "claimed"));
    let model = ctx.svc.embedder.model_id().to_string();
    let mut claim = claim;
    // Chunks are sized in the model's tokens and vectors belong to one model: a checkpoint
    // made with another model is not reused past parse.
    if claim.stage_done >= Stage::Chunk.index()
        && claim.model_id.as_deref().is_some_and(|m| m != model)
    {
        if let Err(e) = ctx.svc.jobs.reset(&claim).await {
            ctx.set_fatal(format!("{}: cannot reset checkpoint: {e}", claim.source));
            return false;
        }
        claim.stage_done = 0;
    }
    let payload = if claim.stage_done > 0 {
        match ctx.svc.jobs.load_payload(claim.id).await {
            Ok(p) => p.map(|p| (p.stage, p.data, p.delta)),
            Err(e) => {
                ctx.set_fatal(format!("{}: cannot read checkpoint: {e}", claim.source));
                return false;
            }
        }
    } else {
        None
    };
    ctx.progress.skip_through(claim.stage_done);
    match (claim.stage_done, payload) {
        (1, Some((1, b, None))) => match decode::<Document>(&b) {
            Some(item) => lines.chunk.send(Env { claim, item }).await.is_ok(),
            None => restart(ctx, claim, &lines.parse).await,
        },
        (2, Some((2, b, None))) => match decode::<ChunkedDocument>(&b) {
            Some(doc) => {
                let item = ToEmbed::without_ids(doc);
                lines.embed.send(Env { claim, item }).await.is_ok()
            }
            None => restart(ctx, claim, &lines.parse).await,
        },
        (3, Some((3, b, None))) => match decode::<EmbeddedDocument>(&b) {
            Some(item) => lines.enrich.send(Env { claim, item }).await.is_ok(),
            None => restart(ctx, claim, &lines.parse).await,
        },
        // The embed checkpoint's document plus what enrich added; a whole enriched document
        // from before enrich checkpointed only its addition.
        (4, Some((4, b, Some(delta)))) => {
            match decode::<EmbeddedDocument>(&b).zip(decode::<Enrichment>(&delta)) {
                Some((doc, found)) => {
                    let item = EnrichedDocument::from_parts(doc, found);
                    lines.store.send(Env { claim, item }).await.is_ok()
                }
                None => restart(ctx, claim, &lines.parse).await,
            }
        }
        (4, Some((4, b, None))) => match decode::<EnrichedDocument>(&b) {
            Some(item) => lines.store.send(Env { claim, item }).await.is_ok(),
            None => restart(ctx, claim, &lines.parse).await,
        },
        (0, _) => lines.parse.send(claim).await.is_ok(),
        // A checkpoint without its output (or of another format) cannot be trusted.
        (_, _) => restart(ctx, claim, &lines.parse).await,
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
        let work = fetch_and_parse(&ctx, &claim).instrument(doc_span(&claim, None));
        match ctx
            .clock
            .time(Stage::Parse, claim.doc_type.as_str(), work)
            .await
        {
            Ok(Parsed::Unchanged(validators)) => {
                if let Err(e) = ctx.svc.jobs.finish_unchanged(&claim, &validators).await {
                    ctx.fail(&claim, Stage::Parse, StageFailure::from_error(&e))
                        .await;
                    continue;
                }
                crate::metrics::global().document(
                    claim.doc_type,
                    Stage::Parse,
                    crate::metrics::Outcome::Unchanged,
                );
                doc_span(&claim, None)
                    .in_scope(|| tracing::info!("unchanged since it was stored: skipped"));
                ctx.settle();
                let _ = ctx.outcomes.send(Outcome::Unchanged).await;
            }
            Ok(Parsed::Document(doc, bytes)) => {
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

/// Fetch, then parse on the blocking pool (also encoding the checkpoint there), within the
/// type's soft time limit.
/// What the parse stage made of a claimed source (one per document, never stored: boxing
/// buys nothing).
#[allow(clippy::large_enum_variant)]
enum Parsed {
    /// The document and its encoded checkpoint.
    Document(Document, Vec<u8>),
    /// A refresh found the source as it was stored last (HTTP 304, or the same content hash).
    Unchanged(Validators),
}

async fn fetch_and_parse(ctx: &Ctx, claim: &Claim) -> Result<Parsed, StageFailure> {
    let types = ctx.svc.of(claim.doc_type).ok_or_else(|| {
        StageFailure::new(
            ErrorClass::Fatal,
            format!("no pipeline for {}", claim.doc_type),
        )
    })?;
    let limit = types.soft_limit;
    match tokio::time::timeout(limit, fetch_and_parse_inner(ctx, claim, &types)).await {
        Ok(r) => r,
        Err(_) => Err(time_limit(Stage::Parse, limit)),
    }
}

fn time_limit(stage: Stage, limit: Duration) -> StageFailure {
    StageFailure::new(
        ErrorClass::Transient,
        format!(
            "time limit: the {stage} stage took longer than {}s (limits.soft_secs)",
            limit.as_secs()
        ),
    )
}

async fn fetch_and_parse_inner(
    ctx: &Ctx,
    claim: &Claim,
    types: &TypeServices,
) -> Result<Parsed, StageFailure> {
    let source = Source::from_key(&claim.source).map_err(|e| StageFailure::from_error(&e))?;
    // A refresh asks the server whether the body changed since it was stored; without a
    // stored content hash there is nothing to compare with, so it fetches in full.
    let revisit = claim.refresh && claim.content_hash.is_some();
    let known = if revisit {
        claim.validators.clone()
    } else {
        Validators::default()
    };
    let fetched = types
        .fetcher
        .fetch_if_changed(&source, &known)
        .await
        .map_err(|e| StageFailure::from_error(&e))?;
    let (bytes, validators) = match fetched {
        Fetched::NotModified => return Ok(Parsed::Unchanged(Validators::default())),
        Fetched::Body { bytes, validators } => (bytes, validators),
    };
    if revisit && claim.content_hash.as_deref() == Some(&crate::parse::sha256_hex(&bytes)) {
        return Ok(Parsed::Unchanged(validators));
    }
    ctx.validators
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(claim.id, validators);
    let doc_type = claim.doc_type;
    let key = claim.source.clone();
    let fault = ctx.cfg.fault.clone();
    let opts = types.parse.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _in = span.enter();
        if let Some(Fault::CrashOn(text)) = &fault {
            if key.contains(text.as_str()) {
                kill_self();
            }
        }
        let panic = fault == Some(Fault::ParsePanic);
        let parsed = crate::parse::parse_with(doc_type, &key, &bytes, &opts, |_| {
            if panic {
                panic!("injected parser panic (INGEST_FAULT=parse-panic)")
            }
        });
        let doc = parsed.map_err(|e| StageFailure::from_error(&e))?;
        Fault::crash_in(&fault, Stage::Parse);
        let encoded = bincode::serialize(&doc)
            .map_err(|e| StageFailure::new(ErrorClass::Fatal, format!("encode checkpoint: {e}")))?;
        Ok(Parsed::Document(doc, encoded))
    })
    .await
    .map_err(|e| StageFailure::new(ErrorClass::Rejected, format!("parser crashed: {e}")))?
}

async fn chunk_stage(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<Env<Document>>,
    tx: mpsc::Sender<Env<ToEmbed>>,
) {
    while let Some(Env { claim, item }) = rx.recv().await {
        let Some(types) = ctx.svc.of(claim.doc_type) else {
            let f = StageFailure::new(ErrorClass::Fatal, "no pipeline for this type");
            ctx.fail(&claim, Stage::Chunk, f).await;
            continue;
        };
        let chunker = types.chunker.clone();
        let embedder = ctx.svc.embedder.clone();
        let span = doc_span(&claim, Some(&item.info.id));
        // At a lower priority than inference (see `background`).
        let work = super::background::run(move || {
            let _in = span.enter();
            let mut embed = |texts: &[&str]| embedder.embed(texts).map_err(|e| e.to_string());
            if !embedder.takes_token_ids() {
                let count = |t: &str| embedder.count_tokens(t);
                return chunker
                    .chunk(item, &count, &mut embed)
                    .map(ToEmbed::without_ids);
            }
            // The ids of each chunk's text, tokenised once here to count it, go with the
            // chunk to the embedder, which then does not tokenise it again.
            let memo = crate::embed::TokenMemo::new(embedder.as_ref(), embedder.max_tokens());
            let count = |t: &str| memo.count(t);
            let doc = chunker.chunk(item, &count, &mut embed)?;
            let ids = doc
                .chunks
                .iter()
                .map(|c| memo.take(&c.embed_text))
                .collect();
            Ok(ToEmbed { doc, ids })
        });
        // Over the soft limit the document is let go (the blocking work cannot be interrupted;
        // its result is dropped when it ends).
        let timed = ctx.clock.time(
            Stage::Chunk,
            claim.doc_type.as_str(),
            tokio::time::timeout(types.soft_limit, work),
        );
        let result = match timed.await {
            Ok(r) => r,
            Err(_) => {
                ctx.fail(
                    &claim,
                    Stage::Chunk,
                    time_limit(Stage::Chunk, types.soft_limit),
                )
                .await;
                continue;
            }
        };
        Fault::crash_in(&ctx.cfg.fault, Stage::Chunk);
        let to_embed = match result {
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
        let chunked = &to_embed.doc;
        if !ctx
            .checkpoint(
                &claim,
                Stage::Chunk,
                chunked,
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
                item: to_embed,
            })
            .await
            .is_err()
        {
            break;
        }
    }
}

struct PendingEmbed {
    env: Env<ToEmbed>,
    /// One slot per chunk, filled as its batch is embedded: in chunk order for a model whose
    /// vectors depend on their batch, in any order otherwise.
    vectors: Vec<Option<Vec<f32>>>,
    done: usize,
}

impl PendingEmbed {
    fn new(env: Env<ToEmbed>) -> Self {
        let n = env.item.doc.chunks.len();
        Self {
            env,
            vectors: vec![None; n],
            done: 0,
        }
    }

    fn remaining(&self) -> usize {
        self.vectors.len() - self.done
    }
}

/// Embeds chunks in batches. A model whose vectors depend on their batch neighbours gets
/// batches cut from one document in chunk order, the same way every run. Any other model
/// gets length-bucketed batches spanning documents: the stage gathers a window of chunks
/// (or whatever is waiting once the oldest has waited `batch_max_age`), whole documents in
/// arrival order, sorts it by token count and cuts it into batches, so each batch pads to
/// about its own texts' length.
async fn embed_stage(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<Env<ToEmbed>>,
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
    let per_document = !ctx.svc.embedder.batch_invariant();
    let window = batch_size * crate::embed::BUCKET_WINDOW_BATCHES;
    let window_tokens = token_budget * crate::embed::BUCKET_WINDOW_BATCHES;
    loop {
        // Whatever else is waiting joins the queue now, so the next pick sees every
        // document that is ready.
        while !closed {
            match rx.try_recv() {
                Ok(env) => accept(
                    env,
                    &mut queue,
                    &mut waiting,
                    &mut waiting_tokens,
                    &mut oldest,
                ),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
            }
        }
        let aged = oldest.is_some_and(|t| t.elapsed() >= max_age);
        let ready = waiting >= window
            || waiting_tokens >= window_tokens
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
                    Some(env) => accept(env, &mut queue, &mut waiting, &mut waiting_tokens, &mut oldest),
                    None => closed = true,
                },
                _ = sleep_until(deadline) => {}
            }
            continue;
        }
        // The batches to embed now, as (queue index, chunk index) lists.
        let plan: Vec<Vec<(usize, usize)>> = if per_document {
            // The same cut as `embed_in_batches` (reembed), so vectors match across commands.
            next_document(queue.iter().map(|p| (p.done, p.remaining())))
                .map(|qi| (qi, &queue[qi]))
                .map(|(qi, p)| {
                    let tokens: Vec<u32> = p.env.item.doc.chunks.iter().map(|c| c.tokens).collect();
                    let mut batches = Vec::new();
                    let mut start = p.done;
                    while start < tokens.len() && batches.len() < BATCHES_PER_CALL {
                        let end =
                            crate::embed::next_batch_end(&tokens, start, batch_size, token_budget);
                        batches.push((start..end).map(|ci| (qi, ci)).collect());
                        start = end;
                    }
                    batches
                })
                .unwrap_or_default()
        } else {
            let pool = window_pool(
                queue.iter().map(|p| {
                    p.vectors
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_none())
                        .map(|(ci, _)| (ci, p.env.item.doc.chunks[ci].tokens))
                }),
                window,
                window_tokens,
            );
            let tokens: Vec<u32> = pool
                .iter()
                .map(|&(qi, ci)| queue[qi].env.item.doc.chunks[ci].tokens)
                .collect();
            crate::embed::length_sorted_batches(&tokens, batch_size, token_budget)
                .into_iter()
                .map(|b| b.into_iter().map(|i| pool[i]).collect())
                .collect()
        };
        for group in plan.chunks(BATCHES_PER_CALL) {
            let mut inputs = Vec::with_capacity(group.len());
            let mut types = Vec::with_capacity(group.len());
            let mut batch_tokens = Vec::with_capacity(group.len());
            for batch in group {
                let mut texts: Vec<String> = Vec::with_capacity(batch.len());
                let mut ids: Vec<Option<Vec<u32>>> = Vec::with_capacity(batch.len());
                let mut tokens = 0usize;
                for &(qi, ci) in batch {
                    let item = &mut queue[qi].env.item;
                    let c = &item.doc.chunks[ci];
                    tokens += c.tokens as usize;
                    texts.push(c.embed_text.clone());
                    ids.push(item.ids[ci].take());
                }
                inputs.push((texts, ids));
                let owners: Vec<usize> = batch.iter().map(|&(qi, _)| qi).collect();
                types.push(batch_type(&queue, &owners));
                batch_tokens.push(tokens);
            }
            let embedder = ctx.svc.embedder.clone();
            // The group's batches one after the other on one blocking thread, each timed
            // there; the first failure ends the group.
            let work = tokio::task::spawn_blocking(move || {
                let mut out = Vec::with_capacity(inputs.len());
                for (texts, ids) in inputs {
                    let t = Instant::now();
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let result = embedder.embed_tokenized(&refs, &ids);
                    let failed = result.is_err();
                    out.push((result, t.elapsed()));
                    if failed {
                        break;
                    }
                }
                out
            });
            let results = match work.await {
                Ok(r) => r,
                Err(e) => {
                    let f = StageFailure::new(ErrorClass::Fatal, format!("embedding crashed: {e}"));
                    fail_all(&ctx, &mut queue, Stage::Embed, f).await;
                    return;
                }
            };
            for (i, (result, took)) in results.into_iter().enumerate() {
                let (batch, n) = (&group[i], group[i].len());
                ctx.clock.add(Stage::Embed, types[i], took);
                let vectors = match result {
                    Ok(v) if v.len() == n => v,
                    Ok(v) => {
                        let f = StageFailure::new(
                            ErrorClass::Fatal,
                            format!("the embedder returned {} vectors for {n} texts", v.len()),
                        );
                        fail_all(&ctx, &mut queue, Stage::Embed, f).await;
                        return;
                    }
                    Err(e) => {
                        let f = StageFailure::from_error(&e);
                        fail_all(&ctx, &mut queue, Stage::Embed, f).await;
                        return;
                    }
                };
                Fault::crash_in(&ctx.cfg.fault, Stage::Embed);
                for (&(qi, ci), v) in batch.iter().zip(vectors) {
                    queue[qi].vectors[ci] = Some(v);
                    queue[qi].done += 1;
                }
                waiting -= n;
                waiting_tokens = waiting_tokens.saturating_sub(batch_tokens[i]);
                ctx.progress.chunks_embedded(n as u64);
            }
        }
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

/// Embedding batches handed to the blocking thread in one call. Each call is a round trip
/// between the async stage and a blocking thread: two wake-ups, each waiting for a core while
/// the other stages work. Grouped, inference runs batch after batch as in the embed-only
/// bound; a stop or a failure still takes effect within a few batches.
const BATCHES_PER_CALL: usize = 8;

/// Queue a document for embedding and count its chunks and tokens as waiting.
fn accept(
    env: Env<ToEmbed>,
    queue: &mut VecDeque<PendingEmbed>,
    waiting: &mut usize,
    waiting_tokens: &mut usize,
    oldest: &mut Option<Instant>,
) {
    let chunks = &env.item.doc.chunks;
    *waiting += chunks.len();
    *waiting_tokens += chunks.iter().map(|c| c.tokens as usize).sum::<usize>();
    if oldest.is_none() && !chunks.is_empty() {
        *oldest = Some(Instant::now());
    }
    queue.push_back(PendingEmbed::new(env));
}

/// The chunks a batch-invariant model embeds next, as (queue index, chunk index): the
/// waiting chunks of whole documents in arrival order, until `window` chunks or
/// `window_tokens` tokens. Documents then finish (and move on to enrich and store) a window
/// at a time, instead of all at once when the queue (every document in flight past chunking)
/// runs dry. `pending` gives each queued document's waiting (chunk index, tokens).
fn window_pool<I, D>(pending: I, window: usize, window_tokens: usize) -> Vec<(usize, usize)>
where
    I: IntoIterator<Item = D>,
    D: IntoIterator<Item = (usize, u32)>,
{
    let mut pool = Vec::new();
    let mut tokens = 0usize;
    for (qi, doc) in pending.into_iter().enumerate() {
        if pool.len() >= window || tokens >= window_tokens {
            break;
        }
        for (ci, t) in doc {
            pool.push((qi, ci));
            tokens += t as usize;
        }
    }
    pool
}

/// Which queued document a per-document model embeds next, from each one's (chunks done,
/// chunks remaining): the one already started, else the one with the most chunks left
/// (the earliest among equals). What follows the last embedding of a run (enrich, store)
/// takes time in proportion to that document's size, and nothing overlaps it: ending on the
/// smallest documents keeps that tail short.
fn next_document(queue: impl Iterator<Item = (usize, usize)>) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, (done, remaining)) in queue.enumerate() {
        if remaining == 0 {
            continue;
        }
        if done > 0 {
            return Some(i);
        }
        if best.is_none_or(|(_, most)| remaining > most) {
            best = Some((i, remaining));
        }
    }
    best.map(|(i, _)| i)
}

/// The document type of an embedding batch, `mixed` when it spans several.
fn batch_type(queue: &VecDeque<PendingEmbed>, owners: &[usize]) -> &'static str {
    let mut types = owners.iter().map(|&i| queue[i].env.claim.doc_type.as_str());
    let first = types.next().unwrap_or("mixed");
    if types.all(|t| t == first) {
        first
    } else {
        "mixed"
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending::<()>().await,
    }
}

/// Checkpoint and forward the queued documents whose chunks are all embedded, in queue
/// order (documents need not finish in the order they came).
async fn flush_completed(
    ctx: &Ctx,
    queue: &mut VecDeque<PendingEmbed>,
    tx: &mpsc::Sender<Env<EmbeddedDocument>>,
) -> bool {
    while let Some(at) = queue.iter().position(|p| p.remaining() == 0) {
        let Some(p) = queue.remove(at) else { break };
        let Env { claim, item } = p.env;
        let doc = EmbeddedDocument {
            info: item.doc.info,
            chunks: item.doc.chunks,
            model_id: ctx.svc.embedder.model_id().to_string(),
            vectors: p.vectors.into_iter().flatten().collect(),
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
        let Some(types) = ctx.svc.of(claim.doc_type) else {
            let f = StageFailure::new(ErrorClass::Fatal, "no pipeline for this type");
            ctx.fail(&claim, Stage::Enrich, f).await;
            continue;
        };
        let enricher = types.enricher.clone();
        let span = doc_span(&claim, Some(&item.info.id));
        let work = super::background::run(move || {
            let _in = span.enter();
            crate::enrich::enrich(item, &enricher)
        });
        let enriched = match ctx
            .clock
            .time(Stage::Enrich, claim.doc_type.as_str(), work)
            .await
        {
            Ok(e) => {
                Fault::crash_in(&ctx.cfg.fault, Stage::Enrich);
                e
            }
            Err(e) => {
                let f = StageFailure::new(ErrorClass::Rejected, format!("enricher crashed: {e}"));
                ctx.fail(&claim, Stage::Enrich, f).await;
                continue;
            }
        };
        // Only what enrich added: the document and its vectors are the embed checkpoint's.
        if !ctx
            .checkpoint_delta(
                &claim,
                Stage::Enrich,
                &enriched.enrichment(),
                &enriched.info.id,
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
        // Shared with the vector backend's writer thread rather than copied.
        let item = Arc::new(item);
        let span = doc_span(&claim, Some(&item.info.id));
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let stored = store_document(&ctx, &claim, &item).instrument(span.clone());
            match ctx
                .clock
                .time(Stage::Store, claim.doc_type.as_str(), stored)
                .await
            {
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
                // Validators only when this run fetched the body (a resumed job has none:
                // the next refresh then compares content hashes).
                let validators = ctx
                    .validators
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&claim.id)
                    .unwrap_or_default();
                if let Err(e) = ctx
                    .svc
                    .jobs
                    .finish(&claim, &item.info.id, &item.info.content_hash, &validators)
                    .await
                {
                    ctx.set_fatal(format!("{}: store checkpoint failed: {e}", claim.source));
                    break;
                }
                let chunks = item.chunks.len() as u64;
                span.in_scope(|| tracing::info!(stage = "store", chunks, "document stored"));
                let m = crate::metrics::global();
                m.document(claim.doc_type, Stage::Store, crate::metrics::Outcome::Ok);
                m.chunks_stored(claim.doc_type, chunks);
                ctx.progress.stage_done(Stage::Store);
                ctx.settle();
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
    doc: &Arc<EnrichedDocument>,
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
    let vectors = async {
        svc.vectors
            .upsert_document(doc, svc.embedder.dimension())
            .await?;
        Fault::crash_in(&ctx.cfg.fault, Stage::Store);
        if !stale.is_empty() {
            // Superseded chunks go from every model's collection, not only the current one.
            for model in svc.vectors.models().await? {
                svc.vectors.delete_chunks(&model, &stale).await?;
            }
        }
        Ok::<(), StoreError>(())
    };
    // The vector and graph writes do not depend on each other and run on different threads
    // (or servers): both at once, so the last document of a run is stored sooner. Both run to
    // their end even when one fails (a write abandoned halfway could leave a server connection
    // mid-transaction); the first error counts. The relational write goes last, alone: the
    // chunk ids it records are what the next version's superseded chunks are computed from,
    // so they change only once every other store holds this version.
    let (vectors, graph) = tokio::join!(vectors, svc.graph.upsert_document(doc));
    vectors?;
    graph?;
    svc.relational.upsert_document(doc).await?;
    // The source used to yield another document (its identity changed, e.g. a decision now
    // recognised by court and number): that one goes, or it would linger as a duplicate.
    if let Some(old) = claim
        .document_id
        .as_deref()
        .filter(|old| *old != doc.info.id)
    {
        // A newer version of a norm that carries validity dates: the old version stays,
        // in force until the new one's date.
        let new_from = doc.info.valid_from();
        let old_from = svc.relational.validity(old).await?.and_then(|v| v.0);
        match (old_from, new_from) {
            (Some(o), Some(n)) if n > o => svc.relational.close_validity(old, &n).await?,
            _ => {
                delete_everywhere(svc, old).await?;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryConfig;

    #[test]
    fn rejected_inputs_die_at_once_and_transient_ones_retry_until_the_budget_is_spent() {
        let p = RetryPolicy::from_config(&RetryConfig {
            jitter: 0.0,
            ..Default::default()
        });
        assert_eq!(
            after_failure(ErrorClass::Rejected, 0, &p),
            AfterFailure::Dead
        );
        assert_eq!(
            after_failure(ErrorClass::Transient, 0, &p),
            AfterFailure::RetryAfter(Duration::from_secs(60))
        );
        assert_eq!(
            after_failure(ErrorClass::Transient, 2, &p),
            AfterFailure::RetryAfter(Duration::from_secs(240))
        );
        assert_eq!(
            after_failure(ErrorClass::Transient, 3, &p),
            AfterFailure::Dead
        );
    }

    #[test]
    fn a_window_pool_takes_whole_documents_in_order_until_the_window_is_full() {
        let doc = |n: usize, t: u32| (0..n).map(move |ci| (ci, t)).collect::<Vec<_>>();
        // 3 + 4 chunks reach a window of 6: the third document waits for the next pool.
        let pool = window_pool([doc(3, 10), doc(4, 10), doc(5, 10)], 6, 1_000);
        assert_eq!(pool.len(), 7);
        assert!(pool.iter().all(|&(qi, _)| qi < 2));
        assert_eq!(pool[3..], [(1, 0), (1, 1), (1, 2), (1, 3)]);
        // The token bound counts too: the first document alone has 300 tokens.
        let pool = window_pool([doc(3, 100), doc(2, 10)], 100, 300);
        assert_eq!(pool, [(0, 0), (0, 1), (0, 2)]);
        // A document larger than the window goes whole; documents with nothing waiting
        // take no room.
        let pool = window_pool([doc(0, 1), doc(9, 1), doc(1, 1)], 4, 1_000);
        assert_eq!(pool.len(), 9);
        assert!(pool.iter().all(|&(qi, _)| qi == 1));
        assert!(window_pool(Vec::<Vec<(usize, u32)>>::new(), 4, 100).is_empty());
    }

    #[test]
    fn the_started_document_goes_on_else_the_largest_waiting_one_starts() {
        // (chunks done, chunks remaining) per queued document.
        assert_eq!(next_document([].into_iter()), None);
        assert_eq!(next_document([(5, 0), (0, 0)].into_iter()), None);
        assert_eq!(
            next_document([(0, 58), (0, 1216), (0, 2)].into_iter()),
            Some(1)
        );
        // Among equals, the one queued first.
        assert_eq!(next_document([(0, 7), (0, 9), (0, 9)].into_iter()), Some(1));
        // A started document is finished before a larger one starts.
        assert_eq!(
            next_document([(0, 900), (3, 4), (0, 1000)].into_iter()),
            Some(1)
        );
        // A finished document is no candidate.
        assert_eq!(next_document([(10, 0), (0, 1)].into_iter()), Some(1));
    }

    #[test]
    fn fault_names_parse() {
        std::env::set_var("INGEST_FAULT", "crash-in-enrich");
        assert_eq!(Fault::from_env(), Some(Fault::CrashIn(Stage::Enrich)));
        std::env::set_var("INGEST_FAULT", "crash-on:act_3.xml");
        assert_eq!(Fault::from_env(), Some(Fault::CrashOn("act_3.xml".into())));
        std::env::set_var("INGEST_FAULT", "crash-in-nowhere");
        assert_eq!(Fault::from_env(), None);
        std::env::remove_var("INGEST_FAULT");
    }
}
