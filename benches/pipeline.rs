//! Criterion micro-benchmarks of the CPU stages on the bundled fixtures: Akoma Ntoso parsing
//! (bytes/s), each chunker (chunks/s) and citation extraction (bytes/s).
//! `cargo bench --bench pipeline` measures; under `cargo test --all-targets` each benchmark
//! runs once, so they keep compiling and working. No model files are needed: the chunkers
//! count tokens with a cheap deterministic counter and the similarity chunker embeds with a
//! deterministic bag-of-words hash, so what is measured is the chunker itself (tokenizer and
//! model cost are in `ingest bench`, end to end).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use ingest::chunk::Chunker;
use ingest::config::PipelineConfig;
use ingest::enrich::citations::{self, CitationOrigin, CitingContext};
use ingest::pipeline::record::{DocType, Document, DocumentBody};

const NORMS: &[&str] = &[
    "it_normattiva_codice_penale.xml",
    "it_normattiva_legge_bilancio_2023.xml",
    "it_normattiva_dlgs_82_2005_CAD.xml",
    "it_normattiva_dlgs_231_2001.xml",
];
const DECISION: &str = "jurisprudence/cass_snciv2025530039O.txt";
const DOCTRINE: &str = "doctrine/tesi_piras_01-prova-scientifica.md";

fn fixture(rel: &str) -> (String, Vec<u8>) {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
    (p.display().to_string(), bytes)
}

fn parsed(doc_type: DocType, rel: &str) -> Document {
    let (name, bytes) = fixture(rel);
    ingest::parse::parse(doc_type, &name, &bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// About one model token per four bytes, the ratio of the multilingual model on Italian.
fn approx_tokens(s: &str) -> usize {
    s.len().div_ceil(4) + 2
}

/// A deterministic stand-in for a sentence model: words hashed into 64 buckets.
fn bag_of_words(texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
    Ok(texts
        .iter()
        .map(|t| {
            let mut v = vec![0f32; 64];
            for w in t
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 3)
            {
                let h = w
                    .to_lowercase()
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
                    });
                v[(h % 64) as usize] += 1.0;
            }
            v
        })
        .collect())
}

fn chunker(doc_type: DocType, strategy: Option<&str>) -> Chunker {
    let cfg = PipelineConfig::bundled(doc_type).expect("bundled pipeline");
    let mut chunk = cfg.chunk.clone();
    if let Some(s) = strategy {
        chunk.strategy = s.to_string();
    }
    Chunker::from_config(&chunk, &cfg.embed.model, 256)
}

fn chunk_count(c: &Chunker, doc: &Document) -> usize {
    c.chunk(doc.clone(), &approx_tokens, &mut bag_of_words)
        .expect("chunks")
        .chunks
        .len()
}

fn akn_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("akn_parse");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for name in NORMS {
        let (source, bytes) = fixture(&format!("norm/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &bytes, |b, bytes| {
            b.iter(|| ingest::parse::parse(DocType::Norm, &source, black_box(bytes)).unwrap())
        });
    }
    g.finish();
}

fn chunkers(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunk");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let mut cases: Vec<(String, Chunker, Document)> = Vec::new();
    for name in [
        "it_normattiva_dlgs_82_2005_CAD.xml",
        "it_normattiva_codice_penale.xml",
    ] {
        cases.push((
            format!("article/{name}"),
            chunker(DocType::Norm, None),
            parsed(DocType::Norm, &format!("norm/{name}")),
        ));
    }
    cases.push((
        "section/decision".into(),
        chunker(DocType::Jurisprudence, Some("section")),
        parsed(DocType::Jurisprudence, DECISION),
    ));
    cases.push((
        "similarity/doctrine".into(),
        chunker(DocType::Doctrine, Some("similarity")),
        parsed(DocType::Doctrine, DOCTRINE),
    ));
    cases.push((
        "size/doctrine".into(),
        chunker(DocType::Doctrine, Some("size")),
        parsed(DocType::Doctrine, DOCTRINE),
    ));
    for (id, ch, doc) in &cases {
        let n = chunk_count(ch, doc);
        assert!(n > 0, "{id}: no chunks");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(id), doc, |b, doc| {
            b.iter(|| chunk_count(ch, black_box(doc)))
        });
    }
    g.finish();
}

fn citation_extraction(c: &mut Criterion) {
    let mut g = c.benchmark_group("citations");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for name in [
        "it_normattiva_dlgs_231_2001.xml",
        "it_normattiva_dlgs_82_2005_CAD.xml",
    ] {
        let doc = parsed(DocType::Norm, &format!("norm/{name}"));
        let DocumentBody::Akn(akn) = &doc.body else {
            panic!("{name}: not an Akoma Ntoso body")
        };
        let act = akn
            .work_uri
            .as_deref()
            .and_then(citations::act_key_from_frbr);
        // Every paragraph of every article, with its article as the citing context.
        let texts: Vec<(CitingContext, String)> = akn
            .units
            .iter()
            .map(|u| {
                let text: Vec<&str> = u.paragraphs.iter().map(|p| p.text.as_str()).collect();
                (
                    CitingContext::new(act.clone(), u.num.as_deref()),
                    text.join("\n"),
                )
            })
            .collect();
        let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
        let found: usize = texts
            .iter()
            .map(|(ctx, t)| citations::extract(t, ctx, CitationOrigin::Text).len())
            .sum();
        assert!(found > 0, "{name}: no citation found in the text");
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &texts, |b, texts| {
            b.iter(|| {
                texts
                    .iter()
                    .map(|(ctx, t)| {
                        citations::extract(black_box(t), ctx, CitationOrigin::Text).len()
                    })
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, akn_parse, chunkers, citation_extraction);
criterion_main!(benches);
