//! Chunk: split a parsed document into retrieval units. Norms get one chunk per article
//! (or section); an article longer than the model's token budget is split at paragraph
//! (comma) boundaries into parts that keep the article's identity.

pub mod article;
pub mod fixed;
pub mod section;
pub mod sentences;
pub mod similarity;
pub mod text;

use crate::pipeline::record::{ChunkedDocument, Document, DocumentBody};

use crate::pipeline::error::{Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("document has no text to chunk")]
    NoText,
    #[error("{0}")]
    Strategy(String),
    #[error("similarity chunking: {0}")]
    Embed(String),
    #[error("token budget {budget} leaves no room after the context header ({header} tokens)")]
    BudgetTooSmall { budget: usize, header: usize },
}

impl Classify for ChunkError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Rejected
    }
}

/// Counts model tokens of a text, special tokens included.
pub trait TokenCount: Sync {
    fn tokens(&self, text: &str) -> usize;
}

impl<F: Fn(&str) -> usize + Sync> TokenCount for F {
    fn tokens(&self, text: &str) -> usize {
        self(text)
    }
}

/// The chunker a pipeline runs: by article for norms, by section, similarity or size for text
/// documents.
#[derive(Debug, Clone)]
pub enum Chunker {
    Article(article::ArticleChunker),
    Text(text::TextChunker),
}

impl Chunker {
    /// Chunk one document. `embed` is only called by the similarity strategy.
    pub fn chunk(
        &self,
        doc: Document,
        count: &dyn TokenCount,
        embed: &mut text::EmbedFn<'_>,
    ) -> Result<ChunkedDocument, ChunkError> {
        match (self, doc.body) {
            (Chunker::Article(a), body) => a.chunk(
                Document {
                    info: doc.info,
                    body,
                },
                count,
            ),
            (Chunker::Text(t), DocumentBody::Text(text)) => {
                let chunks = t.chunk(&doc.info, &text, count, embed)?;
                Ok(ChunkedDocument {
                    info: doc.info,
                    chunks,
                })
            }
            (Chunker::Text(_), DocumentBody::Akn(_)) => Err(ChunkError::Strategy(
                "an Akoma Ntoso act is chunked by article: ingest it with --type norm".into(),
            )),
        }
    }

    /// The chunker for a pipeline, given the token budget (model limit or smaller).
    pub fn from_config(
        cfg: &crate::config::ChunkConfig,
        model: &str,
        max_tokens: usize,
    ) -> Chunker {
        let strategy = match cfg.strategy.as_str() {
            "article" => {
                return Chunker::Article(article::ArticleChunker {
                    max_tokens,
                    context_header: cfg.context_header,
                })
            }
            "section" => text::TextStrategy::Section,
            "similarity" => text::TextStrategy::Similarity,
            _ => text::TextStrategy::Size,
        };
        Chunker::Text(text::TextChunker {
            strategy,
            max_tokens,
            context_header: cfg.context_header,
            max_chars: cfg.max_chars,
            overlap_chars: cfg.overlap_chars,
            similarity: similarity::SimilarityConfig {
                threshold: cfg.similarity.threshold_for(model),
                window: cfg.similarity.window,
                min_tokens: cfg.similarity.min_tokens,
                max_tokens,
            },
        })
    }
}
