//! The typed records that flow between stages. Each stage consumes the previous stage's record
//! and produces the next, so a pipeline wired in the wrong order does not compile:
//! `Source -> Document -> ChunkedDocument -> EmbeddedDocument -> EnrichedDocument -> stores`.
//! Records are serialised (bincode) as stage checkpoints, so they hold plain data only.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::parse::akn::{AknDocument, RefMark};
use crate::parse::textdoc::TextDocument;

/// The kind of legal document a run ingests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DocType {
    Norm,
    Jurisprudence,
    Doctrine,
}

impl DocType {
    pub fn as_str(self) -> &'static str {
        match self {
            DocType::Norm => "norm",
            DocType::Jurisprudence => "jurisprudence",
            DocType::Doctrine => "doctrine",
        }
    }
}

impl fmt::Display for DocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "norm" => Ok(DocType::Norm),
            "jurisprudence" => Ok(DocType::Jurisprudence),
            "doctrine" => Ok(DocType::Doctrine),
            other => Err(format!(
                "unknown document type {other:?} (expected norm, jurisprudence or doctrine)"
            )),
        }
    }
}

/// The stages, in pipeline order. The discriminant is what a checkpoint stores as
/// "last stage completed" (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Stage {
    Parse = 1,
    Chunk = 2,
    Embed = 3,
    Enrich = 4,
    Store = 5,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Parse,
        Stage::Chunk,
        Stage::Embed,
        Stage::Enrich,
        Stage::Store,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Chunk => "chunk",
            Stage::Embed => "embed",
            Stage::Enrich => "enrich",
            Stage::Store => "store",
        }
    }

    pub fn index(self) -> i64 {
        self as i64
    }

    /// The stage that follows `done` (the last completed stage index), if any.
    pub fn after(done: i64) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.index() == done + 1)
    }

    /// Name of the last completed stage for a checkpoint value.
    pub fn done_name(done: i64) -> &'static str {
        Stage::ALL
            .into_iter()
            .find(|s| s.index() == done)
            .map(|s| s.as_str())
            .unwrap_or("none")
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Document-level facts every later stage and every store needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentInfo {
    /// Deterministic id: a norm's FRBR expression URI; otherwise its source.
    pub id: String,
    pub source: String,
    pub doc_type: DocType,
    /// sha256 of the fetched bytes, hex.
    pub content_hash: String,
    pub bytes: u64,
    pub title: Option<String>,
    pub meta: NormMeta,
    /// What the parser could tell about a non-norm document (author, date, court, number,
    /// kind, ecli, format, ...), as (key, value) pairs in a stable order.
    pub metadata: Vec<(String, String)>,
    /// The extracted text of a text document; chunk spans index into it. `None` for norms.
    pub text: Option<String>,
}

