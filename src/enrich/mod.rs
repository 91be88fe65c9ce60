//! Enrich: references to norms, resolved to canonical ids. Markup references (`<ref href>`),
//! citations in the text ("art. 2043 c.c.", "legge 7 agosto 1990, n. 241") and in editorial
//! notes become [`Reference`]s keyed by URN:NIR-style ids, so stores can join a citation to
//! the cited act and article.

pub mod citations;
pub mod concepts;
pub mod decisions;
pub mod entities;

use citations::{Citation, CitationOrigin, CitingContext, NormKey};

use crate::pipeline::record::{
    Chunk, ChunkConcept, ChunkEntity, EmbeddedDocument, EnrichedDocument, Enrichment, Reference,
};

/// A letter or digit folded to lowercase ASCII (Latin accents removed); None for separators.
/// Shared by concept, entity and decision matching so they fold text the same way.
pub(crate) fn fold_char(c: char) -> Option<char> {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase());
    }
    let l = c.to_lowercase().next().unwrap_or(c);
    let f = match l {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        _ => l,
    };
    f.is_alphanumeric().then_some(f)
}

/// The canonical key of the document's own act, from its `urn:nir` alias or FRBR work.
pub fn document_act(meta: &crate::pipeline::record::NormMeta) -> Option<NormKey> {
    [&meta.urn_nir, &meta.work_this, &meta.work_uri]
        .into_iter()
        .flatten()
        .find_map(|s| citations::act_key_from_frbr(s))
}

/// "Art. 25-septiesdecies." -> "25-septiesdecies"; None when the unit is not numbered as an
/// article.
pub fn article_number(num: &str) -> Option<String> {
    let t = num.trim();
    let lower = t.to_lowercase();
    let rest = ["articolo", "art."]
        .iter()
        .find_map(|p| lower.strip_prefix(p).map(|_| t[p.len()..].trim()))?;
    let n = rest.trim_end_matches(['.', ' ']).trim();
    (!n.is_empty() && n.starts_with(|c: char| c.is_ascii_digit())).then(|| n.to_string())
}

/// The article a chunk is the text of, as a canonical id (`<act>~art<N>`).
pub fn chunk_article_id(act: Option<&NormKey>, chunk: &Chunk) -> Option<String> {
    let act = act?;
    if chunk.unit_kind != "article" {
        return None;
    }
    let n = article_number(chunk.num.as_deref()?)?;
    let ctx = CitingContext::new(Some(act.clone()), Some(&n));
    ctx.article.map(|a| format!("{}~art{a}", act.id()))
}

fn reference(chunk: &Chunk, c: Citation, raw: Option<String>, note: Option<u32>) -> Reference {
    let origin = match c.origin {
        CitationOrigin::Markup => "markup",
        CitationOrigin::Text => "text",
        CitationOrigin::Note => "note",
    };
    Reference {
        chunk_id: chunk.id.clone(),
        origin: origin.to_string(),
        norm_id: Some(c.key.id()),
        act_id: Some(c.key.act_key().id()),
        article_id: c.key.article.as_ref().map(|_| c.key.article_id()),
        act_dated: c.key.act_dated.clone(),
        target_raw: raw,
        text: c.text,
        start: c.start as u32,
        end: c.end as u32,
        note,
        relative: c.relative,
        decision_id: None,
        decision_key: None,
    }
}

/// The enrichment data a pipeline uses: the entity gazetteer and the concept vocabulary
/// (bundled, or the files the pipeline names).
#[derive(Debug, Clone)]
pub struct Enricher {
    pub gazetteer: std::sync::Arc<entities::Gazetteer>,
    pub vocabulary: std::sync::Arc<concepts::Vocabulary>,
}

impl Enricher {
    /// The bundled gazetteer and vocabulary.
    pub fn bundled() -> Self {
        Enricher {
            gazetteer: std::sync::Arc::new(entities::Gazetteer::bundled().clone()),
            vocabulary: std::sync::Arc::new(concepts::Vocabulary::bundled().clone()),
        }
    }

