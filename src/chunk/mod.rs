//! Chunk: split a parsed document into retrieval units. Norms get one chunk per article
//! (or section); an article longer than the model's token budget is split at paragraph
//! (comma) boundaries into parts that keep the article's identity.

pub mod article;
pub mod fixed;
pub mod section;
pub mod sentences;

use crate::pipeline::error::{Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("document has no text to chunk")]
    NoText,
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
