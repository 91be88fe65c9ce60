//! One chunk per Akoma Ntoso unit (article, section, or the whole body).

use super::{ChunkError, TokenCount};
use crate::parse::akn::{Paragraph, RefMark, Unit};
use crate::pipeline::record::{Chunk, ChunkedDocument, Document, DocumentBody};

/// Longest act title kept in the context header, in characters.
const HEADER_TITLE_CHARS: usize = 160;
/// Tokens kept free in each part: joining pieces can tokenise slightly differently from the
/// pieces counted apart.
const JOIN_MARGIN: usize = 4;
/// Fewest text tokens a part may hold once the header is in.
const MIN_TEXT_TOKENS: usize = 8;

#[derive(Debug, Clone)]
pub struct ArticleChunker {
    /// Token budget for the embedded text (header included, special tokens included).
    pub max_tokens: usize,
    pub context_header: bool,
}

impl ArticleChunker {
    pub fn chunk(
        &self,
        doc: Document,
        count: &dyn TokenCount,
    ) -> Result<ChunkedDocument, ChunkError> {
        let akn = match doc.body {
            DocumentBody::Akn(akn) => akn,
            DocumentBody::Text(_) => {
                return Err(ChunkError::Strategy(
                    "\"article\" chunking needs an Akoma Ntoso act; use \"section\", \"similarity\" or \"size\" for other documents".into(),
                ))
            }
        };
        let info = doc.info;
        let unit_kind = match akn.unit_kind {
            crate::parse::akn::UnitKind::Article => "article",
            crate::parse::akn::UnitKind::Section => "section",
            crate::parse::akn::UnitKind::Body => "body",
        };
        let empty_cost = count.tokens("");
        let mut chunks = Vec::new();
        for unit in &akn.units {
            let (header, budget) = self.header_and_budget(info.title.as_deref(), unit, count)?;
            let pieces = unit_pieces(unit);
            if pieces.is_empty() {
                continue;
            }
            let whole: String = join_pieces(&pieces);
            let whole_embed = format!("{header}{whole}");
            let whole_tokens = count.tokens(&whole_embed);
            let parts: Vec<Vec<Piece>> = if whole_tokens <= self.max_tokens {
                vec![pieces]
            } else {
                split_pieces(pieces, budget, empty_cost, count)
            };
            let nparts = parts.len() as u32;
            for (i, part) in parts.into_iter().enumerate() {
                let text = join_pieces(&part);
                let embed_text = format!("{header}{text}");
                let tokens = if nparts == 1 {
                    whole_tokens
                } else {
                    count.tokens(&embed_text)
                };
                let (part_no, id) = if nparts == 1 {
                    (None, format!("{}#{}", info.id, unit.eid))
                } else {
                    (
                        Some(i as u32 + 1),
                        format!("{}#{}~p{}", info.id, unit.eid, i + 1),
                    )
                };
                let refs = part.into_iter().flat_map(|p| p.refs).collect();
                // A unit's editorial notes travel with its first part only, and each amended
                // span with the part whose text holds it: split units do not repeat them (and
                // the citations in them) in every part.
                let amendments = if nparts == 1 {
                    unit.amendments.clone()
                } else {
                    unit.amendments
                        .iter()
                        .filter(|a| text.contains(a.trim()))
                        .cloned()
                        .collect()
                };
                chunks.push(Chunk {
                    id,
                    document_id: info.id.clone(),
                    ordinal: chunks.len() as u32,
                    eid: unit.eid.clone(),
                    part: part_no,
                    parts: nparts,
                    unit_kind: unit_kind.to_string(),
                    num: unit.num.clone(),
                    heading: unit.heading.clone(),
                    path: unit.path.clone(),
                    text,
                    embed_text,
                    tokens: tokens as u32,
                    refs,
                    notes: if i == 0 {
                        unit.notes.clone()
                    } else {
                        Vec::new()
                    },
                    amendments,
                    repealed: unit.repealed,
                    attachment: unit.attachment.clone(),
                    section: None,
                    span: None,
                });
            }
        }
        if chunks.is_empty() {
            return Err(ChunkError::NoText);
        }
        Ok(ChunkedDocument { info, chunks })
    }
}

