//! Vectors in Qdrant's engine, in process (Qdrant Edge): one shard per model under
//! `<data dir>/vectors/<model id>`, so models of different sizes never share a collection.
//! The engine is synchronous; calls run on the blocking pool, one writer per shard.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard,
    EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations, Filter, Match, NamedQuery,
    Payload, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStructPersisted, QueryEnum, ScrollRequest, SearchRequest,
    UpdateOperation, VectorStructInternal, VectorStructPersisted, WithPayloadInterface, WithVector,
};
use serde_json::Value;

use super::{point_id, Hit, StoreError, VectorStore};
use crate::pipeline::record::EnrichedDocument;

/// Points per update operation: keeps each WAL record modest for very long documents.
const UPSERT_BATCH: usize = 256;

/// Capacity of a write-ahead-log segment (the engine's default is 32 MB). The open segment
/// is memory-mapped and the pages written stay resident until it is retired, so this bounds
/// that share of the process's memory; a record larger than a segment gets a segment of its
/// own size. A batch of 256 points with their payloads is about a megabyte.
const WAL_SEGMENT_BYTES: usize = 4 * 1024 * 1024;

/// A stored point, as read back (for verification and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPoint {
    pub id: String,
    pub payload: Value,
    pub vector: Vec<f32>,
}

pub struct EdgeVectors {
    root: PathBuf,
    shards: Mutex<HashMap<String, Arc<Mutex<EdgeShard>>>>,
    /// People's names go to the payload only when the pipeline allows it.
    persons_in_payload: bool,
}

