//! Chunking of text documents (decisions, doctrine, anything that is not an Akoma Ntoso act):
//! by the decision's sections, by semantic similarity, or by size. Every chunk keeps its
//! document's metadata through its id, its section label or heading path, and a [`TextSpan`]
//! (character offsets and pages) into the extracted text for pinpoint citation.
//!
//! Every strategy respects the model's token budget: a piece whose embedded text (context
//! header included) would not fit is split again at paragraph or sentence boundaries, so no
//! chunk is ever truncated by the model.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::fixed::FixedChunker;
use super::section::{self, SectionKind};
use super::similarity::{chunk_by_similarity, SimilarityConfig};
use super::{ChunkError, TokenCount};
use crate::parse::textdoc::{BlockKind, TextDocument};
use crate::pipeline::record::{Chunk, DocumentInfo, TextSpan};

/// Longest document title kept in the context header, in characters.
const HEADER_TITLE_CHARS: usize = 160;
/// Tokens kept free: joined text can tokenise slightly differently from its parts.
const JOIN_MARGIN: usize = 4;
/// Fewest text tokens a chunk may hold once the header is in.
const MIN_TEXT_TOKENS: usize = 16;

/// How a text document is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TextStrategy {
    /// A court decision's parts: header, facts, reasoning, operative part.
    Section,
    /// Doctrine: new chunk where neighbouring sentence windows stop being similar.
    Similarity,
    /// Sentences packed up to a size, with overlap.
    Size,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextChunker {
    pub strategy: TextStrategy,
    /// Token budget of the embedded text (header and special tokens included).
    pub max_tokens: usize,
    pub context_header: bool,
    /// Longest chunk in characters for the section and size strategies, and the overlap
    /// between consecutive parts of a long section / consecutive size chunks.
    pub max_chars: usize,
    pub overlap_chars: usize,
    /// Similarity strategy: threshold (for the model in use), window, minimum tokens.
    pub similarity: SimilarityConfig,
}

/// Embeds a batch of texts for the similarity strategy.
pub type EmbedFn<'a> = dyn FnMut(&[&str]) -> Result<Vec<Vec<f32>>, String> + 'a;

/// A piece before it becomes a [`Chunk`].
struct Piece {
    /// Structural id (unique in the document once numbered): `facts`, `reasoning`, `c12`.
    eid: String,
    range: Range<usize>,
    unit_kind: &'static str,
    section: Option<String>,
    heading: Option<String>,
    path: Vec<String>,
}

impl TextChunker {
    pub fn chunk(
        &self,
        info: &DocumentInfo,
        doc: &TextDocument,
        count: &dyn TokenCount,
        embed: &mut EmbedFn<'_>,
    ) -> Result<Vec<Chunk>, ChunkError> {
        if doc.text.trim().is_empty() {
            return Err(ChunkError::NoText);
        }
        let title = info.title.as_deref();
        let pieces = match self.strategy {
            TextStrategy::Section => self.sections(doc),
            TextStrategy::Size => self.sized(doc),
            TextStrategy::Similarity => self.similar(doc, title, count, embed)?,
        };
        self.build(info, doc, pieces, count)
    }

    fn sections(&self, doc: &TextDocument) -> Vec<Piece> {
        let labelled: Vec<(String, SectionKind, Option<String>, Range<usize>)> =
            if doc.parts.is_empty() {
                section::sections(doc)
                    .0
                    .into_iter()
                    .map(|s| {
                        (
                            s.kind.label().to_string(),
                            s.kind,
                            s.heading,
                            s.start..s.end,
                        )
                    })
                    .collect()
            } else {
                doc.parts
                    .iter()
                    .map(|p| (p.name.clone(), akn_part_kind(&p.name), None, p.start..p.end))
                    .collect()
            };
        let mut out = Vec::new();
        for (eid, kind, heading, range) in labelled {
            for r in section::split_long(&doc.text, range, self.max_chars, self.overlap_chars) {
                out.push(Piece {
                    eid: eid.clone(),
                    range: r,
                    unit_kind: "section",
                    section: Some(kind.label().to_string()),
                    heading: heading.clone(),
                    path: Vec::new(),
                });
            }
        }
        out
    }

    fn sized(&self, doc: &TextDocument) -> Vec<Piece> {
        let fixed = FixedChunker {
            max_chars: self.max_chars,
            overlap_chars: self.overlap_chars,
        };
        fixed
            .chunk(&doc.text)
            .into_iter()
            .map(|r| {
                let path = heading_path(doc, r.start);
                Piece {
                    eid: "c".into(),
                    range: r,
                    unit_kind: "passage",
                    section: None,
                    heading: path.last().cloned(),
                    path,
                }
            })
            .collect()
    }