impl DocumentInfo {
    /// For a norm version: the date from which this text is in force (ISO), taken from a
    /// Normattiva export's `VIGENZA_YYYYMMDD` file name, else from the `@YYYY-MM-DD` of its
    /// FRBR expression URI. `None` for other documents and for norms that carry neither.
    pub fn valid_from(&self) -> Option<String> {
        if self.doc_type != DocType::Norm {
            return None;
        }
        let name = self.source.rsplit('/').next().unwrap_or(&self.source);
        if let Some(i) = name.to_ascii_uppercase().find("VIGENZA_") {
            let digits: String = name[i + 8..].chars().take(8).collect();
            if let Some(d) = iso_date(
                &digits[..digits.len().min(4)],
                digits.get(4..6),
                digits.get(6..8),
            ) {
                return Some(d);
            }
        }
        [&self.meta.expression_this, &self.meta.expression_uri]
            .into_iter()
            .flatten()
            .find_map(|uri| {
                let after = &uri[uri.find('@')? + 1..];
                let d = after.get(..10)?;
                iso_date(d.get(..4)?, d.get(5..7), d.get(8..10))
                    .filter(|_| d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-')
            })
    }

    /// The first metadata value under `key`.
    pub fn meta_value(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Akoma Ntoso identification of a norm (all optional: foreign or partial exports lack some).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NormMeta {
    pub doc_kind: Option<String>,
    pub work_this: Option<String>,
    pub work_uri: Option<String>,
    pub expression_this: Option<String>,
    pub expression_uri: Option<String>,
    pub urn_nir: Option<String>,
    pub eli: Option<String>,
    pub language: Option<String>,
    pub work_date: Option<String>,
    pub expression_date: Option<String>,
    pub unit_kind: Option<String>,
}

/// Output of the parse stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub info: DocumentInfo,
    pub body: DocumentBody,
}

/// What the parser extracted; one variant per input family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // one per document, moved through channels: boxing buys nothing
pub enum DocumentBody {
    /// An Akoma Ntoso act (norms): articles or sections.
    Akn(AknDocument),
    /// Everything else (PDF, OCR, HTML, DOCX, Markdown, plain text, AKN judgments): text blocks
    /// with pages and offsets.
    Text(TextDocument),
}

/// One retrieval unit with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// `<document id>#<unit eId>` plus `~p<part>` when a long unit was split.
    pub id: String,
    pub document_id: String,
    /// Position of the chunk in its document, from 0.
    pub ordinal: u32,
    /// Structural id of the unit (Akoma Ntoso eId).
    pub eid: String,
    /// 1-based part number when the unit was split; `None` when the unit is whole.
    pub part: Option<u32>,
    /// Number of parts the unit was split into (1 when whole).
    pub parts: u32,
    pub unit_kind: String,
    pub num: Option<String>,
    pub heading: Option<String>,
    pub path: Vec<String>,
    /// The unit's own text, as stored.
    pub text: String,
    /// What the model embeds: a short context header followed by the text.
    pub embed_text: String,
    /// Model tokens of `embed_text` (special tokens included).
    pub tokens: u32,
    pub refs: Vec<RefMark>,
    pub notes: Vec<String>,
    pub amendments: Vec<String>,
    pub repealed: bool,
    pub attachment: Option<String>,
    /// Part of a decision the chunk belongs to (`header`, `facts`, `reasoning`, `operative`);
    /// for doctrine, `None`.
    pub section: Option<String>,
    /// Where the chunk's text lies in the extracted text, for pinpoint citation; `None` for
    /// norms (their chunks are addressed by eId).
    pub span: Option<TextSpan>,
}

/// Position of a chunk in its document's extracted text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSpan {
    /// Character (Unicode scalar) offsets into the extracted text, end exclusive.
    pub char_start: u32,
    pub char_end: u32,
    /// 1-based first and last page (0 when the source has no pages).
    pub page_start: u32,
    pub page_end: u32,
}

/// Output of the chunk stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkedDocument {
    pub info: DocumentInfo,
    pub chunks: Vec<Chunk>,
}

/// Output of the embed stage: one vector per chunk, same order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedDocument {
    pub info: DocumentInfo,
    pub chunks: Vec<Chunk>,
    pub model_id: String,
    pub vectors: Vec<Vec<f32>>,
}

/// A reference from a chunk to a norm: from the markup (`<ref href>`), the text, or an
/// editorial note, resolved to a canonical key where possible.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    pub chunk_id: String,
    /// `markup`, `text` or `note`.
    pub origin: String,
    /// Canonical id of what is cited, e.g. `urn:nir:stato:legge:1990;241~art2-com1`;
    /// `None` for a markup reference that is not to an Italian act.
    pub norm_id: Option<String>,
    /// Canonical id of the act, e.g. `urn:nir:stato:legge:1990;241`.
    pub act_id: Option<String>,
    /// Canonical id of the article (`<act>~art<N>`), when an article is cited.
    pub article_id: Option<String>,
    /// The act with its full date, when known (`urn:nir:stato:legge:1990-08-07;241`).
    pub act_dated: Option<String>,
    /// The `<ref href>` as written, for markup references.
    pub target_raw: Option<String>,
    /// The citing text.
    pub text: String,
    /// Byte span of `text` in the chunk text (or in the note, for notes).
    pub start: u32,
    pub end: u32,
    /// Which of the chunk's notes, for `note` references.
    pub note: Option<u32>,
    /// The act or article was resolved from context ("art. 5 del presente decreto").
    pub relative: bool,
    /// For a reference to a court decision: its canonical id (`it:cass:civ:2020;12345`) and
    /// its key without the civil/criminal area (`it:cass:2020;12345`); `None` for norms.
    pub decision_id: Option<String>,
    pub decision_key: Option<String>,
}

/// Output of the enrich stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedDocument {
    pub info: DocumentInfo,
    pub chunks: Vec<Chunk>,
    pub model_id: String,
    pub vectors: Vec<Vec<f32>>,
    pub references: Vec<Reference>,
    /// Named entities found in the chunks.
    pub entities: Vec<ChunkEntity>,
    /// Concepts of the vocabulary each chunk mentions.
    pub concepts: Vec<ChunkConcept>,
}

impl EnrichedDocument {
    /// The embedded document with what enrich found (see [`EnrichmentRef`]).
    pub fn from_parts(doc: EmbeddedDocument, found: Enrichment) -> Self {
        EnrichedDocument {
            info: doc.info,
            chunks: doc.chunks,
            model_id: doc.model_id,
            vectors: doc.vectors,
            references: found.references,
            entities: found.entities,
            concepts: found.concepts,
        }
    }