impl EdgeVectors {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            shards: Mutex::new(HashMap::new()),
            persons_in_payload: false,
        }
    }

    /// Allow people's names (personal data) in the payload's entities.
    pub fn with_persons_in_payload(mut self, allow: bool) -> Self {
        self.persons_in_payload = allow;
        self
    }

    fn shard_dir(&self, model_id: &str) -> PathBuf {
        let safe: String = model_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.root.join(safe)
    }

    /// Open (or create, when `dimension` is given) the shard of a model.
    fn shard(
        &self,
        model_id: &str,
        dimension: Option<usize>,
    ) -> Result<Option<Arc<Mutex<EdgeShard>>>, StoreError> {
        let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = shards.get(model_id) {
            return Ok(Some(s.clone()));
        }
        let dir = self.shard_dir(model_id);
        let open_err = |e: String| StoreError::VectorOpen {
            path: dir.display().to_string(),
            message: if e.contains("WouldBlock") {
                "in use by another process (the embedded vector store admits one process at a \
                 time: wait for the other ingest to finish)"
                    .to_string()
            } else {
                e
            },
        };
        let exists = dir.join("edge_config.json").is_file();
        let shard = if exists {
            let shard = EdgeShard::load(&dir, None).map_err(|e| open_err(e.to_string()))?;
            if let Some(dim) = dimension {
                let size = shard.config().vectors.get("").map(|v| v.size);
                if size != Some(dim) {
                    return Err(open_err(format!(
                        "collection holds {size:?}-dimensional vectors, model {model_id} makes {dim}"
                    )));
                }
            }
            shard
        } else {
            let Some(dim) = dimension else {
                return Ok(None);
            };
            std::fs::create_dir_all(&dir).map_err(|e| open_err(e.to_string()))?;
            let config = EdgeConfigBuilder::new()
                .vector(
                    "",
                    EdgeVectorParamsBuilder::new(dim, Distance::Cosine).build(),
                )
                .wal_options(qdrant_edge::WalOptions {
                    segment_capacity: WAL_SEGMENT_BYTES,
                    ..Default::default()
                })
                .build();
            let shard = EdgeShard::new(&dir, config).map_err(|e| open_err(e.to_string()))?;
            for field in [
                "document_id",
                "doc_type",
                "model_id",
                "section",
                "related_concept_ids",
                "referenced_norm_ids",
                "referenced_decision_ids",
            ] {
                shard
                    .update(UpdateOperation::FieldIndexOperation(
                        FieldIndexOperations::CreateIndex(CreateIndex {
                            field_name: field
                                .try_into()
                                .map_err(|_| open_err(format!("bad field {field}")))?,
                            field_schema: Some(PayloadFieldSchema::FieldType(
                                PayloadSchemaType::Keyword,
                            )),
                        }),
                    ))
                    .map_err(|e| open_err(e.to_string()))?;
            }
            shard
        };
        let shard = Arc::new(Mutex::new(shard));
        shards.insert(model_id.to_string(), shard.clone());
        Ok(Some(shard))
    }

    /// Read points back by chunk id (missing ones are skipped).
    pub fn retrieve(
        &self,
        model_id: &str,
        chunk_ids: &[String],
    ) -> Result<Vec<StoredPoint>, StoreError> {
        let Some(shard) = self.shard(model_id, None)? else {
            return Ok(Vec::new());
        };
        let ids: Vec<PointId> = chunk_ids.iter().map(|c| edge_id(c)).collect();
        let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let records = shard
            .retrieve(
                &ids,
                Some(WithPayloadInterface::Bool(true)),
                Some(WithVector::Bool(true)),
            )
            .map_err(|e| StoreError::Vector(e.to_string()))?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let vector = match r.vector {
                Some(VectorStructInternal::Single(v)) => v,
                Some(VectorStructInternal::Named(mut m)) => match m.remove("") {
                    Some(qdrant_edge::VectorInternal::Dense(v)) => v,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            out.push(StoredPoint {
                id: r.id.to_string(),
                payload: Value::Object(r.payload.map(|p| p.0).unwrap_or_default()),
                vector,
            });
        }
        Ok(out)
    }

    fn count_blocking(&self, model_id: &str) -> Result<u64, StoreError> {
        let Some(shard) = self.shard(model_id, None)? else {
            return Ok(0);
        };
        let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let n = shard
            .count(CountRequest {
                filter: None,
                exact: true,
            })
            .map_err(|e| StoreError::Vector(e.to_string()))?;
        Ok(n as u64)
    }

    fn search_blocking(
        &self,
        model_id: &str,
        vector: Vec<f32>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        let Some(shard) = self.shard(model_id, None)? else {
            return Ok(Vec::new());
        };
        let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let points = shard
            .search(SearchRequest {
                query: QueryEnum::Nearest(NamedQuery {
                    query: vector.into(),
                    using: None,
                }),
                filter: None,
                params: None,
                limit,
                offset: 0,
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: Some(WithVector::Bool(false)),
                score_threshold: None,
            })
            .map_err(|e| StoreError::Vector(e.to_string()))?;
        Ok(points
            .into_iter()
            .map(|p| {
                let payload = Value::Object(p.payload.map(|p| p.0).unwrap_or_default());
                Hit {
                    chunk_id: payload["chunk_id"].as_str().unwrap_or_default().to_string(),
                    document_id: payload["document_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    score: p.score,
                    payload,
                }
            })
            .collect())
    }

    fn upsert_blocking(&self, doc: &EnrichedDocument, dimension: usize) -> Result<(), StoreError> {
        let shard = self
            .shard(&doc.model_id, Some(dimension))?
            .ok_or_else(|| StoreError::Vector("shard not created".into()))?;
        let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        // Points are built a batch at a time: a large act's payloads are never all in memory.
        let batches = doc
            .chunks
            .chunks(UPSERT_BATCH)
            .zip(doc.vectors.chunks(UPSERT_BATCH));
        for (chunks, vectors) in batches {
            let points: Vec<PointStructPersisted> = chunks
                .iter()
                .zip(vectors)
                .map(|(c, v)| {
                    let payload = super::plan::chunk_payload(doc, c, self.persons_in_payload);
                    let Value::Object(map) = payload else {
                        unreachable!("json! object")
                    };
                    PointStructPersisted {
                        id: edge_id(&c.id),
                        vector: VectorStructPersisted::Single(v.clone()),
                        payload: Some(Payload::from(map)),
                    }
                })
                .collect();
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
                ))
                .map_err(|e| StoreError::Vector(e.to_string()))?;
        }
        flush(&shard)
    }

    fn delete_blocking(&self, model_id: &str, chunk_ids: &[String]) -> Result<(), StoreError> {
        if chunk_ids.is_empty() {
            return Ok(());
        }
        let Some(shard) = self.shard(model_id, None)? else {
            return Ok(());
        };
        let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let ids: Vec<PointId> = chunk_ids.iter().map(|c| edge_id(c)).collect();
        shard
            .update(UpdateOperation::PointOperation(
                PointOperations::DeletePoints { ids },
            ))
            .map_err(|e| StoreError::Vector(e.to_string()))?;
        flush(&shard)
    }
}

impl EdgeVectors {
    fn document_filter(document_id: &str) -> Result<Filter, StoreError> {
        let key = "document_id"
            .try_into()
            .map_err(|_| StoreError::Vector("bad payload key document_id".into()))?;
        Ok(Filter::new_must(Condition::Field(
            FieldCondition::new_match(key, Match::from(document_id.to_string())),
        )))
    }

