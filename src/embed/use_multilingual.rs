//! Universal Sentence Encoder multilingual v3 (int8), the multilingual default, on a direct
//! ONNX Runtime session. `make models` cuts the graph after its SentencePiece custom op and
//! after its word-embedding lookup (`scripts/extract_use.py`): this side tokenises with the
//! `tokenizers` crate (its pipeline, with the unigram model on a compact trie: `unigram.rs`),
//! looks the tokens up in the table on disk (`lookup.rs`) and feeds the ragged batch as
//! concatenated token rows plus row splits, which fastembed cannot express.
//!
//! The graph quantises activations dynamically, so a vector depends slightly on the other
//! texts in its batch: the runner keeps batches within one document and deterministic.

use std::path::Path;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

use super::{EmbedError, Embedder, ModelSpec};

/// Output width of the graph.
const DIMENSION: usize = 512;

pub struct UseMultilingual {
    id: String,
    max_tokens: usize,
    session: Mutex<Session>,
    tokenizer: super::unigram::UnigramTokenizer,
    table: super::lookup::EmbeddingTable,
}

impl UseMultilingual {
    pub fn try_new(
        spec: &ModelSpec,
        dir: &Path,
        env: ort::environment::Environment,
    ) -> Result<Self, EmbedError> {
        let load_err = |message: String| EmbedError::Load {
            model: spec.id.to_string(),
            message,
        };
        // Neither truncates nor pads: a fresh tokenizer does neither.
        let tokenizer = super::unigram::load(&dir.join("tokenizer.json")).map_err(load_err)?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let table = super::lookup::EmbeddingTable::open(
            &dir.join("embeddings.bin"),
            &dir.join("embeddings.json"),
        )
        .map_err(load_err)?;
        let model = dir.join("model_body.onnx");
        let session = Session::builder(&env)
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            // The other stages share these cores: threads that spin while waiting for work
            // would take CPU from chunking and storing, and get preempted themselves.
            .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
            // Every batch has its own token count: a memory pattern (one block planned per
            // input shape) would rarely be reused, and its blocks grow the arena.
            .and_then(|b| b.with_memory_pattern(false).map_err(Into::into))
            .and_then(|mut b| b.commit_from_file(&model))
            .map_err(|e| load_err(format!("{}: {e}", model.display())))?;
        let names: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        if !names.iter().any(|n| n == "embeddings") || !names.iter().any(|n| n == "row_splits") {
            return Err(load_err(format!(
                "{} has inputs {names:?}, expected embeddings and row_splits (re-run `make models`)",
                model.display()
            )));
        }
        Ok(Self {
            id: spec.id.to_string(),
            max_tokens: spec.max_tokens,
            session: Mutex::new(session),
            tokenizer,
            table,
        })
    }

    /// Rows of the word-embedding table read from disk so far: one per distinct token met.
    pub fn table_rows_held(&self) -> usize {
        self.table.rows_held()
    }

    fn inference_err(&self, message: impl Into<String>) -> EmbedError {
        EmbedError::Inference {
            model: self.id.clone(),
            message: message.into(),
        }
    }
}

impl Embedder for UseMultilingual {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn batch_invariant(&self) -> bool {
        false
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.token_ids(text)
            .map(|ids| ids.len())
            // Counting falls back to a pessimistic estimate (one token per byte).
            .unwrap_or(text.len() + 2)
    }

    fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        super::pieces::encode(&self.tokenizer, text, super::pieces::PIECE_BYTES)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| self.inference_err(format!("tokenizer: {e}")))
    }

    fn takes_token_ids(&self) -> bool {
        true
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_tokenized(texts, &vec![None; texts.len()])
    }

    fn embed_tokenized(
        &self,
        texts: &[&str],
        given: &[Option<Vec<u32>>],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // Only the texts that come without ids are tokenised here.
        let token_rows = super::id_rows(
            texts,
            given,
            |_| true,
            |missing| {
                self.tokenizer
                    .encode_batch_fast(missing, true)
                    .map(|es| es.iter().map(|e| e.get_ids().to_vec()).collect())
                    .map_err(|e| format!("tokenizer: {e}"))
            },
        )
        .map_err(|e| self.inference_err(e))?;
        let mut ids: Vec<u32> = Vec::new();
        let mut splits: Vec<i64> = Vec::with_capacity(texts.len() + 1);
        splits.push(0);
        for row in &token_rows {
            ids.extend_from_slice(row);
            splits.push(ids.len() as i64);
        }
        drop(token_rows);
        let (n, b) = (ids.len(), splits.len());
        let rows = self.table.gather(&ids).map_err(|e| self.inference_err(e))?;
        drop(ids);
        let embeddings = Tensor::from_array(([n, self.table.dim()], rows))
            .map_err(|e| self.inference_err(e.to_string()))?;
        let row_splits =
            Tensor::from_array(([b], splits)).map_err(|e| self.inference_err(e.to_string()))?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(ort::inputs!["embeddings" => embeddings, "row_splits" => row_splits])
            .map_err(|e| self.inference_err(e.to_string()))?;
        let (shape, data) = outputs["outputs"]
            .try_extract_tensor::<f32>()
            .map_err(|e| self.inference_err(e.to_string()))?;
        if shape.len() != 2 || shape[0] as usize != texts.len() || shape[1] as usize != DIMENSION {
            return Err(self.inference_err(format!(
                "expected output [{}, {DIMENSION}], got {shape:?}",
                texts.len()
            )));
        }
        Ok(data.chunks(DIMENSION).map(|c| c.to_vec()).collect())
    }
}
