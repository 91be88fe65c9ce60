//! What a document writes to the graph and to the vector payload, computed once from an
//! [`EnrichedDocument`] so every backend (embedded SQLite graph, Neo4j; Qdrant Edge, Qdrant)
//! writes exactly the same thing.
//!
//! Graph model. Nodes are keyed by `(label, key)`:
//! - owned by the document (replaced when it is re-ingested): `Document {id}`, `Chunk {id}`;
//! - shared (never removed by a document): `Norm {id}` (an act), `Article {id}`, `Decision {key}`,
//!   `Concept {id}`, `Court`/`Organization`/`Place {name}`.
//!
//! Relationships (each owned by the document that created it, keyed by `(src, rel, dst, key)`):
//! `HAS_CHUNK` (Document→Chunk), `NEXT` (Chunk→Chunk, reading order), `EXPRESSION_OF`
//! (Document→Norm or Decision), `TEXT_OF` (Chunk→Article it is the text of), `PART_OF`
//! (Article→Norm, shared), `CITES` (Chunk→Norm/Article/Decision, with the citing text),
//! `ABOUT` (Chunk→Concept), `MENTIONS` (Chunk→Court/Organization/Place). People's names,
//! dates and amounts are not graph nodes.

use serde_json::{json, Value};

use crate::pipeline::record::EnrichedDocument;

/// A node to upsert; `props` merge into existing properties.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    pub label: &'static str,
    pub key: String,
    /// Whether the node belongs to this document (removed with it) or is shared.
    pub owned: bool,
    pub props: Value,
}