    /// Payload values of `field` for every point matching `filter` (all points when `None`).
    fn scroll_field(
        &self,
        model_id: &str,
        filter: Option<Filter>,
        field: &str,
    ) -> Result<Vec<String>, StoreError> {
        let Some(shard) = self.shard(model_id, None)? else {
            return Ok(Vec::new());
        };
        let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let (records, next) = shard
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(1024),
                    filter: filter.clone(),
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                })
                .map_err(|e| StoreError::Vector(e.to_string()))?;
            for r in records {
                if let Some(v) = r
                    .payload
                    .as_ref()
                    .and_then(|p| p.0.get(field))
                    .and_then(Value::as_str)
                {
                    out.push(v.to_string());
                }
            }
            match next {
                Some(n) => offset = Some(n),
                None => break,
            }
        }
        Ok(out)
    }

    fn delete_document_blocking(
        &self,
        model_id: &str,
        document_id: &str,
    ) -> Result<(), StoreError> {
        let Some(shard) = self.shard(model_id, None)? else {
            return Ok(());
        };
        let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        shard
            .update(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(Self::document_filter(document_id)?),
            ))
            .map_err(|e| StoreError::Vector(e.to_string()))?;
        flush(&shard)
    }
}

/// Make the shard's WAL and segments durable. The engine panics on flush failure; that
/// becomes an error here instead of a dead process. Then the pages written, now clean on
/// disk, leave memory (`mapped`): a bulk load never reads them back, and mapped they would
/// keep every vector and payload of the run resident.
fn flush(shard: &EdgeShard) -> Result<(), StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.flush()))
        .map_err(|_| StoreError::Vector("flush to disk failed".into()))?;
    super::mapped::page_out_under(shard.path());
    Ok(())
}

fn edge_id(chunk_id: &str) -> PointId {
    PointId::Uuid(qdrant_edge::external::uuid::Uuid::from_bytes(
        point_id(chunk_id).into_bytes(),
    ))
}

#[async_trait]
impl VectorStore for Arc<EdgeVectors> {
    async fn upsert_document(
        &self,
        doc: &Arc<EnrichedDocument>,
        dimension: usize,
    ) -> Result<(), StoreError> {
        let this = self.clone();
        let doc = Arc::clone(doc);
        // At a lower priority than inference, like chunking (see `pipeline::background`).
        crate::pipeline::background::run(move || this.upsert_blocking(&doc, dimension))
            .await
            .map_err(|e| StoreError::Vector(format!("vector write crashed: {e}")))?
    }

    async fn document_chunk_ids(
        &self,
        model_id: &str,
        document_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let this = self.clone();
        let (model, doc) = (model_id.to_string(), document_id.to_string());
        tokio::task::spawn_blocking(move || {
            let mut ids = this.scroll_field(
                &model,
                Some(EdgeVectors::document_filter(&doc)?),
                "chunk_id",
            )?;
            ids.sort();
            Ok(ids)
        })
        .await
        .map_err(|e| StoreError::Vector(format!("vector scroll crashed: {e}")))?
    }

    async fn document_ids(&self, model_id: &str) -> Result<Vec<String>, StoreError> {
        let this = self.clone();
        let model = model_id.to_string();
        tokio::task::spawn_blocking(move || {
            let mut ids = this.scroll_field(&model, None, "document_id")?;
            ids.sort();
            ids.dedup();
            Ok(ids)
        })
        .await
        .map_err(|e| StoreError::Vector(format!("vector scroll crashed: {e}")))?
    }

    async fn delete_document(&self, model_id: &str, document_id: &str) -> Result<(), StoreError> {
        let this = self.clone();
        let (model, doc) = (model_id.to_string(), document_id.to_string());
        tokio::task::spawn_blocking(move || this.delete_document_blocking(&model, &doc))
            .await
            .map_err(|e| StoreError::Vector(format!("vector delete crashed: {e}")))?
    }

    async fn delete_chunks(&self, model_id: &str, chunk_ids: &[String]) -> Result<(), StoreError> {
        let this = self.clone();
        let model = model_id.to_string();
        let ids = chunk_ids.to_vec();
        tokio::task::spawn_blocking(move || this.delete_blocking(&model, &ids))
            .await
            .map_err(|e| StoreError::Vector(format!("vector delete crashed: {e}")))?
    }

