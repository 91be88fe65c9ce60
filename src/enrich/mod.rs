//! Enrich: references to other norms. For now the references the Akoma Ntoso markup
//! carries (`<ref href>`), recorded per chunk as raw targets; canonical norm ids and
//! citations found in plain text come next.

use crate::pipeline::record::{EmbeddedDocument, EnrichedDocument, Reference};

/// Collect the marked-up references of every chunk, deduplicated per chunk and target.
pub fn enrich(doc: EmbeddedDocument) -> EnrichedDocument {
    let mut references = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for chunk in &doc.chunks {
        for r in &chunk.refs {
            let target = r.href.trim();
            if target.is_empty() {
                continue;
            }
            if !seen.insert((chunk.id.clone(), target.to_string())) {
                continue;
            }
            let (act, fragment) = match target.split_once('#') {
                Some((a, f)) => (a.to_string(), Some(f.to_string()).filter(|f| !f.is_empty())),
                None => (target.to_string(), None),
            };
            references.push(Reference {
                chunk_id: chunk.id.clone(),
                target_raw: target.to_string(),
                target_act: act,
                target_fragment: fragment,
                text: r.text.clone(),
                origin: "akn-ref".to_string(),
            });
        }
    }
    EnrichedDocument {
        info: doc.info,
        chunks: doc.chunks,
        model_id: doc.model_id,
        vectors: doc.vectors,
        references,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::akn::RefMark;
    use crate::pipeline::record::{Chunk, DocType, DocumentInfo, NormMeta};

    fn chunk(id: &str, refs: Vec<(&str, &str)>) -> Chunk {
        Chunk {
            id: id.into(),
            document_id: "d".into(),
            ordinal: 0,
            eid: "art_1".into(),
            part: None,
            parts: 1,
            unit_kind: "article".into(),
            num: None,
            heading: None,
            path: vec![],
            text: "t".into(),
            embed_text: "t".into(),
            tokens: 3,
            refs: refs
                .into_iter()
                .map(|(h, t)| RefMark {
                    href: h.into(),
                    text: t.into(),
                })
                .collect(),
            notes: vec![],
            amendments: vec![],
            repealed: false,
            attachment: None,
        }
    }

    #[test]
    fn refs_become_references_split_at_fragment() {
        let doc = EmbeddedDocument {
            info: DocumentInfo {
                id: "d".into(),
                source: "s".into(),
                doc_type: DocType::Norm,
                content_hash: "h".into(),
                bytes: 1,
                title: None,
                meta: NormMeta::default(),
            },
            chunks: vec![
                chunk(
                    "d#art_1",
                    vec![
                        (
                            "/akn/it/act/legge/stato/1988-08-23/400/!main#art_14",
                            "art. 14",
                        ),
                        (
                            "/akn/it/act/legge/stato/1988-08-23/400/!main#art_14",
                            "again",
                        ),
                        ("  ", "empty"),
                    ],
                ),
                chunk(
                    "d#art_2",
                    vec![(
                        "/akn/it/act/costituzione/stato/1947-12-27/const/!main",
                        "Cost.",
                    )],
                ),
            ],
            model_id: "m".into(),
            vectors: vec![vec![0.0], vec![0.0]],
        };
        let out = enrich(doc);
        assert_eq!(out.references.len(), 2);
        let r = &out.references[0];
        assert_eq!(r.target_act, "/akn/it/act/legge/stato/1988-08-23/400/!main");
        assert_eq!(r.target_fragment.as_deref(), Some("art_14"));
        assert_eq!(r.text, "art. 14");
        assert_eq!(out.references[1].target_fragment, None);
    }
}