    /// From a pipeline's `[enrich]` section: empty paths mean the bundled files.
    pub fn from_config(cfg: &crate::config::EnrichConfig) -> Result<Self, String> {
        let read = |path: &str| {
            std::fs::read_to_string(path).map_err(|e| format!("enrich: cannot read {path}: {e}"))
        };
        let mut out = Self::bundled();
        if !cfg.gazetteer.trim().is_empty() {
            let text = read(&cfg.gazetteer)?;
            out.gazetteer = std::sync::Arc::new(entities::Gazetteer::parse(&text, &cfg.gazetteer)?);
        }
        if !cfg.concepts.trim().is_empty() {
            let text = read(&cfg.concepts)?;
            out.vocabulary =
                std::sync::Arc::new(concepts::Vocabulary::parse(&text, &cfg.concepts)?);
        }
        Ok(out)
    }
}

/// Resolve every chunk's references to norms and decisions, find named entities and link
/// concepts.
pub fn enrich(doc: EmbeddedDocument, enricher: &Enricher) -> EnrichedDocument {
    let act = document_act(&doc.info.meta);
    let own_decision = doc.info.meta_value("decision_key").map(str::to_string);
    let mut references = Vec::new();
    let mut found_entities = Vec::new();
    let mut found_concepts = Vec::new();
    for chunk in &doc.chunks {
        for d in decisions::find_decision_citations(&chunk.text) {
            // A decision's header names the decision itself: not a citation.
            if own_decision.as_deref() == Some(d.key.as_str()) {
                continue;
            }
            references.push(Reference {
                chunk_id: chunk.id.clone(),
                origin: "text".to_string(),
                norm_id: None,
                act_id: None,
                article_id: None,
                act_dated: None,
                target_raw: d.ecli.clone(),
                text: d.text,
                start: d.start as u32,
                end: d.end as u32,
                note: None,
                relative: false,
                decision_id: Some(d.id),
                decision_key: Some(d.key),
            });
        }
        for e in entities::find_entities(&chunk.text, &enricher.gazetteer) {
            found_entities.push(ChunkEntity {
                chunk_id: chunk.id.clone(),
                kind: e.kind.as_str().to_string(),
                text: e.text,
                start: e.start as u32,
                end: e.end as u32,
                normalized: e.normalized,
            });
        }
        let mut concept_text = chunk.heading.clone().unwrap_or_default();
        concept_text.push('\n');
        concept_text.push_str(&chunk.text);
        for id in enricher.vocabulary.related_concept_ids(&concept_text) {
            let label = enricher
                .vocabulary
                .concepts()
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.label.clone())
                .unwrap_or_default();
            found_concepts.push(ChunkConcept {
                chunk_id: chunk.id.clone(),
                concept_id: id,
                label,
            });
        }
        let article = chunk.num.as_deref().and_then(article_number);
        let ctx = CitingContext::new(act.clone(), article.as_deref());
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut search_from = 0;
        for r in &chunk.refs {
            let href = r.href.trim();
            if href.is_empty() {
                continue;
            }
            // Locate the ref's text in the chunk text, in order, for its span.
            let (start, end) = match chunk.text[search_from..].find(r.text.as_str()) {
                Some(i) if !r.text.is_empty() => {
                    let s = search_from + i;
                    search_from = s + r.text.len();
                    (s, s + r.text.len())
                }
                _ => (0, 0),
            };
            if end > start {
                spans.push((start, end));
            }
            match citations::resolve_href(href, &ctx) {
                Some(key) => {
                    let c = Citation {
                        key,
                        start,
                        end,
                        text: r.text.clone(),
                        origin: CitationOrigin::Markup,
                        relative: href.starts_with('#'),
                    };
                    references.push(reference(chunk, c, Some(href.to_string()), None));
                }
                None => references.push(Reference {
                    chunk_id: chunk.id.clone(),
                    origin: "markup".to_string(),
                    norm_id: None,
                    act_id: None,
                    article_id: None,
                    act_dated: None,
                    target_raw: Some(href.to_string()),
                    text: r.text.clone(),
                    start: start as u32,
                    end: end as u32,
                    note: None,
                    relative: false,
                    decision_id: None,
                    decision_key: None,
                }),
            }
        }
        // Text citations the markup already carries are not counted twice.
        for c in citations::extract(&chunk.text, &ctx, CitationOrigin::Text) {
            if spans.iter().any(|(s, e)| c.start < *e && *s < c.end) {
                continue;
            }
            references.push(reference(chunk, c, None, None));
        }
        for (i, note) in chunk.notes.iter().enumerate() {
            for c in citations::extract(note, &ctx, CitationOrigin::Note) {
                references.push(reference(chunk, c, None, Some(i as u32)));
            }
        }
    }
    EnrichedDocument::from_parts(
        doc,
        Enrichment {
            references,
            entities: found_entities,
            concepts: found_concepts,
        },
    )
}

