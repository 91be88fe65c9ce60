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
    /// Parts the source itself labels (an Akoma Ntoso judgment's introduction, background,
    /// motivation, decision), in order; empty when parts must be found from the text.
    pub parts: Vec<Part>,
}

/// A span of the text that the source marks up as one part of the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// The source's name for it (`header`, `introduction`, `background`, `motivation`, ...).
    pub name: String,
    pub start: usize,
    pub end: usize,
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
            parts: Vec::new(),
        }
    }

    /// The first metadata value under `key`.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// 1-based page of a byte offset (0 when the source has no pages).
    pub fn page_at(&self, offset: usize) -> u32 {
        match self.blocks.partition_point(|b| b.start <= offset) {
            0 => self.blocks.first().map_or(0, |b| b.page),
            i => self.blocks[i - 1].page,
        }
    }

    pub fn block_text(&self, b: &Block) -> &str {
        &self.text[b.start..b.end]
    }
}
