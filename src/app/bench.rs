//! `ingest bench`: chunks/hour end to end on a corpus built from the real fixtures, against
//! the embed-only bound of the same model on the same chunks, measured in the same process.
//!
//! 1. The corpus: `--scale` copies of each fixture, each a distinct act (copy 0 is the fixture
//!    itself; copy k rewrites the act number in its FRBR URIs and `urn:nir` alias, so document
//!    and chunk ids differ while the text, and so the work, stays the same).
//! 2. The model is loaded and warmed up on real chunks, the stores opened (fresh embedded ones
//!    in the work dir, or the servers the flags name) and the corpus enqueued; the peak-RSS
//!    mark is reset; only then does the clock start.
//! 3. The run: the same runner `ingest --type norm LIST` uses.
//! 4. Embed only: the stored chunks (embedded text and token count), read back document by
//!    document in corpus order, embedded again with the same embedder in batches cut by the
//!    runner's rules: for a batch-invariant model, length-sorted batches over windows of
//!    texts spanning documents (`length_sorted_batches`); otherwise within each document in
//!    chunk order (`next_batch_end`); the pipeline's batch size and padded-token budget. Only
//!    the `embed` calls are timed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::sync::watch;

use super::{
    graph_url, load_embedder, load_pipeline, open_for_work, read_list, runner_config,
    type_services, GlobalArgs, Opened,
};
use crate::cli::BenchArgs;
use crate::embed::Embedder;
use crate::pipeline::progress::Progress;
use crate::pipeline::record::{DocType, Stage};
use crate::pipeline::runner::{self, Services};
use crate::store::jobs::Scope;

#[derive(Debug, Serialize)]
struct StageFigure {
    stage: &'static str,
    busy_secs: f64,
    /// Busy time over wall time of the run (parse workers run side by side, so this can
    /// exceed 1 for parse).
    share_of_wall: f64,
    /// Pieces of work timed: documents, or embedding batches for embed.
    units: u64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    doc_type: String,
    scale: u32,
    model: String,
    fixtures: usize,
    documents: u64,
    corpus_bytes: u64,
    relational: String,
    vector: String,
    graph: String,
    concurrency: u16,
    batch_size: usize,
    batch_max_tokens: usize,
    chunks: u64,
    elapsed_secs: f64,
    chunks_per_hour: f64,
    embed_only_secs: f64,
    embed_only_batches: u64,
    embed_only_chunks_per_hour: f64,
    /// Within the embed-only pass, untimed there: tokenising the same texts one by one on one
    /// thread (the run does this in its chunk stage, whose counting hands the ids on to the
    /// embedder). `None` for a model that tokenises for itself.
    tokenize_only_secs: Option<f64>,
    /// End-to-end chunks/hour over embed-only chunks/hour.
    ratio: f64,
    stages: Vec<StageFigure>,
    /// VmHWM during the run (the model, already loaded, included); `None` when unreadable.
    peak_rss_kb: Option<u64>,
    /// Whether the peak mark could be reset before the run (else it covers the whole process).
    peak_rss_reset: bool,
    corpus_build_secs: f64,
    warmup_secs: f64,
    load_average_before: Option<String>,
    load_average_after: Option<String>,
    /// CPU time of the run by thread name (`None` where `/proc` is unreadable). ONNX
    /// Runtime's own threads carry the name of the thread that created the session.
    run_cpu: Option<super::cpu::CpuReport>,
    /// The same for the embed-only pass as a whole (reading the chunks back included).
    embed_only_cpu: Option<super::cpu::CpuReport>,
}