impl ArticleChunker {
    /// The context header and the token budget left for text. A header that would leave too
    /// little room loses the act title first, then goes altogether.
    fn header_and_budget(
        &self,
        title: Option<&str>,
        unit: &Unit,
        count: &dyn TokenCount,
    ) -> Result<(String, usize), ChunkError> {
        let candidates: Vec<String> = if self.context_header {
            vec![
                context_header(title, unit),
                context_header(None, unit),
                String::new(),
            ]
        } else {
            vec![String::new()]
        };
        let mut last = 0;
        for header in candidates {
            let tokens = count.tokens(&header);
            last = tokens;
            if let Some(budget) = self
                .max_tokens
                .checked_sub(tokens + JOIN_MARGIN)
                .filter(|b| *b >= MIN_TEXT_TOKENS)
            {
                return Ok((header, budget));
            }
        }
        Err(ChunkError::BudgetTooSmall {
            budget: self.max_tokens,
            header: last,
        })
    }
}

/// "Title\nArt. 1. - Rubrica\n\n": what the model sees before the unit's text.
pub fn context_header(title: Option<&str>, unit: &Unit) -> String {
    let mut h = String::new();
    if let Some(t) = title.map(str::trim).filter(|t| !t.is_empty()) {
        h.push_str(&truncate_words(t, HEADER_TITLE_CHARS));
        h.push('\n');
    }
    let mut line = String::new();
    if let Some(n) = unit.num.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        line.push_str(n);
    }
    if let Some(hd) = unit
        .heading
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        if !line.is_empty() {
            line.push_str(" - ");
        }
        line.push_str(hd);
    }
    if !line.is_empty() {
        h.push_str(&line);
        h.push('\n');
    }
    if !h.is_empty() {
        h.push('\n');
    }
    h
}

fn truncate_words(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let cut: String = s.chars().take(max_chars).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max_chars / 2 => cut[..i].to_string(),
        _ => cut,
    };
    format!("{cut}…")
}

/// A run of text that stays together unless it alone exceeds the budget.
#[derive(Debug, Clone)]
struct Piece {
    text: String,
    refs: Vec<RefMark>,
}

fn unit_pieces(unit: &Unit) -> Vec<Piece> {
    unit.paragraphs
        .iter()
        .filter_map(|p: &Paragraph| {
            let body = p.text.trim();
            if body.is_empty() {
                return None;
            }
            let text = match p.num.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(n) => format!("{n} {body}"),
                None => body.to_string(),
            };
            Some(Piece {
                text,
                refs: p.refs.clone(),
            })
        })
        .collect()
}

fn join_pieces(pieces: &[Piece]) -> String {
    let mut s = String::new();
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&p.text);
    }
    s
}

