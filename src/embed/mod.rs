//! Embedding: the [`Embedder`] trait every model sits behind, the registry of models that
//! install offline (`make models`), and where their files live.

pub mod lookup;
pub mod minilm;
pub mod pieces;
pub mod runtime;
pub mod unigram;
pub mod use_multilingual;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::pipeline::error::{Classify, ErrorClass};

/// The model used when a pipeline names none: multilingual, so it understands Italian.
pub const DEFAULT_MODEL: &str = "use-multilingual-v3-int8";

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("model {model}: file {path} is missing; run `make models` to install it")]
    MissingModelFile { model: String, path: String },
    #[error("unknown model {0:?}; available: {1}")]
    UnknownModel(String, String),
    #[error("ONNX Runtime library {path} could not be loaded: {message}; run `make models` to install it")]
    Runtime { path: String, message: String },
    #[error("model {model} failed to load: {message}")]
    Load { model: String, message: String },
    #[error("model {model} inference failed: {message}")]
    Inference { model: String, message: String },
}

impl Classify for EmbedError {
    fn class(&self) -> ErrorClass {
        // A model that cannot load or run will fail every document the same way.
        ErrorClass::Fatal
    }
}

/// A text embedding model. Implementations are called from blocking threads, never from a
/// tokio worker, and must be safe to share.
pub trait Embedder: Send + Sync {
    /// Stable id; keys the vector collection and the embed checkpoint.
    fn model_id(&self) -> &str;
    fn dimension(&self) -> usize;
    /// Longest input, in model tokens (special tokens included), the model reads whole.
    fn max_tokens(&self) -> usize;
    /// Model tokens of `text`, special tokens included, without truncation.
    fn count_tokens(&self, text: &str) -> usize;
    /// Token ids of `text`, special tokens included, without truncation.
    fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError>;
    /// Whether [`Embedder::embed_tokenized`] uses the token ids it is given (so a caller that
    /// tokenised a text already saves the embedder doing it again).
    fn takes_token_ids(&self) -> bool {
        false
    }
    /// Whether a text's vector is independent of the other texts in its batch. When it is
    /// not (dynamically quantised activations), batches must stay within one document and be
    /// formed the same way every time, so a re-run reproduces its vectors.
    fn batch_invariant(&self) -> bool;
    /// One vector per text, same order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// [`Embedder::embed`], given the token ids of some texts (from [`Embedder::token_ids`]):
    /// the same vectors, without tokenising those texts again.
    fn embed_tokenized(
        &self,
        texts: &[&str],
        ids: &[Option<Vec<u32>>],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let _ = ids;
        self.embed(texts)
    }
}

/// A batch's token id rows, in text order, for the embedders that take token ids: `given[i]`
/// where `usable` accepts it, else the ids `encode` returns for the remaining texts (called at
/// most once, with those texts in order).
pub(crate) fn id_rows<'a>(
    texts: &[&str],
    given: &'a [Option<Vec<u32>>],
    usable: impl Fn(&[u32]) -> bool,
    encode: impl FnOnce(Vec<&str>) -> Result<Vec<Vec<u32>>, String>,
) -> Result<Vec<std::borrow::Cow<'a, [u32]>>, String> {
    fn pick<'g>(g: &'g Option<Vec<u32>>, usable: &impl Fn(&[u32]) -> bool) -> Option<&'g [u32]> {
        g.as_deref().filter(|ids| usable(ids))
    }
    if given.len() != texts.len() {
        return Err(format!(
            "{} texts but {} token id lists",
            texts.len(),
            given.len()
        ));
    }
    let missing: Vec<&str> = texts
        .iter()
        .zip(given)
        .filter(|(_, g)| pick(g, &usable).is_none())
        .map(|(t, _)| *t)
        .collect();
    let mut encoded = if missing.is_empty() {
        Vec::new()
    } else {
        encode(missing)?
    }
    .into_iter();
    given
        .iter()
        .map(|g| match pick(g, &usable) {
            Some(ids) => Ok(std::borrow::Cow::Borrowed(ids)),
            None => encoded
                .next()
                .map(std::borrow::Cow::Owned)
                .ok_or_else(|| "tokenizer returned too few encodings".to_string()),
        })
        .collect()
}

/// Token counting that keeps the ids of every text short enough to be a chunk, so the chunk
/// stage can hand the ids of its chunks' embedded texts to the embedder instead of the
/// embedder tokenising them a second time.
pub struct TokenMemo<'a> {
    embedder: &'a dyn Embedder,
    /// Longest id list kept (the chunk budget): longer texts are counted, not kept.
    keep_up_to: usize,
    seen: std::sync::Mutex<std::collections::HashMap<String, Vec<u32>>>,
}

impl<'a> TokenMemo<'a> {
    pub fn new(embedder: &'a dyn Embedder, keep_up_to: usize) -> Self {
        Self {
            embedder,
            keep_up_to,
            seen: Default::default(),
        }
    }