/// A relationship between two nodes, by their labels and keys.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphEdge {
    pub src: (&'static str, String),
    pub rel: &'static str,
    pub dst: (&'static str, String),
    /// Distinguishes parallel edges (one CITES per citation occurrence); empty otherwise.
    pub key: String,
    /// Whether the edge belongs to this document (removed with it) or is shared structure.
    pub owned: bool,
    pub props: Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphPlan {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

/// Builds a [`GraphPlan`] without exact repeats. A document names the same shared nodes over
/// and over (its act's `Norm` and an `Article` with its `PART_OF` for every chunk of the
/// article and every citation of it); each repeat was a `serde_json` map and a few strings
/// more, held through the store stage. An exact repeat changes nothing where it lands: node
/// properties merge (`json_patch`, `SET +=`), and applying the same item twice to the same
/// row is applying it once. So an item is dropped only when the last item planned under its
/// key is equal to it: anything else under that key in between, and it is planned again.
#[derive(Default)]
struct Planner {
    plan: GraphPlan,
    /// Last node / edge planned under each key's hash.
    nodes_at: std::collections::HashMap<u64, usize>,
    edges_at: std::collections::HashMap<u64, usize>,
}

fn key_hash(parts: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl Planner {
    fn node(&mut self, label: &'static str, key: &str, owned: bool, props: Value) {
        let node = GraphNode {
            label,
            key: key.to_string(),
            owned,
            props,
        };
        let at = key_hash(&[label, key]);
        if let Some(&i) = self.nodes_at.get(&at) {
            if self.plan.nodes[i] == node {
                return;
            }
        }
        self.nodes_at.insert(at, self.plan.nodes.len());
        self.plan.nodes.push(node);
    }

    #[allow(clippy::too_many_arguments)]
    fn edge(
        &mut self,
        src: (&'static str, &str),
        rel: &'static str,
        dst: (&'static str, &str),
        key: &str,
        owned: bool,
        props: Value,
    ) {
        let edge = GraphEdge {
            src: (src.0, src.1.to_string()),
            rel,
            dst: (dst.0, dst.1.to_string()),
            key: key.to_string(),
            owned,
            props,
        };
        let at = key_hash(&[src.0, src.1, rel, dst.0, dst.1, key]);
        if let Some(&i) = self.edges_at.get(&at) {
            if self.plan.edges[i] == edge {
                return;
            }
        }
        self.edges_at.insert(at, self.plan.edges.len());
        self.plan.edges.push(edge);
    }
}

/// The nodes and relationships of one document: its [`graph_plan_parts`], in order, as one
/// plan.
pub fn graph_plan(doc: &EnrichedDocument) -> GraphPlan {
    let mut whole = GraphPlan::default();
    for part in graph_plan_parts(doc, PLAN_PART_CHUNKS) {
        whole.nodes.extend(part.nodes);
        whole.edges.extend(part.edges);
    }
    whole
}

/// Chunks per part of a document's graph plan.
pub const PLAN_PART_CHUNKS: usize = 256;

/// A document's graph plan a part at a time, so a writer holds one part, not the whole: a
/// large act's plan (its chunks' nodes and edges, and an edge with the citing text for each
/// of its thousands of citations, all `serde_json` maps) was the largest thing alive in the
/// store stage. The first part is the document's own nodes; then each part covers
/// `part_chunks` chunks in reading order, with the concepts, mentions and citations found in
/// them. Items under one key land in the order they did in a single plan, except across
/// parts, where only exact repeats (which change nothing) and merges of the same values occur.
pub fn graph_plan_parts(doc: &EnrichedDocument, part_chunks: usize) -> GraphPlanParts<'_> {
    let act = crate::enrich::document_act(&doc.info.meta);
    GraphPlanParts {
        doc,
        part_chunks: part_chunks.max(1),
        act_id: act.as_ref().map(|a| a.id()),
        act,
        next: None,
        position: doc
            .chunks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect(),
    }
}

/// See [`graph_plan_parts`].
pub struct GraphPlanParts<'a> {
    doc: &'a EnrichedDocument,
    part_chunks: usize,
    act: Option<crate::enrich::citations::NormKey>,
    act_id: Option<String>,
    /// First chunk of the next part; `None` before the document's own part.
    next: Option<usize>,
    /// Each chunk's index, by id.
    position: std::collections::HashMap<&'a str, usize>,
}

impl GraphPlanParts<'_> {
    /// Whether an item found in chunk `chunk_id` belongs to the part of chunks `lo..hi`. One
    /// naming no chunk of the document goes with the last part, as it did in one plan.
    fn in_part(&self, chunk_id: &str, lo: usize, hi: usize) -> bool {
        match self.position.get(chunk_id) {
            Some(&i) => lo <= i && i < hi,
            None => hi >= self.doc.chunks.len(),
        }
    }

    fn own_nodes(&self) -> GraphPlan {
        let info = &self.doc.info;
        let mut p = Planner::default();
        let d = ("Document", info.id.as_str());
        p.node(
            "Document",
            &info.id,
            true,
            json!({
                "id": info.id, "source": info.source, "type": info.doc_type.as_str(),
                "title": info.title, "urn_nir": info.meta.urn_nir, "eli": info.meta.eli,
            }),
        );
        // The document's own act: citations from anywhere join the chunk holding the article.
        if let Some(act) = &self.act {
            let id = act.id();
            p.node(
                "Norm",
                &id,
                false,
                json!({ "id": id, "dated": act.dated_id() }),
            );
            p.edge(d, "EXPRESSION_OF", ("Norm", &id), "", true, json!({}));
        }
        // A decision is the expression of its Decision node, keyed like citations to it.
        if let Some(key) = info.meta_value("decision_key") {
            p.node(
                "Decision",
                key,
                false,
                json!({ "key": key, "id": info.meta_value("decision_id"),
                        "court": info.meta_value("court"), "number": info.meta_value("number"),
                        "year": info.meta_value("year"), "kind": info.meta_value("kind") }),
            );
            p.edge(d, "EXPRESSION_OF", ("Decision", key), "", true, json!({}));
        }
        p.plan
    }

    fn chunks_part(&self, lo: usize, hi: usize) -> GraphPlan {
        let doc = self.doc;
        let mut p = Planner::default();
        let d = ("Document", doc.info.id.as_str());
        for (i, c) in doc.chunks[lo..hi].iter().enumerate() {
            p.node(
                "Chunk",
                &c.id,
                true,
                json!({ "id": c.id, "document_id": c.document_id, "eid": c.eid, "part": c.part,
                        "num": c.num, "heading": c.heading, "ordinal": c.ordinal,
                        "section": c.section }),
            );
            p.edge(
                d,
                "HAS_CHUNK",
                ("Chunk", &c.id),
                "",
                true,
                json!({ "ordinal": c.ordinal }),
            );
            if let Some(before) = (lo + i).checked_sub(1).map(|b| &doc.chunks[b]) {
                p.edge(
                    ("Chunk", &before.id),
                    "NEXT",
                    ("Chunk", &c.id),
                    "",
                    true,
                    json!({}),
                );
            }
            if let Some(article) = crate::enrich::chunk_article_id(self.act.as_ref(), c) {
                article_node(&mut p, &article, self.act_id.as_deref());
                p.edge(
                    ("Chunk", &c.id),
                    "TEXT_OF",
                    ("Article", &article),
                    "",
                    true,
                    json!({}),
                );
            }
        }
        for c in doc
            .concepts
            .iter()
            .filter(|c| self.in_part(&c.chunk_id, lo, hi))
        {
            p.node(
                "Concept",
                &c.concept_id,
                false,
                json!({ "id": c.concept_id, "label": c.label }),
            );
            p.edge(
                ("Chunk", &c.chunk_id),
                "ABOUT",
                ("Concept", &c.concept_id),
                "",
                true,
                json!({}),
            );
        }
        // Courts, bodies and places are shared nodes; people (personal data), dates and
        // amounts stay in the relational store only.
        for e in doc
            .entities
            .iter()
            .filter(|e| self.in_part(&e.chunk_id, lo, hi))
        {
            let label = match e.kind.as_str() {
                "court" => "Court",
                "organization" => "Organization",
                "place" => "Place",
                _ => continue,
            };
            let name = e.normalized.as_deref().unwrap_or(&e.text);
            p.node(label, name, false, json!({ "name": name }));
            p.edge(
                ("Chunk", &e.chunk_id),
                "MENTIONS",
                (label, name),
                "",
                true,
                json!({}),
            );
        }
        for (seq, r) in doc.references.iter().enumerate() {
            if !self.in_part(&r.chunk_id, lo, hi) {
                continue;
            }
            let from = ("Chunk", r.chunk_id.as_str());
            let seq = seq.to_string();
            if let Some(key) = &r.decision_key {
                p.node("Decision", key, false, json!({ "key": key }));
                p.edge(
                    from,
                    "CITES",
                    ("Decision", key),
                    &seq,
                    true,
                    json!({ "text": r.text, "decision_id": r.decision_id, "origin": r.origin,
                            "start": r.start, "end": r.end }),
                );
                continue;
            }
            let (Some(norm_id), Some(cited_act)) = (&r.norm_id, &r.act_id) else {
                continue;
            };
            let target = match &r.article_id {
                Some(article) => {
                    article_node(&mut p, article, Some(cited_act));
                    ("Article", article.as_str())
                }
                None => {
                    p.node("Norm", cited_act, false, json!({ "id": cited_act }));
                    ("Norm", cited_act.as_str())
                }
            };
            p.edge(
                from,
                "CITES",
                target,
                &seq,
                true,
                json!({ "text": r.text, "norm_id": norm_id, "origin": r.origin,
                        "start": r.start, "end": r.end }),
            );
        }
        p.plan
    }
}

impl Iterator for GraphPlanParts<'_> {
    type Item = GraphPlan;

    fn next(&mut self) -> Option<GraphPlan> {
        let n = self.doc.chunks.len();
        match self.next {
            None => {
                self.next = Some(0);
                Some(self.own_nodes())
            }
            // A document without chunks still gets one (empty-chunked) part for its items.
            Some(lo) if lo < n || (lo == 0 && n == 0) => {
                let hi = (lo + self.part_chunks).min(n);
                self.next = Some(if n == 0 { 1 } else { hi });
                Some(self.chunks_part(lo, hi))
            }
            Some(_) => None,
        }
    }
}

/// An Article node and its shared PART_OF edge to the act's Norm node.
fn article_node(p: &mut Planner, article_id: &str, act_id: Option<&str>) {
    p.node("Article", article_id, false, json!({ "id": article_id }));
    if let Some(act) = act_id {
        p.node("Norm", act, false, json!({ "id": act }));
        p.edge(
            ("Article", article_id),
            "PART_OF",
            ("Norm", act),
            "",
            false,
            json!({}),
        );
    }
}

/// The vector payload of one chunk: what a vector search can filter on and show. People's
/// names (personal data) are left out of `entities` unless `persons` allows them; no other
/// field carries them (titles of decisions are court, kind and number).
pub fn chunk_payload(
    doc: &EnrichedDocument,
    chunk: &crate::pipeline::record::Chunk,
    persons: bool,
) -> Value {
    let c = chunk;
    let entities: Vec<Value> = doc
        .entities
        .iter()
        .filter(|e| e.chunk_id == c.id && (persons || !e.is_person()))
        .map(|e| json!({ "kind": e.kind, "text": e.text, "normalized": e.normalized }))
        .collect();
    let span = c.span;
    json!({
        "chunk_id": c.id,
        "document_id": c.document_id,
        "doc_type": doc.info.doc_type.as_str(),
        "title": doc.info.title,
        "eid": c.eid,
        "part": c.part,
        "heading": c.heading,
        "num": c.num,
        "ordinal": c.ordinal,
        "model_id": doc.model_id,
        "section": c.section,
        "page_start": span.map(|s| s.page_start),
        "page_end": span.map(|s| s.page_end),
        "char_start": span.map(|s| s.char_start),
        "char_end": span.map(|s| s.char_end),
        "court": doc.info.meta_value("court"),
        "decision_number": doc.info.meta_value("number"),
        "decision_year": doc.info.meta_value("year"),
        "decision_kind": doc.info.meta_value("kind"),
        "related_concept_ids": doc.concept_ids(&c.id),
        "referenced_norm_ids": crate::enrich::referenced_norm_ids(&c.id, &doc.references),
        "referenced_decision_ids": crate::enrich::referenced_decision_ids(&c.id, &doc.references),
        "entities": entities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::{
        Chunk, ChunkEntity, DocType, DocumentInfo, EmbeddedDocument, NormMeta,
    };
    use std::collections::BTreeSet;

    /// An act of `n` chunks, two per article, each citing the civil code, its own act's
    /// article 5 and a court; enriched by the real enricher.
    fn enriched(n: usize) -> EnrichedDocument {
        let text = "Ai sensi dell'art. 2043 c.c. e dell'art. 5 del presente decreto, il \
                    Tribunale di Milano decide sulla responsabilità per il reato.";
        let chunks: Vec<Chunk> = (0..n)
            .map(|i| Chunk {
                id: format!("c{i}"),
                document_id: "d".into(),
                ordinal: i as u32,
                eid: format!("art_{}", i / 2 + 1),
                part: Some(i as u32 % 2 + 1),
                parts: 2,
                unit_kind: "article".into(),
                num: Some(format!("{}", i / 2 + 1)),
                heading: None,
                path: vec![],
                text: text.into(),
                embed_text: text.into(),
                tokens: 30,
                refs: vec![],
                notes: vec![],
                amendments: vec![],
                repealed: false,
                attachment: None,
                section: None,
                span: None,
            })
            .collect();
        let embedded = EmbeddedDocument {
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
            vectors: vec![vec![0.0]; chunks.len()],
            chunks,
            model_id: "m".into(),
        };
        crate::enrich::enrich(embedded, &crate::enrich::Enricher::bundled())
    }

    fn distinct(plans: &[GraphPlan]) -> (BTreeSet<String>, BTreeSet<String>) {
        let nodes = plans
            .iter()
            .flat_map(|p| &p.nodes)
            .map(|n| format!("{n:?}"));
        let edges = plans
            .iter()
            .flat_map(|p| &p.edges)
            .map(|e| format!("{e:?}"));
        (nodes.collect(), edges.collect())
    }

    #[test]
    fn parts_hold_the_whole_plan_a_few_chunks_at_a_time() {
        let mut doc = enriched(5);
        // An item naming no chunk of the document goes with the last part.
        doc.entities.push(ChunkEntity {
            chunk_id: "elsewhere".into(),
            kind: "place".into(),
            text: "Roma".into(),
            start: 0,
            end: 4,
            normalized: None,
        });
        let kinds: BTreeSet<&str> = doc.entities.iter().map(|e| e.kind.as_str()).collect();
        assert!(kinds.contains("court"), "{kinds:?}");
        assert!(doc.references.len() >= 10, "{:?}", doc.references);
        let whole: Vec<GraphPlan> = graph_plan_parts(&doc, usize::MAX).collect();
        assert_eq!(
            whole.len(),
            2,
            "the document's own part, then one of every chunk"
        );
        let parts: Vec<GraphPlan> = graph_plan_parts(&doc, 2).collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(distinct(&parts), distinct(&whole));
        assert_eq!(graph_plan(&doc), {
            let mut one = GraphPlan::default();
            for p in graph_plan_parts(&doc, PLAN_PART_CHUNKS) {
                one.nodes.extend(p.nodes);
                one.edges.extend(p.edges);
            }
            one
        });
        for (k, part) in parts.iter().enumerate().skip(1) {
            let mine: BTreeSet<String> = ((k - 1) * 2..(k * 2).min(5))
                .map(|i| format!("c{i}"))
                .collect();
            for e in &part.edges {
                let chunk = match e.rel {
                    "HAS_CHUNK" | "NEXT" => &e.dst.1,
                    _ if e.src.0 == "Chunk" => &e.src.1,
                    _ => continue,
                };
                assert!(
                    mine.contains(chunk) || (k == 3 && chunk == "elsewhere"),
                    "part {k}: {e:?}"
                );
            }
        }
        let last = &parts[3].nodes;
        assert!(last.iter().any(|n| n.key == "Roma"), "{last:?}");
        // The two articles c0 and c1 both cite, and their PART_OF edges: once, not per mention.
        let articles: Vec<&str> = parts[1]
            .nodes
            .iter()
            .filter(|n| n.label == "Article")
            .map(|n| n.key.as_str())
            .collect();
        let once: BTreeSet<&str> = articles.iter().copied().collect();
        assert!(
            articles.len() >= 2 && articles.len() == once.len(),
            "{articles:?}"
        );
        let part_of = parts[1].edges.iter().filter(|e| e.rel == "PART_OF").count();
        assert_eq!(part_of, once.len());
    }

    #[test]
    fn a_repeat_is_planned_once_unless_its_key_changed_in_between() {
        let mut p = Planner::default();
        let norm = |p: &mut Planner, props: Value| p.node("Norm", "n1", false, props);
        norm(&mut p, json!({ "id": "n1" }));
        norm(&mut p, json!({ "id": "n1" }));
        p.node("Article", "a1", false, json!({ "id": "a1" }));
        norm(&mut p, json!({ "id": "n1" }));
        norm(&mut p, json!({ "id": "n1", "dated": "d" }));
        norm(&mut p, json!({ "id": "n1" }));
        let part_of = |p: &mut Planner, owned: bool| {
            p.edge(
                ("Article", "a1"),
                "PART_OF",
                ("Norm", "n1"),
                "",
                owned,
                json!({}),
            )
        };
        part_of(&mut p, false);
        part_of(&mut p, false);
        part_of(&mut p, true);
        let nodes: Vec<String> = p
            .plan
            .nodes
            .iter()
            .map(|n| format!("{} {}", n.key, n.props))
            .collect();
        assert_eq!(
            nodes,
            [
                r#"n1 {"id":"n1"}"#,
                r#"a1 {"id":"a1"}"#,
                r#"n1 {"id":"n1","dated":"d"}"#,
                r#"n1 {"id":"n1"}"#,
            ]
        );
        let owned: Vec<bool> = p.plan.edges.iter().map(|e| e.owned).collect();
        assert_eq!(owned, [false, true]);
    }
}