    fn similar(
        &self,
        doc: &TextDocument,
        title: Option<&str>,
        count: &dyn TokenCount,
        embed: &mut EmbedFn<'_>,
    ) -> Result<Vec<Piece>, ChunkError> {
        // Leave room for the context header (title and a heading line).
        let header = if self.context_header {
            count.tokens(&header_text(title, None, &[], None)) + 24
        } else {
            0
        };
        let mut cfg = self.similarity.clone();
        cfg.max_tokens = self
            .max_tokens
            .saturating_sub(header + JOIN_MARGIN)
            .max(MIN_TEXT_TOKENS);
        cfg.min_tokens = cfg.min_tokens.min(cfg.max_tokens / 2);
        let chunks =
            chunk_by_similarity(doc, &cfg, count, &mut *embed).map_err(ChunkError::Embed)?;
        Ok(chunks
            .into_iter()
            .map(|c| Piece {
                eid: "c".into(),
                range: c.start..c.end,
                unit_kind: "passage",
                section: None,
                heading: c.headings.last().cloned(),
                path: c.headings,
            })
            .collect())
    }

    /// Fit every piece to the token budget, number the parts, and make the chunks.
    fn build(
        &self,
        info: &DocumentInfo,
        doc: &TextDocument,
        pieces: Vec<Piece>,
        count: &dyn TokenCount,
    ) -> Result<Vec<Chunk>, ChunkError> {
        let title = info.title.as_deref();
        // (piece index, range, header) for every part that fits.
        let mut fitted: Vec<(usize, Range<usize>, String)> = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let header = if self.context_header {
                header_text(title, p.section.as_deref(), &p.path, p.heading.as_deref())
            } else {
                String::new()
            };
            let header_tokens = count.tokens(&header);
            let (header, budget) = match self.max_tokens.checked_sub(header_tokens + JOIN_MARGIN) {
                Some(b) if b >= MIN_TEXT_TOKENS => (header, b),
                _ => (String::new(), self.max_tokens.saturating_sub(JOIN_MARGIN)),
            };
            if budget < MIN_TEXT_TOKENS {
                return Err(ChunkError::BudgetTooSmall {
                    budget: self.max_tokens,
                    header: header_tokens,
                });
            }
            for r in fit(
                &doc.text,
                p.range.clone(),
                budget,
                self.overlap_chars,
                count,
            ) {
                fitted.push((i, r, header.clone()));
            }
        }
        if fitted.is_empty() {
            return Err(ChunkError::NoText);
        }
        let spans = char_offsets(
            &doc.text,
            fitted.iter().flat_map(|(_, r, _)| [r.start, r.end]),
        );
        // Parts per structural id, for `~pN` numbering: sections are numbered within their
        // label, passages across the document.
        let mut totals: std::collections::HashMap<String, u32> = Default::default();
        for (i, _, _) in &fitted {
            *totals.entry(pieces[*i].eid.clone()).or_default() += 1;
        }
        let mut seen: std::collections::HashMap<String, u32> = Default::default();
        let mut chunks = Vec::with_capacity(fitted.len());
        for (k, (i, r, header)) in fitted.into_iter().enumerate() {
            let p = &pieces[i];
            let n = seen.entry(p.eid.clone()).or_default();
            *n += 1;
            let parts = totals[&p.eid];
            let (eid, id, part) = if p.eid == "c" {
                let eid = format!("c{n}");
                (eid.clone(), format!("{}#{eid}", info.id), None)
            } else if parts == 1 {
                (p.eid.clone(), format!("{}#{}", info.id, p.eid), None)
            } else {
                (
                    p.eid.clone(),
                    format!("{}#{}~p{n}", info.id, p.eid),
                    Some(*n),
                )
            };
            let text = doc.text[r.clone()].to_string();
            let embed_text = format!("{header}{text}");
            let tokens = count.tokens(&embed_text) as u32;
            let span = TextSpan {
                char_start: spans[2 * k],
                char_end: spans[2 * k + 1],
                page_start: doc.page_at(r.start),
                page_end: doc.page_at(r.end.saturating_sub(1).max(r.start)),
            };
            chunks.push(Chunk {
                id,
                document_id: info.id.clone(),
                ordinal: k as u32,
                eid,
                part,
                parts: if p.eid == "c" { 1 } else { parts },
                unit_kind: p.unit_kind.to_string(),
                num: None,
                heading: p.heading.clone(),
                path: p.path.clone(),
                text,
                embed_text,
                tokens,
                refs: Vec::new(),
                notes: Vec::new(),
                amendments: Vec::new(),
                repealed: false,
                attachment: None,
                section: p.section.clone(),
                span: Some(span),
            });
        }
        Ok(chunks)
    }
}