    /// Tokens of `text`, as [`Embedder::count_tokens`] counts them.
    pub fn count(&self, text: &str) -> usize {
        match self.embedder.token_ids(text) {
            Ok(ids) => {
                let n = ids.len();
                if n <= self.keep_up_to {
                    let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                    seen.insert(text.to_string(), ids);
                }
                n
            }
            // Counting falls back to the embedder's own estimate; nothing is kept.
            Err(_) => self.embedder.count_tokens(text),
        }
    }

    /// The ids of a text counted before, if kept.
    pub fn take(&self, text: &str) -> Option<Vec<u32>> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.remove(text)
    }
}

/// Static description of an installable model.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    pub id: &'static str,
    /// Directory under the models dir.
    pub dir: &'static str,
    pub dimension: usize,
    pub max_tokens: usize,
    pub files: &'static [&'static str],
}

pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        id: "use-multilingual-v3-int8",
        dir: "use-multilingual-v3-int8",
        dimension: 512,
        // The graph takes any length, but the model was trained on short texts: on paraphrased
        // rubricas of the fixtures, 256-token chunks (about 1,000 characters of Italian) found
        // the intended article first 6 times in 10, 512-token chunks 4 times.
        max_tokens: 256,
        files: &[
            "model_body.onnx",
            "embeddings.bin",
            "embeddings.json",
            "tokenizer.json",
        ],
    },
    ModelSpec {
        id: "all-minilm-l6-v2-int8",
        dir: "all-minilm-l6-v2-int8",
        dimension: 384,
        // sentence-transformers' max_seq_length for this model.
        max_tokens: 256,
        files: &[
            minilm::MODEL_FILE,
            "tokenizer.json",
            "config.json",
            "special_tokens_map.json",
            "tokenizer_config.json",
        ],
    },
];

pub fn model_spec(id: &str) -> Result<&'static ModelSpec, EmbedError> {
    MODELS.iter().find(|m| m.id == id).ok_or_else(|| {
        EmbedError::UnknownModel(
            id.to_string(),
            MODELS.iter().map(|m| m.id).collect::<Vec<_>>().join(", "),
        )
    })
}

/// Where `make models` puts model files: `$INGEST_MODELS_DIR`, else the user cache dir.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INGEST_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("ingest").join("models")
}

/// Check a model's files are present, naming the first missing one.
pub fn check_model_files(spec: &ModelSpec, models_dir: &Path) -> Result<PathBuf, EmbedError> {
    let dir = models_dir.join(spec.dir);
    for f in spec.files {
        let p = dir.join(f);
        if !p.is_file() {
            return Err(EmbedError::MissingModelFile {
                model: spec.id.to_string(),
                path: p.display().to_string(),
            });
        }
    }
    Ok(dir)
}

/// Load a model by id from the models dir.
pub fn load(id: &str, models_dir: &Path) -> Result<Arc<dyn Embedder>, EmbedError> {
    let spec = model_spec(id)?;
    let dir = check_model_files(spec, models_dir)?;
    let env = runtime::init(models_dir)?;
    match spec.id {
        "all-minilm-l6-v2-int8" => Ok(Arc::new(minilm::MiniLm::try_new(spec, &dir, env)?)),
        "use-multilingual-v3-int8" => Ok(Arc::new(use_multilingual::UseMultilingual::try_new(
            spec, &dir, env,
        )?)),
        other => Err(EmbedError::UnknownModel(other.to_string(), String::new())),
    }
}

/// Where the batch starting at `start` ends: at most `batch_size` texts and at most
/// `token_budget` padded tokens (texts x longest), always at least one text. Depends only on
/// the token counts, so batches cut from one document are the same on every run.
pub fn next_batch_end(
    tokens: &[u32],
    start: usize,
    batch_size: usize,
    token_budget: usize,
) -> usize {
    let mut longest = 0usize;
    let mut end = start;
    while end < tokens.len() {
        let t = (tokens[end] as usize).max(1);
        let n = end - start;
        if n == batch_size || (n > 0 && (n + 1) * longest.max(t) > token_budget) {
            break;
        }
        longest = longest.max(t);
        end += 1;
    }
    end
}

/// Texts a batch-invariant model's embed stage gathers before it cuts batches, in batches of
/// the pipeline's size: the more texts to choose from, the closer in length each batch.
pub const BUCKET_WINDOW_BATCHES: usize = 8;

/// Length-bucketed batches over a window of texts whose vectors do not depend on their batch
/// neighbours: indices into `tokens`, ordered by token count (ties by position), cut by
/// [`next_batch_end`]. Each batch then pads to a length close to its texts' own, where
/// batches in arrival order pad every text to the longest of a random mix.
pub fn length_sorted_batches(
    tokens: &[u32],
    batch_size: usize,
    token_budget: usize,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..tokens.len()).collect();
    order.sort_by_key(|&i| (tokens[i], i));
    let sorted: Vec<u32> = order.iter().map(|&i| tokens[i]).collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < sorted.len() {
        let end = next_batch_end(&sorted, start, batch_size.max(1), token_budget.max(1));
        out.push(order[start..end].to_vec());
        start = end;
    }
    out
}