pub async fn run(g: &GlobalArgs, a: &BenchArgs) -> anyhow::Result<u8> {
    let doc_type: DocType = a.doc_type.parse().map_err(anyhow::Error::msg)?;
    if doc_type != DocType::Norm {
        bail!(
            "bench --type {doc_type}: the corpus is built from Akoma Ntoso acts; only --type norm is supported"
        );
    }
    let config = load_pipeline(doc_type, None, a.model.as_deref())?;
    let base = a.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)
        .with_context(|| format!("cannot create work dir {}", base.display()))?;
    let work = tempfile::Builder::new()
        .prefix("ingest-bench-")
        .tempdir_in(&base)
        .with_context(|| format!("cannot create a directory in {}", base.display()))?;

    let t = Instant::now();
    let fixtures = fixture_files(&a.fixtures, &a.prefix)?;
    let corpus = build_corpus(&fixtures, a.scale, &work.path().join("corpus"))?;
    let corpus_build_secs = t.elapsed().as_secs_f64();
    let (sources, bad) = read_list(&corpus.list)?;
    if !bad.is_empty() || sources.len() != corpus.files {
        bail!(
            "corpus list {}: {} sources for {} files ({})",
            corpus.list.display(),
            sources.len(),
            corpus.files,
            bad.join("; ")
        );
    }

    let t = Instant::now();
    let embedder = load_embedder(g, &config.embed.model).await?;
    let types = type_services(&config, embedder.as_ref())?;
    warm_up(
        &embedder,
        &types.chunker,
        &fixtures,
        config.embed.batch_size,
        config.embed.batch_max_tokens,
    )
    .await?;
    let warmup_secs = t.elapsed().as_secs_f64();

    let g = GlobalArgs {
        data_dir: work.path().join("data"),
        ..g.clone()
    };
    let (lock, st) = open_for_work(&g, &config, embedder.as_ref()).await?;
    let run_id = super::new_run_id("bench-");
    let stats = st
        .jobs
        .enqueue(
            &run_id,
            doc_type,
            config.queue.priority_for(doc_type),
            &sources,
        )
        .await?;
    if stats.added != sources.len() as u64 {
        bail!(
            "bench: {} of {} corpus sources were already known to the job table; use a fresh relational store",
            sources.len() as u64 - stats.added,
            sources.len()
        );
    }
    let services = Services {
        jobs: st.jobs.clone(),
        relational: st.relational.clone(),
        graph: st.graph.clone(),
        vectors: st.vectors.clone(),
        types: [(doc_type, types)].into(),
        embedder: embedder.clone(),
    };
    let runner_cfg = runner_config(
        &g,
        &config,
        a.concurrency,
        Scope {
            run_id: Some(run_id),
            types: vec![doc_type],
        },
        true,
        Duration::from_secs(1),
        Duration::from_secs(30),
    );
    let (_stop, stop_rx) = watch::channel(false);
    let load_average_before = load_average();
    let peak_rss_reset = reset_peak_rss();
    let cpu_before = super::cpu::snapshot();
    let report = runner::run(services, runner_cfg, Progress::new(false), stop_rx).await;
    let cpu_after = super::cpu::snapshot();
    let peak_rss_kb = crate::status::peak_rss_kb();
    let load_average_after = load_average();
    if let Some(f) = &report.fatal {
        st.close().await;
        bail!("bench run failed: {f}");
    }
    if report.ok != sources.len() as u64 || report.rejected + report.failed > 0 {
        st.close().await;
        bail!(
            "bench run: {} of {} documents ingested ({} rejected, {} failed); the figures would not be comparable",
            report.ok,
            sources.len(),
            report.rejected,
            report.failed
        );
    }

    let only = embed_only(
        &st,
        &sources,
        &embedder,
        config.embed.batch_size,
        config.embed.batch_max_tokens,
    )
    .await;
    let cpu_only = super::cpu::snapshot();
    st.close().await;
    // The embedded vector store flushes when dropped: before the work dir goes.
    drop(st);
    drop(lock);
    let only = only?;
    if only.chunks != report.chunks {
        bail!(
            "bench: the run reported {} chunks but {} were read back from the relational store",
            report.chunks,
            only.chunks
        );
    }
    if only.documents != sources.len() {
        bail!(
            "bench: {} corpus files yielded {} distinct documents (copies must be distinct acts)",
            sources.len(),
            only.documents
        );
    }

    let wall = report.elapsed.as_secs_f64();
    let e2e = super::per_hour(report.chunks, wall);
    let only_rate = super::per_hour(only.chunks, only.elapsed.as_secs_f64());
    let out = BenchReport {
        doc_type: doc_type.to_string(),
        scale: a.scale,
        model: config.embed.model.clone(),
        fixtures: fixtures.len(),
        documents: report.ok,
        corpus_bytes: corpus.bytes,
        relational: g
            .relational_url
            .clone()
            .unwrap_or_else(|| config.store.relational.clone()),
        vector: g
            .vector_url
            .clone()
            .unwrap_or_else(|| config.store.vector.clone()),
        graph: crate::store::neo4j::redact(&graph_url(&g, Some(&config))),
        concurrency: a.concurrency,
        batch_size: config.embed.batch_size,
        batch_max_tokens: config.embed.batch_max_tokens,
        chunks: report.chunks,
        elapsed_secs: wall,
        chunks_per_hour: e2e,
        embed_only_secs: only.elapsed.as_secs_f64(),
        embed_only_batches: only.batches,
        embed_only_chunks_per_hour: only_rate,
        tokenize_only_secs: only.tokenize.map(|t| t.as_secs_f64()),
        ratio: if only_rate > 0.0 {
            e2e / only_rate
        } else {
            0.0
        },
        stages: Stage::ALL
            .into_iter()
            .map(|s| StageFigure {
                stage: s.as_str(),
                busy_secs: report.busy.get(s).as_secs_f64(),
                share_of_wall: if wall > 0.0 {
                    report.busy.get(s).as_secs_f64() / wall
                } else {
                    0.0
                },
                units: report.busy.units(s),
            })
            .collect(),
        peak_rss_kb,
        peak_rss_reset,
        corpus_build_secs,
        warmup_secs,
        load_average_before,
        load_average_after,
        run_cpu: cpu_before
            .as_ref()
            .zip(cpu_after.as_ref())
            .map(|(b, a)| super::cpu::between(b, a)),
        embed_only_cpu: cpu_after
            .as_ref()
            .zip(cpu_only.as_ref())
            .map(|(b, a)| super::cpu::between(b, a)),
    };
    drop(work);
    if let Some(path) = &a.record {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        writeln!(f, "{}", serde_json::to_string(&out)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print_report(&out);
    }
    Ok(super::exit::OK)
}

