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

/// The nodes and relationships of one document.
pub fn graph_plan(doc: &EnrichedDocument) -> GraphPlan {
    let info = &doc.info;
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
    let act = crate::enrich::document_act(&info.meta);
    if let Some(act) = &act {
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
    let act_id = act.as_ref().map(|a| a.id());
    let mut prev: Option<&str> = None;
    for c in &doc.chunks {
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
        if let Some(before) = prev {
            p.edge(
                ("Chunk", before),
                "NEXT",
                ("Chunk", &c.id),
                "",
                true,
                json!({}),
            );
        }
        if let Some(article) = crate::enrich::chunk_article_id(act.as_ref(), c) {
            article_node(&mut p, &article, act_id.as_deref());
            p.edge(
                ("Chunk", &c.id),
                "TEXT_OF",
                ("Article", &article),
                "",
                true,
                json!({}),
            );
        }
        prev = Some(&c.id);
    }
    for c in &doc.concepts {
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
    // Courts, bodies and places are shared nodes; people (personal data), dates and amounts
    // stay in the relational store only.
    for e in &doc.entities {
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