/// Embed one document's texts in deterministic batches (see [`next_batch_end`]).
pub fn embed_in_batches(
    embedder: &dyn Embedder,
    texts: &[&str],
    tokens: &[u32],
    batch_size: usize,
    token_budget: usize,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let mut out = Vec::with_capacity(texts.len());
    let mut start = 0;
    while start < texts.len() {
        let end = next_batch_end(tokens, start, batch_size.max(1), token_budget.max(1));
        out.extend(embedder.embed(&texts[start..end])?);
        start = end;
    }
    Ok(out)
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        dot += (*x as f64) * (*y as f64);
        na += (*x as f64) * (*x as f64);
        nb += (*y as f64) * (*y as f64);
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_knows_default() {
        assert_eq!(model_spec(DEFAULT_MODEL).unwrap().dimension, 512);
        assert_eq!(model_spec("all-minilm-l6-v2-int8").unwrap().dimension, 384);
        let err = model_spec("gpt").unwrap_err().to_string();
        assert!(err.contains("all-minilm-l6-v2-int8"), "{err}");
    }

    #[test]
    fn missing_files_name_the_make_target() {
        let tmp = tempfile::tempdir().unwrap();
        let err = check_model_files(model_spec(DEFAULT_MODEL).unwrap(), tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model_body.onnx") && err.contains("make models"),
            "{err}"
        );
    }

    #[test]
    fn batches_respect_count_and_padded_token_budget() {
        let tokens = [10, 10, 10, 100, 10, 10];
        assert_eq!(
            next_batch_end(&tokens, 0, 32, 64),
            3,
            "a fourth text would pad to 4 x 100"
        );
        assert_eq!(
            next_batch_end(&tokens, 3, 32, 64),
            4,
            "an oversized text goes alone"
        );
        assert_eq!(next_batch_end(&tokens, 4, 32, 64), 6);
        assert_eq!(next_batch_end(&tokens, 0, 2, 1000), 2);
        assert_eq!(next_batch_end(&tokens, 6, 2, 1000), 6, "nothing left");
    }

    #[test]
    fn id_rows_keep_usable_given_ids_and_encode_the_rest_once_in_order() {
        let texts = ["a", "bb", "ccc", "dddd"];
        let given = [Some(vec![1]), None, Some(vec![7, 7, 7]), Some(vec![4])];
        let mut calls = Vec::new();
        let rows = id_rows(
            &texts,
            &given,
            |ids| ids.len() < 3,
            |missing| {
                calls.push(missing.iter().map(|t| t.to_string()).collect::<Vec<_>>());
                Ok(missing.iter().map(|t| vec![t.len() as u32 * 10]).collect())
            },
        )
        .unwrap();
        let rows: Vec<Vec<u32>> = rows.iter().map(|r| r.to_vec()).collect();
        assert_eq!(rows, [vec![1], vec![20], vec![30], vec![4]]);
        assert_eq!(calls, [vec!["bb".to_string(), "ccc".to_string()]]);

        // Nothing to tokenise: `encode` is not called.
        let all = [Some(vec![1]), Some(vec![2])];
        let rows = id_rows(&texts[..2], &all, |_| true, |_| panic!("not needed")).unwrap();
        assert_eq!(rows.len(), 2);

        assert!(id_rows(&texts, &all, |_| true, |_| Ok(Vec::new())).is_err());
        let short = id_rows(&texts[..2], &[None, None], |_| true, |_| Ok(vec![vec![1]]));
        assert!(short.unwrap_err().contains("too few"));
    }

    #[test]
    fn length_sorted_batches_group_similar_lengths_and_cover_every_text_once() {
        let tokens = [200, 10, 190, 12, 11, 180, 9, 13];
        let batches = length_sorted_batches(&tokens, 4, 400);
        assert_eq!(
            batches,
            vec![vec![6, 1, 4, 3], vec![7, 5], vec![2, 0]],
            "short texts together, long ones in pairs within 400 padded tokens"
        );
        let mut all: Vec<usize> = batches.concat();
        all.sort();
        assert_eq!(all, (0..tokens.len()).collect::<Vec<_>>());
        // Padded tokens: 4x12 + 2x180 + 2x200 = 808, against 2x200 + 2x190 + 2x180 + 2x13 =
        // 1166 for the same texts cut in arrival order.
        let padded =
            |b: &Vec<usize>| b.len() * b.iter().map(|&i| tokens[i] as usize).max().unwrap();
        assert_eq!(batches.iter().map(padded).sum::<usize>(), 808);
        let mut arrival = Vec::new();
        let mut start = 0;
        while start < tokens.len() {
            let end = next_batch_end(&tokens, start, 4, 400);
            arrival.push((start..end).collect::<Vec<_>>());
            start = end;
        }
        assert_eq!(arrival.iter().map(padded).sum::<usize>(), 1166);
        assert!(length_sorted_batches(&[], 4, 400).is_empty());
    }

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