fn print_report(r: &BenchReport) {
    println!(
        "bench: {} x{} ({} fixtures, {} documents, {:.1} MB), model {}, stores {} / {} / {}, concurrency {}, batches of {} texts / {} padded tokens",
        r.doc_type,
        r.scale,
        r.fixtures,
        r.documents,
        r.corpus_bytes as f64 / 1e6,
        r.model,
        r.relational,
        r.vector,
        r.graph,
        r.concurrency,
        r.batch_size,
        r.batch_max_tokens
    );
    println!(
        "end to end: {} chunks in {:.1}s = {:.0} chunks/hour",
        r.chunks, r.elapsed_secs, r.chunks_per_hour
    );
    println!(
        "embed only: {} chunks in {:.1}s ({} batches) = {:.0} chunks/hour",
        r.chunks, r.embed_only_secs, r.embed_only_batches, r.embed_only_chunks_per_hour
    );
    if let Some(t) = r.tokenize_only_secs {
        println!(
            "of which tokenising (the same texts, one thread, timed apart): {t:.1}s; in the run the chunk stage tokenises and the embed stage reuses the ids"
        );
    }
    println!("ratio end to end / embed only: {:.3}", r.ratio);
    let stages: Vec<String> = r
        .stages
        .iter()
        .map(|s| {
            format!(
                "{} {:.1}s ({:.0}% of wall, {} {})",
                s.stage,
                s.busy_secs,
                s.share_of_wall * 100.0,
                s.units,
                if s.stage == "embed" {
                    "batches"
                } else {
                    "docs"
                }
            )
        })
        .collect();
    println!("busy: {}", stages.join(", "));
    match r.peak_rss_kb {
        Some(kb) => println!(
            "peak RSS: {:.1} MB ({})",
            kb as f64 / 1024.0,
            if r.peak_rss_reset {
                "during the run, model loaded"
            } else {
                "whole process: the peak mark could not be reset"
            }
        ),
        None => println!("peak RSS: unknown (/proc/self/status unreadable)"),
    }
    for (what, cpu, wall) in [
        ("run", &r.run_cpu, r.elapsed_secs),
        ("embed-only pass", &r.embed_only_cpu, r.embed_only_secs),
    ] {
        let Some(c) = cpu else { continue };
        let mut parts: Vec<String> = c
            .groups
            .iter()
            .map(|g| format!("{} x{} {:.1}s", g.name, g.threads, g.secs))
            .collect();
        if c.exited_secs > 0.0 {
            parts.push(format!("exited threads {:.1}s", c.exited_secs));
        }
        println!(
            "CPU in the {what}: {:.1}s ({:.2} cores over {:.1}s timed): {}",
            c.total_secs,
            if wall > 0.0 { c.total_secs / wall } else { 0.0 },
            wall,
            parts.join(", ")
        );
    }
    println!(
        "setup (not timed): corpus {:.1}s, model load + warm-up {:.1}s | load average before {}, after {}",
        r.corpus_build_secs,
        r.warmup_secs,
        r.load_average_before.as_deref().unwrap_or("?"),
        r.load_average_after.as_deref().unwrap_or("?")
    );
}

