//! Stores: where results land. Each store is a trait so server backends can replace the
//! embedded default (SQLite for documents, chunks and the graph; Qdrant Edge for vectors)
//! without touching the pipeline. Every write is an upsert on deterministic ids, so
//! replaying a document never duplicates anything.

pub mod edge;
pub mod jobs;
pub mod mapped;
pub mod neo4j;
pub mod pg_jobs;
pub mod plan;
pub mod postgres;
pub mod qdrant;
pub mod runs;
pub mod sqlite;

use async_trait::async_trait;
use uuid::Uuid;

use crate::pipeline::error::{Classify, ErrorClass};
use crate::pipeline::record::{Chunk, DocumentInfo, EnrichedDocument};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(String),
    #[error("database busy: {0}")]
    Busy(String),
    #[error("vector store: {0}")]
    Vector(String),
    #[error("vector store {path}: {message}")]
    VectorOpen { path: String, message: String },
    #[error("schema: {0}")]
    Schema(String),
    #[error("lease lost: job {job} was taken over (epoch {epoch})")]
    LeaseLost { job: i64, epoch: i64 },
    #[error("injected fault: {0}")]
    Injected(String),
    #[error("payload: {0}")]
    Payload(String),
    #[error("graph: {0}")]
    Graph(String),
    /// A store server that could not be reached or dropped the connection: worth retrying.
    #[error("store unreachable: {0}")]
    Unreachable(String),
}

/// Error text of a server store that means "not reachable right now" rather than "refused".
fn looks_unreachable(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "connection refused",
        "connection reset",
        "connection closed",
        "connection error",
        "broken pipe",
        "unexpected eof",
        "unexpectedeof",
        "early eof",
        "io error",
        "ioerror",
        "timed out",
        "timeout",
        "transport error",
        "unavailable",
        "not connected",
        "pool",
    ]
    .iter()
    .any(|k| m.contains(k))
}

impl StoreError {
    /// A graph server error: transient when the server is unreachable, fatal otherwise.
    pub fn graph(msg: String) -> StoreError {
        if looks_unreachable(&msg) {
            StoreError::Unreachable(format!("graph: {msg}"))
        } else {
            StoreError::Graph(msg)
        }
    }

    /// A vector server error: transient when the server is unreachable, fatal otherwise.
    pub fn vector(msg: String) -> StoreError {
        if looks_unreachable(&msg) {
            StoreError::Unreachable(format!("vectors: {msg}"))
        } else {
            StoreError::Vector(msg)
        }
    }
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Busy(_) | StoreError::Injected(_) | StoreError::Unreachable(_) => {
                ErrorClass::Transient
            }
            StoreError::Database(_)
            | StoreError::Vector(_)
            | StoreError::VectorOpen { .. }
            | StoreError::Schema(_)
            | StoreError::LeaseLost { .. }
            | StoreError::Payload(_)
            | StoreError::Graph(_) => ErrorClass::Fatal,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let msg = crate::pipeline::error::one_line(&e.to_string());
        match &e {
            sqlx::Error::PoolTimedOut => StoreError::Busy(msg),
            sqlx::Error::Database(db)
                if db.message().contains("locked") || db.message().contains("busy") =>
            {
                StoreError::Busy(msg)
            }
            sqlx::Error::Io(_) => StoreError::Busy(msg),
            // PostgreSQL: serialization failure, deadlock, lock timeout, server shutting down
            // or starting, too many connections: worth retrying.
            sqlx::Error::Database(db)
                if matches!(
                    db.code().as_deref(),
                    Some("40001" | "40P01" | "55P03" | "57P01" | "57P03" | "53300")
                ) =>
            {
                StoreError::Busy(msg)
            }
            _ => StoreError::Database(msg),
        }
    }
}

/// Namespace for point ids: UUIDv5(chunk id) is stable across runs and machines.
const POINT_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_1f0e_93c4_4c6e_9a0e_51a7_e9d2_b7a1);

/// The vector store's point id for a chunk id.
pub fn point_id(chunk_id: &str) -> Uuid {
    Uuid::new_v5(&POINT_NAMESPACE, chunk_id.as_bytes())
}

/// What the enrich stage added to a stored document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    pub references: Vec<crate::pipeline::record::Reference>,
    pub entities: Vec<crate::pipeline::record::ChunkEntity>,
    pub concepts: Vec<crate::pipeline::record::ChunkConcept>,
}