/// Section kind of an Akoma Ntoso judgment part.
fn akn_part_kind(name: &str) -> SectionKind {
    match name {
        "background" | "arguments" => SectionKind::Facts,
        "motivation" => SectionKind::Reasoning,
        "decision" | "remedies" | "conclusions" => SectionKind::Operative,
        _ => SectionKind::Header,
    }
}

/// Headings in force at `offset`: the nearest preceding heading of each level, outermost first.
fn heading_path(doc: &TextDocument, offset: usize) -> Vec<String> {
    let mut path: Vec<(u8, String)> = Vec::new();
    for b in doc.blocks.iter().take_while(|b| b.start <= offset) {
        if let BlockKind::Heading(level) = b.kind {
            path.retain(|(l, _)| *l < level);
            path.push((level, doc.block_text(b).to_string()));
        }
    }
    path.into_iter().map(|(_, t)| t).collect()
}

/// What the model reads before the chunk: the document title, then the section label and
/// heading (decisions) or the heading path (doctrine).
fn header_text(
    title: Option<&str>,
    section: Option<&str>,
    path: &[String],
    heading: Option<&str>,
) -> String {
    let mut h = String::new();
    if let Some(t) = title.map(str::trim).filter(|t| !t.is_empty()) {
        h.push_str(&truncate_chars(t, HEADER_TITLE_CHARS));
        h.push('\n');
    }
    let line = match section {
        Some(label) => {
            let name = match label {
                "header" => "Intestazione",
                "facts" => "Fatti di causa",
                "reasoning" => "Ragioni della decisione",
                "operative" => "Dispositivo",
                other => other,
            };
            match heading {
                Some(hd) if !hd.trim().is_empty() && !hd.eq_ignore_ascii_case(name) => {
                    format!("{name} ({})", hd.trim())
                }
                _ => name.to_string(),
            }
        }
        None => path
            .iter()
            .map(|p| truncate_chars(p.trim(), 80))
            .collect::<Vec<_>>()
            .join(" > "),
    };
    if !line.is_empty() {
        h.push_str(&line);
        h.push('\n');
    }
    if !h.is_empty() {
        h.push('\n');
    }
    h
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

/// Split `range` until every part fits `budget` tokens: at paragraph, then sentence, then word
/// boundaries (via [`section::split_long`]), each cut sized from the measured token density.
fn fit(
    text: &str,
    range: Range<usize>,
    budget: usize,
    overlap_chars: usize,
    count: &dyn TokenCount,
) -> Vec<Range<usize>> {
    let tokens = count.tokens(&text[range.clone()]);
    if tokens <= budget {
        return if text[range.clone()].trim().is_empty() {
            Vec::new()
        } else {
            vec![range]
        };
    }
    let chars = text[range.clone()].chars().count();
    // Aim a little under the budget: token density varies along the text.
    let max_chars = ((chars as f64 * budget as f64 / tokens as f64) * 0.85).max(8.0) as usize;
    let overlap = overlap_chars.min(max_chars / 8);
    let parts = section::split_long(text, range.clone(), max_chars, overlap);
    if parts.len() <= 1 {
        // Cannot split further (one giant word): keep it; the model truncates.
        return parts;
    }
    parts
        .into_iter()
        .flat_map(|r| fit(text, r, budget, overlap_chars, count))
        .collect()
}

/// Character offsets of byte offsets (any order), in the order given.
fn char_offsets(text: &str, bytes: impl Iterator<Item = usize>) -> Vec<u32> {
    let wanted: Vec<usize> = bytes.collect();
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| wanted[i]);
    let mut out = vec![0u32; wanted.len()];
    let (mut byte, mut chars) = (0usize, 0u32);
    for i in order {
        let target = wanted[i].min(text.len());
        chars += text[byte..target].chars().count() as u32;
        byte = target;
        out[i] = chars;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::{DocType, NormMeta};

    struct Words;
    impl TokenCount for Words {
        fn tokens(&self, text: &str) -> usize {
            text.split_whitespace().count() + 2
        }
    }

    fn info() -> DocumentInfo {
        DocumentInfo {
            id: "it:cass:civ:2025;30636".into(),
            source: "x.pdf".into(),
            doc_type: DocType::Jurisprudence,
            content_hash: "h".into(),
            bytes: 1,
            title: Some("Cass. civ. ordinanza n. 30636/2025".into()),
            meta: NormMeta::default(),
            metadata: vec![],
            text: None,
        }
    }

    fn chunker(strategy: TextStrategy, max_tokens: usize) -> TextChunker {
        TextChunker {
            strategy,
            max_tokens,
            context_header: true,
            max_chars: 4000,
            overlap_chars: 400,
            similarity: SimilarityConfig::default(),
        }
    }

    fn no_embed(_: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        Err("not used".into())
    }

    fn pdf(name: &str) -> TextDocument {
        let bytes = std::fs::read(format!(
            "{}/fixtures/jurisprudence/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        crate::parse::pdf::parse_pdf(&bytes).unwrap()
    }

    #[test]
    fn decision_sections_fit_the_budget_and_keep_their_label() {
        let doc = pdf("cass_snciv2025530638S.pdf");
        let chunks = chunker(TextStrategy::Section, 256)
            .chunk(&info(), &doc, &Words, &mut no_embed)
            .unwrap();
        let labels: Vec<&str> = chunks
            .iter()
            .map(|c| c.section.as_deref().unwrap())
            .collect();
        let mut dedup = labels.clone();
        dedup.dedup();
        assert_eq!(dedup, ["header", "facts", "reasoning", "operative"]);
        for c in &chunks {
            assert!(c.tokens as usize <= 256, "{} has {} tokens", c.id, c.tokens);
            let span = c.span.unwrap();
            let from_chars: String = doc
                .text
                .chars()
                .skip(span.char_start as usize)
                .take((span.char_end - span.char_start) as usize)
                .collect();
            assert_eq!(from_chars, c.text, "span of {}", c.id);
            assert!(span.page_start >= 1 && span.page_end >= span.page_start);
        }
        // Split sections are numbered within their label; ids are unique.
        let ids: std::collections::HashSet<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), chunks.len());
        assert!(chunks.iter().any(|c| c.id.ends_with("#reasoning~p2")));
        assert!(chunks.last().unwrap().span.unwrap().page_end > 1);
    }

    #[test]
    fn size_strategy_overlaps_and_covers() {
        let doc = pdf("cass_snciv2025530636O.pdf");
        let mut c = chunker(TextStrategy::Size, 100_000);
        c.max_chars = 1500;
        c.overlap_chars = 200;
        let chunks = c.chunk(&info(), &doc, &Words, &mut no_embed).unwrap();
        assert!(chunks.len() >= 3);
        let mut overlapping = 0;
        for w in chunks.windows(2) {
            let (a, b) = (w[0].span.unwrap(), w[1].span.unwrap());
            assert!(b.char_start > a.char_start);
            let gap: String = doc
                .text
                .chars()
                .skip(a.char_end as usize)
                .take((b.char_start as usize).saturating_sub(a.char_end as usize))
                .collect();
            assert!(gap.trim().is_empty(), "no text left out: {gap:?}");
            overlapping += usize::from(b.char_start < a.char_end);
        }
        assert!(overlapping > 0, "consecutive chunks share sentences");
        for ch in &chunks {
            assert!(ch.text.chars().count() <= 1500);
            assert!(ch.section.is_none());
            assert!(ch.id.starts_with("it:cass:civ:2025;30636#c"));
        }
    }

    #[test]
    fn akn_judgment_parts_map_to_sections() {
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/jurisprudence/legaldocml_za_Judgement_2008-11-26.xml"
        ))
        .unwrap();
        let doc = crate::parse::akn::judgment_document(&xml).unwrap();
        let chunks = chunker(TextStrategy::Section, 256)
            .chunk(&info(), &doc, &Words, &mut no_embed)
            .unwrap();
        let mut labels: Vec<&str> = chunks
            .iter()
            .map(|c| c.section.as_deref().unwrap())
            .collect();
        labels.dedup();
        assert_eq!(
            labels,
            ["header", "facts", "header", "reasoning", "operative"]
        );
        assert!(chunks.iter().any(|c| c.eid == "motivation"));
    }

    #[test]
    fn char_offsets_handle_multibyte_text() {
        let t = "àè x ù";
        assert_eq!(
            char_offsets(t, [0, 2, 4, t.len()].into_iter()),
            [0, 1, 2, 6]
        );
    }
}