/// One fixture the corpus copies.
struct Fixture {
    name: String,
    bytes: Vec<u8>,
    /// The act's FRBR work URI and `urn:nir` alias, as written in the file.
    work_uri: String,
    urn_nir: Option<String>,
}

/// The `*.xml` files of `dir` whose name starts with `prefix`, in name order, parsed once for
/// their identity.
fn fixture_files(dir: &Path, prefix: &str) -> anyhow::Result<Vec<Fixture>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read fixtures {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for e in entries {
        let p = e
            .with_context(|| format!("cannot read fixtures {}", dir.display()))?
            .path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_file() && name.ends_with(".xml") && name.starts_with(prefix) {
            paths.push(p);
        }
    }
    paths.sort();
    if paths.is_empty() {
        bail!(
            "fixtures {}: no *.xml file whose name starts with {prefix:?}",
            dir.display()
        );
    }
    let mut out = Vec::new();
    for p in paths {
        let bytes = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let doc = crate::parse::akn::parse(&bytes)
            .map_err(|e| anyhow::anyhow!("fixture {}: {e}", p.display()))?;
        let Some(work_uri) = doc.work_uri.clone().filter(|w| w.contains('/')) else {
            bail!(
                "fixture {}: no FRBRWork FRBRuri, so its copies cannot be given distinct identities",
                p.display()
            );
        };
        out.push(Fixture {
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            bytes,
            work_uri,
            urn_nir: doc.urn_nir.clone(),
        });
    }
    Ok(out)
}

struct Corpus {
    list: PathBuf,
    files: usize,
    bytes: u64,
}

/// `scale` copies of every fixture in `dir`, listed copy by copy (so large and small acts
/// interleave as in a real list), with a list file.
fn build_corpus(fixtures: &[Fixture], scale: u32, dir: &Path) -> anyhow::Result<Corpus> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut list = String::new();
    let mut files = 0;
    let mut bytes = 0u64;
    for copy in 0..scale {
        for f in fixtures {
            let data = if copy == 0 {
                f.bytes.clone()
            } else {
                distinct_copy(f, copy)?
            };
            let name = format!("c{copy:05}_{}", f.name);
            let path = dir.join(&name);
            std::fs::write(&path, &data)
                .with_context(|| format!("cannot write {}", path.display()))?;
            bytes += data.len() as u64;
            files += 1;
            list.push_str(&name);
            list.push('\n');
        }
    }
    let list_path = dir.join("corpus.txt");
    std::fs::write(&list_path, list)
        .with_context(|| format!("cannot write {}", list_path.display()))?;
    Ok(Corpus {
        list: list_path,
        files,
        bytes,
    })
}