    /// What enrich added to the embedded document, borrowed: the enrich checkpoint holds only
    /// this, next to the embed checkpoint's document (which enrich does not change).
    pub fn enrichment(&self) -> EnrichmentRef<'_> {
        EnrichmentRef {
            references: &self.references,
            entities: &self.entities,
            concepts: &self.concepts,
        }
    }

    /// Concept ids a chunk is linked to, in order.
    pub fn concept_ids(&self, chunk_id: &str) -> Vec<String> {
        self.concepts
            .iter()
            .filter(|c| c.chunk_id == chunk_id)
            .map(|c| c.concept_id.clone())
            .collect()
    }
}

/// What the enrich stage adds to an [`EmbeddedDocument`]; decoded from the enrich checkpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Enrichment {
    pub references: Vec<Reference>,
    pub entities: Vec<ChunkEntity>,
    pub concepts: Vec<ChunkConcept>,
}

/// [`Enrichment`] borrowed from an [`EnrichedDocument`], to encode without copying; both
/// encode the same way.
#[derive(Debug, Serialize)]
pub struct EnrichmentRef<'a> {
    pub references: &'a [Reference],
    pub entities: &'a [ChunkEntity],
    pub concepts: &'a [ChunkConcept],
}

/// A named entity in a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkEntity {
    pub chunk_id: String,
    /// `court`, `organization`, `person`, `date`, `place`, `money`.
    pub kind: String,
    pub text: String,
    /// Byte span in the chunk text.
    pub start: u32,
    pub end: u32,
    /// ISO date, amount with currency, canonical name, court code, ...
    pub normalized: Option<String>,
}

impl ChunkEntity {
    /// People's names are personal data.
    pub fn is_person(&self) -> bool {
        self.kind == "person"
    }
}

/// A chunk mentions a concept of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkConcept {
    pub chunk_id: String,
    pub concept_id: String,
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_order_and_names() {
        assert_eq!(Stage::after(0), Some(Stage::Parse));
        assert_eq!(Stage::after(2), Some(Stage::Embed));
        assert_eq!(Stage::after(5), None);
        assert_eq!(Stage::done_name(0), "none");
        assert_eq!(Stage::done_name(3), "embed");
    }

    #[test]
    fn doc_type_parses() {
        assert_eq!("norm".parse::<DocType>().unwrap(), DocType::Norm);
        assert!("statute".parse::<DocType>().is_err());
    }
}

/// `YYYY-MM-DD` from its parts when they are a plausible calendar date.
fn iso_date(y: &str, m: Option<&str>, d: Option<&str>) -> Option<String> {
    let (m, d) = (m?, d?);
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(ok(y, 4) && ok(m, 2) && ok(d, 2)) {
        return None;
    }
    let (mm, dd): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&mm) && (1..=31).contains(&dd)).then(|| format!("{y}-{m}-{d}"))
}

#[cfg(test)]
mod validity_tests {
    use super::*;

    fn norm(source: &str, expression: Option<&str>) -> DocumentInfo {
        DocumentInfo {
            id: "x".into(),
            source: source.into(),
            doc_type: DocType::Norm,
            content_hash: String::new(),
            bytes: 0,
            title: None,
            meta: NormMeta {
                expression_this: expression.map(str::to_string),
                ..Default::default()
            },
            metadata: vec![],
            text: None,
        }
    }

    #[test]
    fn a_norm_version_is_in_force_from_its_vigenza_or_expression_date() {
        let cad = norm(
            "/data/20050516_005G0104_VIGENZA_20250130.xml",
            Some("/akn/it/act/decreto_legislativo/stato/2005-03-07/82/ita@2024-01-01/!main"),
        );
        assert_eq!(cad.valid_from().as_deref(), Some("2025-01-30"));
        let expr = norm(
            "a.xml",
            Some("/akn/it/act/legge/stato/2007-05-04/56/ita@2007-05-06/!main"),
        );
        assert_eq!(expr.valid_from().as_deref(), Some("2007-05-06"));
        // An expression without a date, a bad date, or no expression: no validity.
        assert_eq!(
            norm("a.xml", Some("/akn/za/by-law/x/main/eng@")).valid_from(),
            None
        );
        assert_eq!(norm("a_VIGENZA_20251399.xml", None).valid_from(), None);
        assert_eq!(norm("a.xml", None).valid_from(), None);
        let mut doctrine = expr.clone();
        doctrine.doc_type = DocType::Doctrine;
        assert_eq!(doctrine.valid_from(), None);
    }
}
