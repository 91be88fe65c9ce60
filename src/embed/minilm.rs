//! all-MiniLM-L6-v2 (int8 weights, ONNX) through fastembed's user-defined model API.
//! Weights are quantised, activations are not, so a text's vector does not depend on the
//! other texts in its batch (beyond float rounding): batches may mix documents freely.

use std::path::Path;
use std::sync::Mutex;

use fastembed::{
    InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
};

use super::{EmbedError, Embedder, ModelSpec};

pub struct MiniLm {
    id: String,
    dimension: usize,
    max_tokens: usize,
    model: Mutex<TextEmbedding>,
    /// A copy of the model's tokenizer without truncation or padding, for counting.
    counter: tokenizers::Tokenizer,
}

impl MiniLm {
    pub fn try_new(
        spec: &ModelSpec,
        dir: &Path,
        env: ort::environment::Environment,
    ) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| EmbedError::Load {
                model: spec.id.to_string(),
                message: format!("{}: {e}", dir.join(name).display()),
            })
        };
        let files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let model = UserDefinedEmbeddingModel::new(read("model.onnx")?, files)
            .with_pooling(Pooling::Mean)
            .with_quantization(QuantizationMode::None);
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let options = InitOptionsUserDefined::new()
            .with_environment(env)
            .with_max_length(spec.max_tokens)
            .with_intra_threads(threads);
        let embedding = TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| {
            EmbedError::Load {
                model: spec.id.to_string(),
                message: e.to_string(),
            }
        })?;
        let mut counter = embedding.tokenizer.clone();
        counter
            .with_truncation(None)
            .map_err(|e| EmbedError::Load {
                model: spec.id.to_string(),
                message: e.to_string(),
            })?
            .with_padding(None);
        Ok(Self {
            id: spec.id.to_string(),
            dimension: spec.dimension,
            max_tokens: spec.max_tokens,
            model: Mutex::new(embedding),
            counter,
        })
    }
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
        super::pieces::encode(&*self.counter, text, super::pieces::PIECE_BYTES)
            .map(|e| e.len())
            // A tokenizer failure on counting falls back to a pessimistic estimate.
            .unwrap_or_else(|_| text.len())
    }

    fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        super::pieces::encode(&*self.counter, text, super::pieces::PIECE_BYTES)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| EmbedError::Inference {
                model: self.id.clone(),
                message: format!("tokenizer: {e}"),
            })
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut model = self.model.lock().unwrap_or_else(|p| p.into_inner());
        let vectors = model
            .embed(texts, Some(texts.len()))
            .map_err(|e| EmbedError::Inference {
                model: self.id.clone(),
                message: e.to_string(),
            })?;
        if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != self.dimension) {
            return Err(EmbedError::Inference {
                model: self.id.clone(),
                message: format!(
                    "expected {} vectors of {} dimensions, got {}",
                    texts.len(),
                    self.dimension,
                    vectors.len()
                ),
            });
        }
        Ok(vectors)
    }
}
