//! The shape every non-AKN parser produces (PDF, HTML, DOCX, Markdown, plain text, OCR):
//! ordered blocks of text with their kind, page and character offsets into `text`.

use serde::{Deserialize, Serialize};

/// A parsed document that is not Akoma Ntoso.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDocument {
    /// The whole extracted text, blocks joined by "\n\n". Offsets below index into it (bytes).
    pub text: String,
    pub blocks: Vec<Block>,
    /// What the parser could tell: title, author, date, court, number, ... (free keys).
    pub metadata: Vec<(String, String)>,
    /// Number of pages when the source has pages (PDF), else 0.
    pub pages: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub kind: BlockKind,
    /// Byte offsets of the block's text in `TextDocument::text`.
    pub start: usize,
    pub end: usize,
    /// 1-based page where the block starts (0 when the source has no pages).
    pub page: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockKind {
    /// A heading with its level (1 = top).
    Heading(u8),
    Paragraph,
    /// A list item.
    ListItem,
    /// A table flattened to text (cells separated by " | ", rows by "\n").
    Table,
}

impl TextDocument {
    /// Build from blocks of (kind, page, text): joins them with "\n\n" and computes offsets.
    pub fn from_blocks(
        blocks: Vec<(BlockKind, u32, String)>,
        metadata: Vec<(String, String)>,
        pages: u32,
    ) -> Self {
        let mut text = String::new();
        let mut out = Vec::with_capacity(blocks.len());
        for (kind, page, t) in blocks {
            let t = t.trim();
            if t.is_empty() {
                continue;
            }
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            let start = text.len();
            text.push_str(t);
            out.push(Block {
                kind,
                start,
                end: text.len(),
                page,
            });
        }
        TextDocument {
            text,
            blocks: out,
            metadata,
            pages,
        }
    }

    pub fn block_text(&self, b: &Block) -> &str {
        &self.text[b.start..b.end]
    }
}