/// A copy of a fixture that is another act: the number at the end of its work URI (and of
/// its `urn:nir` alias) gets the copy number appended, everywhere the file names the act
/// (identification, self references), so its document and chunk ids are its own.
fn distinct_copy(f: &Fixture, copy: u32) -> anyhow::Result<Vec<u8>> {
    let text = std::str::from_utf8(&f.bytes)
        .map_err(|e| anyhow::anyhow!("fixture {}: not UTF-8: {e}", f.name))?;
    let renumber = |id: &str, sep: char| -> Option<String> {
        let cut = id.rfind(sep)? + 1;
        Some(format!("{}{}{copy:05}", &id[..cut], &id[cut..]))
    };
    let Some(new_work) = renumber(&f.work_uri, '/') else {
        bail!(
            "fixture {}: work URI {:?} has no number",
            f.name,
            f.work_uri
        );
    };
    let (out, n) = replace_bounded(text, &f.work_uri, &new_work);
    if n == 0 {
        bail!(
            "fixture {}: its work URI {:?} is not written out in the file",
            f.name,
            f.work_uri
        );
    }
    let out = match f
        .urn_nir
        .as_deref()
        .and_then(|u| Some((u, renumber(u, ';')?)))
    {
        Some((old, new)) => replace_bounded(&out, old, &new).0,
        None => out,
    };
    Ok(out.into_bytes())
}

/// Replace every occurrence of `needle` not followed by an ASCII letter or digit (so the act
/// `…/56` does not match inside `…/567`); returns the text and how many were replaced.
fn replace_bounded(text: &str, needle: &str, with: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + text.len() / 50);
    let mut rest = text;
    let mut n = 0;
    while let Some(i) = rest.find(needle) {
        let after = &rest[i + needle.len()..];
        out.push_str(&rest[..i]);
        if after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            out.push_str(needle);
        } else {
            out.push_str(with);
            n += 1;
        }
        rest = after;
    }
    out.push_str(rest);
    (out, n)
}

/// Run the model on real chunks before the clock starts (first-run allocations, lazy
/// initialisation): the first batch of the smallest fixture, twice.
async fn warm_up(
    embedder: &Arc<dyn Embedder>,
    chunker: &crate::chunk::Chunker,
    fixtures: &[Fixture],
    batch_size: usize,
    batch_max_tokens: usize,
) -> anyhow::Result<()> {
    let Some(f) = fixtures.iter().min_by_key(|f| f.bytes.len()) else {
        return Ok(());
    };
    let (e, chunker, name, bytes) = (
        embedder.clone(),
        chunker.clone(),
        f.name.clone(),
        f.bytes.clone(),
    );
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let doc = crate::parse::parse(DocType::Norm, &name, &bytes)
            .map_err(|err| anyhow::anyhow!("warm-up: fixture {name}: {err}"))?;
        let count = |t: &str| e.count_tokens(t);
        let mut embed = |texts: &[&str]| e.embed(texts).map_err(|err| err.to_string());
        let chunked = chunker
            .chunk(doc, &count, &mut embed)
            .map_err(|err| anyhow::anyhow!("warm-up: fixture {name}: {err}"))?;
        // The first batch as the pipeline cuts it: a bigger one would grow the runtime's
        // arena beyond anything the run asks for, and that memory would count in its peak.
        let tokens: Vec<u32> = chunked.chunks.iter().map(|c| c.tokens).collect();
        let end =
            crate::embed::next_batch_end(&tokens, 0, batch_size.max(1), batch_max_tokens.max(1));
        let texts: Vec<&str> = chunked.chunks[..end]
            .iter()
            .map(|c| c.embed_text.as_str())
            .collect();
        for _ in 0..2 {
            e.embed(&texts)?;
        }
        Ok(())
    })
    .await
    .context("warm-up crashed")?
}

struct EmbedOnly {
    documents: usize,
    chunks: u64,
    batches: u64,
    elapsed: Duration,
    tokenize: Option<Duration>,
}

/// Texts waiting to be embedded and their token counts.
#[derive(Default)]
struct Pending {
    texts: Vec<String>,
    tokens: Vec<u32>,
}