    async fn prepare(&self, model_id: &str, dimension: usize) -> Result<(), StoreError> {
        let this = self.clone();
        let model = model_id.to_string();
        tokio::task::spawn_blocking(move || this.shard(&model, Some(dimension)).map(|_| ()))
            .await
            .map_err(|e| StoreError::Vector(format!("vector store open crashed: {e}")))?
    }

    async fn search(
        &self,
        model_id: &str,
        vector: Vec<f32>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        let this = self.clone();
        let model = model_id.to_string();
        tokio::task::spawn_blocking(move || this.search_blocking(&model, vector, limit))
            .await
            .map_err(|e| StoreError::Vector(format!("vector search crashed: {e}")))?
    }

    async fn models(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::Vector(format!("{}: {e}", self.root.display()))),
        };
        for entry in entries.flatten() {
            if entry.path().join("edge_config.json").is_file() {
                out.push(entry.file_name().to_string_lossy().to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    async fn count(&self, model_id: &str) -> Result<u64, StoreError> {
        let this = self.clone();
        let model = model_id.to_string();
        tokio::task::spawn_blocking(move || this.count_blocking(&model))
            .await
            .map_err(|e| StoreError::Vector(format!("vector count crashed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::{Chunk, DocType, DocumentInfo, NormMeta};

    fn document(n: usize, dim: usize) -> EnrichedDocument {
        let id = "/akn/it/act/legge/stato/2000-01-01/1/ita@".to_string();
        let chunks = (0..n)
            .map(|i| Chunk {
                id: format!("{id}#art_{i}"),
                document_id: id.clone(),
                ordinal: i as u32,
                eid: format!("art_{i}"),
                part: None,
                parts: 1,
                unit_kind: "article".into(),
                num: Some(format!("Art. {i}")),
                heading: None,
                path: vec![],
                text: format!("Testo dell'articolo {i}."),
                embed_text: format!("Art. {i}\nTesto dell'articolo {i}."),
                tokens: 12,
                refs: vec![],
                notes: vec![],
                amendments: vec![],
                repealed: false,
                attachment: None,
                section: None,
                span: None,
            })
            .collect();
        let vectors = (0..n)
            .map(|i| (0..dim).map(|j| ((i * 31 + j) % 97) as f32 + 1.0).collect())
            .collect();
        EnrichedDocument {
            info: DocumentInfo {
                id: id.clone(),
                source: "legge.xml".into(),
                doc_type: DocType::Norm,
                content_hash: "0".repeat(64),
                bytes: 1,
                title: None,
                meta: NormMeta::default(),
                metadata: vec![],
                text: None,
            },
            chunks,
            model_id: "m".into(),
            vectors,
            references: vec![],
            entities: vec![],
            concepts: vec![],
        }
    }

    /// Resident bytes of this process's mappings of files under `dir` (`/proc/self/smaps`).
    fn resident_under(dir: &Path) -> usize {
        let dir = std::fs::canonicalize(dir).unwrap();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let (mut inside, mut kb) = (false, 0);
        for line in smaps.lines() {
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or_default();
            if first.contains('-') && !first.ends_with(':') {
                let path = line.splitn(6, ' ').nth(5).unwrap_or_default().trim_start();
                inside = Path::new(path).starts_with(&dir);
            } else if inside && first == "Rss:" {
                kb += words.next().unwrap().parse::<usize>().unwrap();
            }
        }
        kb * 1024
    }

    /// A bulk load never reads its vectors back: once flushed, the pages written through the
    /// engine's memory maps leave the process's memory, and the points read back intact.
    #[cfg(target_os = "linux")]
    #[test]
    fn written_vectors_do_not_stay_resident() {
        let tmp = tempfile::tempdir().unwrap();
        let store = EdgeVectors::new(tmp.path());
        let doc = document(2_000, 512); // 4 MB of vectors
        store.upsert_blocking(&doc, 512).unwrap();
        let resident = resident_under(tmp.path());
        assert!(
            resident < 1024 * 1024,
            "{resident} bytes of the store's mapped files still resident"
        );
        let ids = vec![doc.chunks[0].id.clone(), doc.chunks[1_999].id.clone()];
        let back = store.retrieve("m", &ids).unwrap();
        assert_eq!(back.len(), 2);
        for p in back {
            let i = doc
                .chunks
                .iter()
                .position(|c| c.id == p.payload["chunk_id"])
                .unwrap();
            let norm = doc.vectors[i].iter().map(|x| x * x).sum::<f32>().sqrt();
            for (got, want) in p.vector.iter().zip(&doc.vectors[i]) {
                assert!((got - want / norm).abs() < 1e-6);
            }
        }
    }
}
