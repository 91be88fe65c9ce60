//! Throughput of the CPU stages on the bundled fixtures: Akoma Ntoso parsing (MB/s) and article
//! chunking with the real tokenizer (chunks/s). `cargo bench --bench pipeline` measures;
//! under `cargo test` it runs one quick pass so the bench keeps compiling and working.
//! End-to-end chunks/hour comes from `ingest --json` (see README).

use std::path::Path;
use std::time::Instant;

use ingest::chunk::article::ArticleChunker;
use ingest::pipeline::record::DocType;

const FIXTURES: &[&str] = &[
    "it_normattiva_codice_penale.xml",
    "it_normattiva_legge_bilancio_2023.xml",
    "it_normattiva_dlgs_82_2005_CAD.xml",
    "it_normattiva_dlgs_231_2001.xml",
];

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds = if bench { 5 } else { 1 };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/norm");
    let files: Vec<(String, Vec<u8>)> = FIXTURES
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).expect("fixture")))
        .collect();

    for (name, bytes) in &files {
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let t = Instant::now();
            let doc = ingest::parse::parse(DocType::Norm, name, bytes).expect("parses");
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(doc);
        }
        println!(
            "parse {name}: {:.1} MB/s ({:.1} ms)",
            bytes.len() as f64 / 1e6 / best,
            best * 1e3
        );
    }

    let models = ingest::embed::default_models_dir();
    let embedder = match ingest::embed::load(ingest::embed::DEFAULT_MODEL, &models) {
        Ok(e) => e,
        Err(e) => {
            println!("chunk: skipped ({e})");
            return;
        }
    };
    let chunker = ArticleChunker {
        max_tokens: embedder.max_tokens(),
        context_header: true,
    };
    for (name, bytes) in &files {
        let doc = ingest::parse::parse(DocType::Norm, name, bytes).expect("parses");
        let mut best = f64::MAX;
        let mut n = 0;
        for _ in 0..rounds {
            let d = doc.clone();
            let t = Instant::now();
            let count = |s: &str| embedder.count_tokens(s);
            let out = chunker.chunk(d, &count).expect("chunks");
            best = best.min(t.elapsed().as_secs_f64());
            n = out.chunks.len();
        }
        println!("chunk {name}: {n} chunks, {:.0} chunks/s", n as f64 / best);
    }
}