/// Distinct decision ids a chunk cites, in first-seen order.
pub fn referenced_decision_ids<'a>(
    chunk_id: &str,
    refs: impl IntoIterator<Item = &'a Reference>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in refs {
        if r.chunk_id == chunk_id {
            if let Some(id) = &r.decision_id {
                if !out.contains(id) {
                    out.push(id.clone());
                }
            }
        }
    }
    out
}

/// Distinct canonical ids a chunk cites, in first-seen order.
pub fn referenced_norm_ids<'a>(
    chunk_id: &str,
    refs: impl IntoIterator<Item = &'a Reference>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in refs {
        if r.chunk_id == chunk_id {
            if let Some(id) = &r.norm_id {
                if !out.contains(id) {
                    out.push(id.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::akn::RefMark;
    use crate::pipeline::record::{DocType, DocumentInfo, NormMeta};

    fn chunk(id: &str, num: &str, text: &str, refs: Vec<(&str, &str)>, notes: Vec<&str>) -> Chunk {
        Chunk {
            id: id.into(),
            document_id: "d".into(),
            ordinal: 0,
            eid: "art_1".into(),
            part: None,
            parts: 1,
            unit_kind: "article".into(),
            num: Some(num.into()),
            heading: None,
            path: vec![],
            text: text.into(),
            embed_text: text.into(),
            tokens: 3,
            refs: refs
                .into_iter()
                .map(|(h, t)| RefMark {
                    href: h.into(),
                    text: t.into(),
                })
                .collect(),
            notes: notes.into_iter().map(String::from).collect(),
            amendments: vec![],
            repealed: false,
            attachment: None,
            section: None,
            span: None,
        }
    }

    fn doc(chunks: Vec<Chunk>) -> EmbeddedDocument {
        let n = chunks.len();
        EmbeddedDocument {
            info: DocumentInfo {
                id: "d".into(),
                source: "s".into(),
                doc_type: DocType::Norm,
                content_hash: "h".into(),
                bytes: 1,
                title: None,
                meta: NormMeta {
                    urn_nir: Some("urn:nir:stato:decreto.legislativo:2001-06-08;231".into()),
                    ..NormMeta::default()
                },
                metadata: vec![],
                text: None,
            },
            chunks,
            model_id: "m".into(),
            vectors: vec![vec![0.0]; n],
        }
    }

    #[test]
    fn markup_text_and_notes_resolve_to_canonical_ids() {
        let text =
            "Ai sensi dell'art. 14 della legge 23 agosto 1988, n. 400, e dell'art. 2043 c.c., \
                    si applica l'art. 5 del presente decreto.";
        let out = enrich(
            doc(vec![chunk(
                "d#art_1",
                "Art. 1.",
                text,
                vec![
                    (
                        "/akn/it/act/legge/stato/1988-08-23/400/!main#art_14",
                        "art. 14 della legge 23 agosto 1988, n. 400",
                    ),
                    (
                        "/akn/eu/act/regolamento/ue/2016-04-27/679/!main",
                        "regolamento (UE) 2016/679",
                    ),
                ],
                vec!["Si riporta il testo dell'art. 360 c.p.c."],
            )]),
            &Enricher::bundled(),
        );
        let ids: Vec<(&str, Option<&str>)> = out
            .references
            .iter()
            .map(|r| (r.origin.as_str(), r.norm_id.as_deref()))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("markup", Some("urn:nir:stato:legge:1988;400~art14")),
                ("markup", None),
                ("text", Some("urn:nir:stato:regio.decreto:1942;262~art2043")),
                (
                    "text",
                    Some("urn:nir:stato:decreto.legislativo:2001;231~art5")
                ),
                ("note", Some("urn:nir:stato:regio.decreto:1940;1443~art360")),
            ],
            "{:#?}",
            out.references
        );
        let m = &out.references[0];
        assert_eq!(
            m.act_dated.as_deref(),
            Some("urn:nir:stato:legge:1988-08-23;400")
        );
        assert_eq!(
            m.article_id.as_deref(),
            Some("urn:nir:stato:legge:1988;400~art14")
        );
        assert_eq!(&text[m.start as usize..m.end as usize], m.text);
        assert!(
            out.references[3].relative,
            "'del presente decreto' resolves to the citing act"
        );
        assert_eq!(out.references[4].note, Some(0));
        assert_eq!(
            referenced_norm_ids("d#art_1", &out.references).len(),
            4,
            "distinct resolved ids"
        );
    }

    /// The enrich checkpoint holds only what enrich added; with the embed checkpoint's
    /// document it gives back the whole enriched document.
    #[test]
    fn the_enrichment_alone_rebuilds_the_enriched_document() {
        let text = "Il Tribunale di Milano applica l'art. 2043 c.c. alla responsabilità \
                    amministrativa degli enti, ai sensi della legge 7 agosto 1990, n. 241.";
        let embedded = doc(vec![chunk(
            "d#art_1",
            "Art. 1.",
            text,
            vec![(
                "/akn/it/act/legge/stato/1990-08-07/241/!main",
                "legge 7 agosto 1990, n. 241",
            )],
            vec!["Si veda l'art. 360 c.p.c."],
        )]);
        let enriched = enrich(embedded.clone(), &Enricher::bundled());
        assert!(
            !enriched.references.is_empty()
                && !enriched.entities.is_empty()
                && !enriched.concepts.is_empty(),
            "a test of the round trip needs something in each part: {enriched:#?}"
        );
        let delta = bincode::serialize(&enriched.enrichment()).unwrap();
        let whole = bincode::serialize(&enriched).unwrap();
        assert!(delta.len() < whole.len());
        let found: Enrichment = bincode::deserialize(&delta).unwrap();
        assert_eq!(EnrichedDocument::from_parts(embedded, found), enriched);
    }

    #[test]
    fn article_numbers_and_article_ids() {
        assert_eq!(
            article_number("Art. 25-septiesdecies.").as_deref(),
            Some("25-septiesdecies")
        );
        assert_eq!(article_number("Art. 1").as_deref(), Some("1"));
        assert_eq!(article_number("Articolo 3-bis").as_deref(), Some("3-bis"));
        assert_eq!(article_number("Section 4"), None);
        let act = citations::act_key_from_frbr("urn:nir:stato:decreto.legislativo:2001-06-08;231");
        let c = chunk("d#art_2", "Art. 2-bis.", "t", vec![], vec![]);
        assert_eq!(
            chunk_article_id(act.as_ref(), &c).as_deref(),
            Some("urn:nir:stato:decreto.legislativo:2001;231~art2bis")
        );
    }
}