/// Group pieces greedily into parts within `budget` tokens; a piece over budget on its own
/// is cut at sentence ends, then at word boundaries.
fn split_pieces(
    pieces: Vec<Piece>,
    budget: usize,
    empty_cost: usize,
    count: &dyn TokenCount,
) -> Vec<Vec<Piece>> {
    let cost = |t: &str| count.tokens(t).saturating_sub(empty_cost) + 1;
    let mut units: Vec<(Piece, usize)> = Vec::new();
    for p in pieces {
        let c = cost(&p.text);
        if c <= budget {
            units.push((p, c));
        } else {
            units.extend(cut_piece(p, budget, &cost));
        }
    }
    let mut parts: Vec<Vec<Piece>> = Vec::new();
    let mut current: Vec<Piece> = Vec::new();
    let mut used = 0;
    for (p, c) in units {
        if !current.is_empty() && used + c > budget {
            parts.push(std::mem::take(&mut current));
            used = 0;
        }
        used += c;
        current.push(p);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Cut an oversized piece at sentence boundaries, falling back to words; each sub-piece comes
/// with its cost. Atoms are packed by the sum of their own token counts (tokenisers split at
/// whitespace, so the sum is the joined count give or take a token), then each sub-piece is
/// counted once exactly and gives atoms back from its end in the rare case the sum undercounted.
/// Linear in the piece: counting every growing candidate, as before, was quadratic.
fn cut_piece(p: Piece, budget: usize, cost: &dyn Fn(&str) -> usize) -> Vec<(Piece, usize)> {
    let mut atoms: Vec<(String, usize)> = Vec::new();
    for s in split_keep(&p.text, &[". ", "; ", ": "]) {
        let c = cost(&s);
        if c <= budget {
            atoms.push((s, c.saturating_sub(1)));
        } else {
            for w in split_keep(&s, &[" "]) {
                let c = cost(&w);
                atoms.push((w, c.saturating_sub(1)));
            }
        }
    }
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < atoms.len() {
        let mut j = i + 1;
        let mut estimate = atoms[i].1;
        while j < atoms.len() && estimate + atoms[j].1 < budget {
            estimate += atoms[j].1;
            j += 1;
        }
        loop {
            let text: String = atoms[i..j].iter().map(|a| a.0.as_str()).collect();
            let text = text.trim();
            let c = cost(text);
            if c <= budget || j == i + 1 {
                if !text.is_empty() {
                    out.push((text.to_string(), c));
                }
                break;
            }
            j -= 1;
        }
        i = j;
    }
    // Each ref goes with the first sub-piece that contains its text.
    let mut pieces: Vec<(Piece, usize)> = out
        .into_iter()
        .map(|(text, c)| {
            (
                Piece {
                    text,
                    refs: Vec::new(),
                },
                c,
            )
        })
        .collect();
    for r in p.refs {
        let idx = pieces
            .iter()
            .position(|(x, _)| !r.text.is_empty() && x.text.contains(r.text.as_str()))
            .unwrap_or(0);
        if let Some((target, _)) = pieces.get_mut(idx) {
            target.refs.push(r);
        }
    }
    pieces
}

/// Split after each separator, keeping it with the left side.
fn split_keep(text: &str, seps: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(sep) = seps.iter().find(|s| text[i..].starts_with(**s)) {
            let end = i + sep.len();
            out.push(text[start..end].to_string());
            start = end;
            i = end;
        } else {
            i += text[i..].chars().next().map(|c| c.len_utf8()).unwrap_or(1);
        }
    }
    if start < text.len() {
        out.push(text[start..].to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::akn::{AknDocument, UnitKind};
    use crate::pipeline::record::{DocType, DocumentInfo, NormMeta};

    /// One token per whitespace-separated word, plus 2 special tokens: a stand-in tokenizer.
    fn words(t: &str) -> usize {
        t.split_whitespace().count() + 2
    }

    fn para(num: &str, text: &str) -> Paragraph {
        Paragraph {
            eid: None,
            num: Some(num.into()),
            text: text.into(),
            refs: vec![],
        }
    }

    fn unit(eid: &str, paragraphs: Vec<Paragraph>) -> Unit {
        Unit {
            eid: eid.into(),
            num: Some("Art. 1.".into()),
            heading: Some("Oggetto".into()),
            path: vec![],
            paragraphs,
            notes: vec![],
            amendments: vec![],
            repealed: false,
            attachment: None,
        }
    }

    fn doc(units: Vec<Unit>) -> Document {
        Document {
            info: DocumentInfo {
                id: "/akn/it/act/legge/stato/2000-01-01/1/ita@2000-01-02".into(),
                source: "/tmp/x.xml".into(),
                doc_type: DocType::Norm,
                content_hash: "h".into(),
                bytes: 1,
                title: Some("Legge di prova".into()),
                meta: NormMeta::default(),
                metadata: vec![],
                text: None,
            },
            body: DocumentBody::Akn(AknDocument {
                doc_kind: "act".into(),
                doc_name: None,
                work_this: None,
                work_uri: None,
                expression_this: None,
                expression_uri: None,
                urn_nir: None,
                eli: None,
                title: Some("Legge di prova".into()),
                language: None,
                work_date: None,
                expression_date: None,
                unit_kind: UnitKind::Article,
                units,
            }),
        }
    }

    #[test]
    fn one_chunk_per_unit_with_header() {
        let c = ArticleChunker {
            max_tokens: 256,
            context_header: true,
        };
        let d = doc(vec![
            unit(
                "art_1",
                vec![para("1.", "Primo comma."), para("2.", "Secondo.")],
            ),
            unit("art_2", vec![para("1.", "Altro.")]),
        ]);
        let out = c.chunk(d, &words).unwrap();
        assert_eq!(out.chunks.len(), 2);
        let c0 = &out.chunks[0];
        assert_eq!(
            c0.id,
            "/akn/it/act/legge/stato/2000-01-01/1/ita@2000-01-02#art_1"
        );
        assert_eq!(c0.text, "1. Primo comma.\n2. Secondo.");
        assert!(c0
            .embed_text
            .starts_with("Legge di prova\nArt. 1. - Oggetto\n\n"));
        assert!(c0.embed_text.ends_with(&c0.text));
        assert_eq!(c0.part, None);
        assert_eq!(out.chunks[1].ordinal, 1);
    }

    #[test]
    fn long_unit_splits_at_paragraphs_keeping_identity() {
        let c = ArticleChunker {
            max_tokens: 40,
            context_header: true,
        };
        let paragraphs: Vec<Paragraph> = (1..=10)
            .map(|i| para(&format!("{i}."), &"parola ".repeat(8)))
            .collect();
        let out = c
            .chunk(doc(vec![unit("art_1", paragraphs)]), &words)
            .unwrap();
        assert!(out.chunks.len() > 1);
        let n = out.chunks.len() as u32;
        for (i, ch) in out.chunks.iter().enumerate() {
            assert_eq!(ch.eid, "art_1");
            assert_eq!(ch.part, Some(i as u32 + 1));
            assert_eq!(ch.parts, n);
            assert!(ch.id.ends_with(&format!("#art_1~p{}", i + 1)));
            assert!(words(&ch.embed_text) <= 40, "{}", ch.embed_text);
            // Parts start at a paragraph boundary.
            assert!(
                ch.text.starts_with(|c: char| c.is_ascii_digit()),
                "{}",
                ch.text
            );
        }
        // Nothing lost: every paragraph number appears once, in order.
        let all: Vec<String> = out.chunks.iter().map(|c| c.text.clone()).collect();
        let joined = all.join("\n");
        for i in 1..=10 {
            assert_eq!(joined.matches(&format!("{i}. parola")).count(), 1);
        }
    }

    #[test]
    fn notes_go_with_the_first_part_only() {
        let c = ArticleChunker {
            max_tokens: 40,
            context_header: false,
        };
        let paragraphs: Vec<Paragraph> = (1..=6)
            .map(|i| para(&format!("{i}."), &format!("testo {i} ").repeat(8)))
            .collect();
        let mut u = unit("art_1", paragraphs);
        u.notes = vec!["nota redazionale".into()];
        u.amendments = vec!["testo 5 testo 5".into()];
        let out = c.chunk(doc(vec![u]), &words).unwrap();
        assert!(out.chunks.len() > 2);
        assert_eq!(out.chunks[0].notes, vec!["nota redazionale".to_string()]);
        assert!(out.chunks[1..].iter().all(|c| c.notes.is_empty()));
        let with_amendment: Vec<_> = out
            .chunks
            .iter()
            .filter(|c| !c.amendments.is_empty())
            .collect();
        assert_eq!(with_amendment.len(), 1);
        assert!(with_amendment[0].text.contains("5. testo 5"));
    }

    #[test]
    fn oversized_paragraph_is_cut_at_sentences() {
        let c = ArticleChunker {
            max_tokens: 30,
            context_header: false,
        };
        let long = "Prima frase breve. ".repeat(20);
        let out = c
            .chunk(doc(vec![unit("art_9", vec![para("1.", &long)])]), &words)
            .unwrap();
        assert!(out.chunks.len() > 1);
        for ch in &out.chunks {
            assert!(words(&ch.embed_text) <= 30);
        }
        let total: usize = out
            .chunks
            .iter()
            .map(|c| c.text.matches("Prima").count())
            .sum();
        assert_eq!(total, 20);
    }

    #[test]
    fn a_piece_without_sentence_ends_is_cut_at_words_into_full_parts() {
        let c = ArticleChunker {
            max_tokens: 40,
            context_header: false,
        };
        let long: String = (0..500).map(|i| format!("w{i} ")).collect();
        let out = c
            .chunk(doc(vec![unit("art_9", vec![para("1.", &long)])]), &words)
            .unwrap();
        let words_in = |t: &str| t.split_whitespace().count();
        assert_eq!(
            out.chunks.iter().map(|c| words_in(&c.text)).sum::<usize>(),
            501,
            "every word once (and the paragraph number)"
        );
        for ch in &out.chunks {
            assert!(words(&ch.embed_text) <= 40, "{}", ch.embed_text);
        }
        // Packing by summed counts fills the parts: all but the last within a few tokens of
        // the budget (40 - 4 join margin - 2 special tokens).
        for ch in &out.chunks[..out.chunks.len() - 1] {
            assert!(words_in(&ch.text) >= 30, "{}", ch.text);
        }
    }

    #[test]
    fn a_sub_piece_the_summed_counts_undercount_gives_words_back() {
        // A tokenizer whose count of a joined text exceeds the sum of its parts' counts (one
        // extra token per 5 words): packing by the sum overfills, the exact count trims.
        fn lumpy(t: &str) -> usize {
            let n = t.split_whitespace().count();
            n + n / 5 + 2
        }
        let c = ArticleChunker {
            max_tokens: 40,
            context_header: false,
        };
        let long: String = (0..300).map(|i| format!("w{i} ")).collect();
        let out = c
            .chunk(doc(vec![unit("art_9", vec![para("1.", &long)])]), &lumpy)
            .unwrap();
        for ch in &out.chunks {
            assert!(lumpy(&ch.embed_text) <= 40, "{}", ch.embed_text);
        }
        let total: usize = out
            .chunks
            .iter()
            .map(|c| c.text.split_whitespace().count())
            .sum();
        assert_eq!(total, 301);
    }

    #[test]
    fn a_tight_budget_drops_the_title_before_the_header() {
        let c = ArticleChunker {
            max_tokens: 20,
            context_header: true,
        };
        let mut d = doc(vec![unit("art_1", vec![para("1.", "uno due tre")])]);
        d.info.title = Some("titolo ".repeat(30));
        let out = c.chunk(d, &words).unwrap();
        assert!(out.chunks[0]
            .embed_text
            .starts_with("Art. 1. - Oggetto\n\n"));
        assert!(words(&out.chunks[0].embed_text) <= 20);
    }

    #[test]
    fn empty_document_is_rejected() {
        let c = ArticleChunker {
            max_tokens: 100,
            context_header: true,
        };
        let err = c
            .chunk(doc(vec![unit("art_1", vec![])]), &words)
            .unwrap_err();
        assert!(matches!(err, ChunkError::NoText));
    }

    #[test]
    fn split_keep_keeps_separators() {
        assert_eq!(split_keep("a. b. c", &[". "]), vec!["a. ", "b. ", "c"]);
    }
}