/// Embed the stored chunks again, document by document in corpus order, in the runner's
/// batches; only the `embed` calls are timed.
async fn embed_only(
    st: &Opened,
    sources: &[String],
    embedder: &Arc<dyn Embedder>,
    batch_size: usize,
    budget: usize,
) -> anyhow::Result<EmbedOnly> {
    let (batch_size, budget) = (batch_size.max(1), budget.max(1));
    let per_document = !embedder.batch_invariant();
    let mut ids = std::collections::HashSet::new();
    let mut out = EmbedOnly {
        documents: 0,
        chunks: 0,
        batches: 0,
        elapsed: Duration::ZERO,
        tokenize: embedder.takes_token_ids().then_some(Duration::ZERO),
    };
    let mut pending = Pending::default();
    for (i, source) in sources.iter().enumerate() {
        let rows = stored_chunks(st, source).await?;
        let Some((id, _, _)) = rows.first() else {
            bail!("bench: no chunks stored for {source}");
        };
        ids.insert(id.clone());
        out.chunks += rows.len() as u64;
        for (_, text, tokens) in rows {
            pending.texts.push(text);
            pending.tokens.push(tokens);
        }
        // A batch-invariant model's batches span documents (as in the runner); the rest
        // closes at each document's end.
        let last = per_document || i + 1 == sources.len();
        let e = embedder.clone();
        let (rest, batches, took, tokenize) = tokio::task::spawn_blocking(move || {
            if per_document {
                embed_ready(e.as_ref(), pending, batch_size, budget, last)
            } else {
                embed_window(e.as_ref(), pending, batch_size, budget, last)
            }
        })
        .await
        .context("embedding crashed")??;
        pending = rest;
        out.batches += batches;
        out.elapsed += took;
        out.tokenize = out.tokenize.map(|t| t + tokenize);
    }
    out.documents = ids.len();
    Ok(out)
}

/// A batch-invariant model, as in the runner: once a window of texts is waiting (or at the
/// end), all of them in length-sorted batches (`length_sorted_batches`).
fn embed_window(
    e: &dyn Embedder,
    p: Pending,
    batch_size: usize,
    budget: usize,
    all: bool,
) -> anyhow::Result<(Pending, u64, Duration, Duration)> {
    let window = batch_size * crate::embed::BUCKET_WINDOW_BATCHES;
    let window_tokens = budget * crate::embed::BUCKET_WINDOW_BATCHES;
    let tokens: usize = p.tokens.iter().map(|&t| t as usize).sum();
    if !all && p.texts.len() < window && tokens < window_tokens {
        return Ok((p, 0, Duration::ZERO, Duration::ZERO));
    }
    let (mut batches, mut took, mut tokenize) = (0u64, Duration::ZERO, Duration::ZERO);
    for batch in crate::embed::length_sorted_batches(&p.tokens, batch_size, budget) {
        let refs: Vec<&str> = batch.iter().map(|&i| p.texts[i].as_str()).collect();
        let (t, k) = embed_timed(e, &refs)?;
        (took, tokenize) = (took + t, tokenize + k);
        batches += 1;
    }
    Ok((Pending::default(), batches, took, tokenize))
}

/// Embed one batch: the time `embed` took and, apart, for a model that takes token ids, the
/// time tokenising the same texts one by one takes.
fn embed_timed(e: &dyn Embedder, refs: &[&str]) -> anyhow::Result<(Duration, Duration)> {
    let t = Instant::now();
    std::hint::black_box(e.embed(refs)?);
    let took = t.elapsed();
    let mut tokenize = Duration::ZERO;
    if e.takes_token_ids() {
        let t = Instant::now();
        for text in refs {
            std::hint::black_box(e.token_ids(text)?);
        }
        tokenize = t.elapsed();
    }
    Ok((took, tokenize))
}