/// Documents and chunks (rows), queryable by id.
#[async_trait]
pub trait RelationalStore: Send + Sync {
    /// Chunk ids currently stored for a document (to find superseded ones).
    async fn chunk_ids(&self, document_id: &str) -> Result<Vec<String>, StoreError>;
    /// Upsert the document and its chunks; chunks of this document not in `doc` are removed.
    async fn upsert_document(&self, doc: &EnrichedDocument) -> Result<(), StoreError>;
    /// A stored document's validity (valid_from, valid_to), if the document exists.
    async fn validity(
        &self,
        document_id: &str,
    ) -> Result<Option<(Option<String>, Option<String>)>, StoreError>;
    /// A newer version is in force from `valid_to`: close this one (document and chunks).
    async fn close_validity(&self, document_id: &str, valid_to: &str) -> Result<(), StoreError>;
    async fn count_documents(&self) -> Result<u64, StoreError>;
    /// Ids of stored documents whose vectors come from another model than `model_id`.
    async fn documents_not_on_model(&self, model_id: &str) -> Result<Vec<String>, StoreError>;
    /// A stored document and its chunks, in order.
    async fn load_document(
        &self,
        document_id: &str,
    ) -> Result<Option<(DocumentInfo, Vec<Chunk>)>, StoreError>;
    /// A stored document's enrichment: citations, named entities and concept links.
    async fn load_annotations(&self, document_id: &str) -> Result<Annotations, StoreError>;
    /// Record that a document's vectors now come from `model_id`, with chunk token counts
    /// under that model.
    async fn set_model(
        &self,
        document_id: &str,
        model_id: &str,
        tokens: &[(String, u32)],
    ) -> Result<(), StoreError>;
    async fn count_chunks(&self) -> Result<u64, StoreError>;
    /// Every stored document id, sorted.
    async fn document_ids(&self) -> Result<Vec<String>, StoreError>;
    /// The document with this id, else the one ingested from this source.
    async fn find_document(&self, id_or_source: &str) -> Result<Option<String>, StoreError>;
    /// Remove a document with its chunks, citations, entities and concept links; false when
    /// there was none.
    async fn delete_document(&self, document_id: &str) -> Result<bool, StoreError>;
}

/// Nodes and relationships: documents, chunks, norms and references between them.
#[async_trait]
pub trait GraphStore: Send + Sync {
    /// Upsert the document's nodes and edges; edges it owned before and no longer has are removed.
    async fn upsert_document(&self, doc: &EnrichedDocument) -> Result<(), StoreError>;
    /// Chunk ids the graph holds for a document, sorted.
    async fn document_chunk_ids(&self, document_id: &str) -> Result<Vec<String>, StoreError>;
    /// Every document id in the graph, sorted.
    async fn document_ids(&self) -> Result<Vec<String>, StoreError>;
    /// Remove what the document owns (its Document and Chunk nodes, the edges it created);
    /// shared nodes (norms, articles, decisions, concepts) stay.
    async fn delete_document(&self, document_id: &str) -> Result<(), StoreError>;
}

/// A vector search result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub chunk_id: String,
    pub document_id: String,
    pub score: f32,
    pub payload: serde_json::Value,
}

/// Vectors, in one collection per model.
#[async_trait]
pub trait VectorStore: Send + Sync {
    /// Make the model's collection ready for writing (create it if missing, sized for the
    /// model) before any document is processed, so a store that cannot be used fails the run
    /// at once rather than after parsing and embedding.
    async fn prepare(&self, model_id: &str, dimension: usize) -> Result<(), StoreError>;
    /// Upsert one point per chunk into the model's collection and make them durable. The
    /// document is shared, not copied, with a backend that writes on another thread.
    async fn upsert_document(
        &self,
        doc: &std::sync::Arc<EnrichedDocument>,
        dimension: usize,
    ) -> Result<(), StoreError>;
    /// Chunk ids of a document's points in the model's collection, sorted.
    async fn document_chunk_ids(
        &self,
        model_id: &str,
        document_id: &str,
    ) -> Result<Vec<String>, StoreError>;
    /// Document ids that have points in the model's collection, sorted.
    async fn document_ids(&self, model_id: &str) -> Result<Vec<String>, StoreError>;
    /// Remove a document's points from the model's collection.
    async fn delete_document(&self, model_id: &str, document_id: &str) -> Result<(), StoreError>;
    /// Remove points by chunk id from the model's collection.
    async fn delete_chunks(&self, model_id: &str, chunk_ids: &[String]) -> Result<(), StoreError>;
    async fn count(&self, model_id: &str) -> Result<u64, StoreError>;
    /// Model ids that have a collection.
    async fn models(&self) -> Result<Vec<String>, StoreError>;
    /// Nearest chunks to `vector` in the model's collection, best first.
    async fn search(
        &self,
        model_id: &str,
        vector: Vec<f32>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError>;
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn an_unreachable_server_is_transient_a_refusal_is_not() {
        for msg in [
            "IO error: Connection refused (os error 111)",
            "qdrant http://q:6334 collection c: upsert failed: status: Unavailable, transport error",
            "connection reset by peer",
            // neo4rs reports a connection cut mid-stream by its Debug form
            "stale edges of Chunk nodes: unexpected response for PULL: Err(IOError { detail: Kind(UnexpectedEof) })",
            "cannot connect to bolt://127.0.0.1:1: an IO error occurred: early eof",
        ] {
            assert_eq!(StoreError::graph(msg.into()).class(), ErrorClass::Transient, "{msg}");
            assert_eq!(StoreError::vector(msg.into()).class(), ErrorClass::Transient, "{msg}");
        }
        let refused = StoreError::graph("Neo.ClientError.Security.Unauthorized".into());
        assert_eq!(refused.class(), ErrorClass::Fatal);
        let schema = StoreError::vector("wrong vector dimension 384, expected 512".into());
        assert_eq!(schema.class(), ErrorClass::Fatal);
    }
}