/// Embed the full batches at the head of `p` (every batch when `all`), returning what is left,
/// the batches embedded, the time spent in `embed`, and (apart, for a model that takes token
/// ids) the time tokenising the same texts one by one takes.
fn embed_ready(
    e: &dyn Embedder,
    mut p: Pending,
    batch_size: usize,
    budget: usize,
    all: bool,
) -> anyhow::Result<(Pending, u64, Duration, Duration)> {
    let (mut start, mut batches, mut took, mut tokenize) =
        (0, 0u64, Duration::ZERO, Duration::ZERO);
    while start < p.texts.len() {
        let end = crate::embed::next_batch_end(&p.tokens, start, batch_size, budget);
        if end == p.texts.len() && !all {
            // Not closed yet: the next document's chunks may still join this batch.
            break;
        }
        let refs: Vec<&str> = p.texts[start..end].iter().map(String::as_str).collect();
        let (t, k) = embed_timed(e, &refs)?;
        (took, tokenize) = (took + t, tokenize + k);
        batches += 1;
        start = end;
    }
    p.texts.drain(..start);
    p.tokens.drain(..start);
    Ok((p, batches, took, tokenize))
}

/// A source's document id and its chunks' embedded texts and token counts, in order.
async fn stored_chunks(st: &Opened, source: &str) -> anyhow::Result<Vec<(String, String, u32)>> {
    let rows: Vec<(String, String, i64)> = match &st.postgres {
        Some(pg) => {
            sqlx::query_as(
                "SELECT d.id, c.embed_text, c.tokens FROM documents d JOIN chunks c ON c.document_id = d.id \
                 WHERE d.source = $1 ORDER BY c.ordinal",
            )
            .bind(source)
            .fetch_all(pg.pool())
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT d.id, c.embed_text, c.tokens FROM documents d JOIN chunks c ON c.document_id = d.id \
                 WHERE d.source = ? ORDER BY c.ordinal",
            )
            .bind(source)
            .fetch_all(st.sqlite.pool())
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(id, text, tokens)| (id, text, u32::try_from(tokens.max(0)).unwrap_or(u32::MAX)))
        .collect())
}

/// Reset the peak-RSS mark (VmHWM) to the current RSS, so setup does not count.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_replace_leaves_longer_numbers_alone() {
        let text = r#"<a v="/akn/x/56"/><b v="/akn/x/56/ita@2007"/><c v="/akn/x/567"/><d href="/akn/x/56#art_1"/>"#;
        let (out, n) = replace_bounded(text, "/akn/x/56", "/akn/x/5600003");
        assert_eq!(n, 3);
        assert_eq!(
            out,
            r#"<a v="/akn/x/5600003"/><b v="/akn/x/5600003/ita@2007"/><c v="/akn/x/567"/><d href="/akn/x/5600003#art_1"/>"#
        );
    }

    #[test]
    fn copies_of_a_fixture_are_distinct_acts() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/norm");
        let fixtures = fixture_files(&dir, "it_normattiva_legge_56").unwrap();
        assert_eq!(fixtures.len(), 1);
        let original =
            crate::parse::parse(DocType::Norm, "a.xml", &fixtures[0].bytes).expect("parses");
        let mut ids = std::collections::HashSet::new();
        ids.insert(original.info.id.clone());
        for copy in 1..4 {
            let bytes = distinct_copy(&fixtures[0], copy).unwrap();
            let doc = crate::parse::parse(DocType::Norm, "a.xml", &bytes).expect("copy parses");
            assert!(
                doc.info.id.contains(&format!("/56{copy:05}/")),
                "{}",
                doc.info.id
            );
            assert!(
                ids.insert(doc.info.id.clone()),
                "duplicate id {}",
                doc.info.id
            );
            // Same text, so the same work per copy.
            let (
                crate::pipeline::record::DocumentBody::Akn(a),
                crate::pipeline::record::DocumentBody::Akn(b),
            ) = (&original.body, &doc.body)
            else {
                panic!("not an AKN body");
            };
            assert_eq!(a.units.len(), b.units.len());
            assert_eq!(a.title, b.title);
            let urn = b.urn_nir.as_deref().unwrap_or_default();
            assert!(urn.ends_with(&format!(";56{copy:05}")), "{urn}");
        }
    }
}
