//! Vectors in a Qdrant server, over Qdrant's gRPC API (port 6334 by default), through the
//! official `qdrant-client`. One collection per model (`ingest_` + the model id, escaped
//! reversibly), so models of different sizes never share a collection; cosine distance, one
//! unnamed dense vector; keyword payload indexes on the fields the pipeline filters on.
//!
//! Only calls of Qdrant's public gRPC API are used, so the same code runs against a real
//! Qdrant (1.10+; collection metadata needs 1.16+, older servers ignore it) and against the
//! project's test server (`qdrant-test-server`).
//!
//! Every error is one line naming the server URL and the collection.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};
use qdrant_client::qdrant::{
    point_id::PointIdOptions, r#match::MatchValue, vector_output, vectors_config, Condition,
    CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder, PayloadIncludeSelector,
    PointId, PointStruct, PointsIdsList, QueryPointsBuilder, RetrievedPoint, ScrollPointsBuilder,
    UpsertPointsBuilder, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use serde_json::Value;
use uuid::Uuid;

/// Prefix of the collections this crate owns; the rest of the name is the escaped model id.
pub const COLLECTION_PREFIX: &str = "ingest_";

/// Payload fields with a keyword index: the ones searches and deletes filter on.
pub const INDEXED_FIELDS: [&str; 7] = [
    "document_id",
    "doc_type",
    "model_id",
    "section",
    "related_concept_ids",
    "referenced_norm_ids",
    "referenced_decision_ids",
];

/// Points per upsert request (Qdrant's advice: batches of 64–256 points).
const UPSERT_BATCH: usize = 128;
/// Upsert requests in flight at once.
const UPSERTS_IN_FLIGHT: usize = 4;
/// Ids per delete or retrieve request.
const ID_BATCH: usize = 512;
/// Points per scroll page.
const SCROLL_PAGE: u32 = 1024;

/// Collection metadata keys (Qdrant 1.16+): who made the collection and for which model.
const META_MODEL_ID: &str = "ingest_model_id";
const META_DIMENSION: &str = "ingest_dimension";

pub struct QdrantVectors {
    client: Qdrant,
    url: String,
    server_version: String,
    /// People's names go to the payload only when the pipeline allows it.
    persons_in_payload: bool,
}

impl QdrantVectors {
    /// Connect to a Qdrant gRPC endpoint (e.g. `http://127.0.0.1:6334`) and check it answers.
    pub async fn connect(url: &str, api_key: Option<String>) -> Result<Self, String> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(10))
            // The client's own check prints to stdout; the version is checked below instead.
            .skip_compatibility_check()
            .build()
            .map_err(|e| format!("qdrant {url}: bad address: {}", detail(&e)))?;
        let reply = client
            .health_check()
            .await
            .map_err(|e| format!("qdrant {url}: not reachable: {}", detail(&e)))?;
        if !reply.version.starts_with("1.") {
            return Err(format!(
                "qdrant {url}: server version {} is not 1.x, which this client speaks",
                reply.version
            ));
        }
        Ok(Self {
            client,
            url: url.to_string(),
            server_version: reply.version,
            persons_in_payload: false,
        })
    }

    /// Allow people's names (personal data) in the payload's entities.
    pub fn with_persons_in_payload(mut self, allow: bool) -> Self {
        self.persons_in_payload = allow;
        self
    }

    /// Version the server reported at connect time.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Create the model's collection if missing (cosine, `dimension`-sized unnamed vector,
    /// keyword payload indexes); check the size of an existing one. Idempotent.
    pub async fn prepare(&self, model_id: &str, dimension: usize) -> Result<(), String> {
        let name = collection_name(model_id);
        let exists = self
            .client
            .collection_exists(&name)
            .await
            .map_err(|e| self.error("check", &name, &e))?;
        if !exists {
            let metadata = HashMap::from([
                (META_MODEL_ID.to_string(), Value::from(model_id)),
                (META_DIMENSION.to_string(), Value::from(dimension)),
            ]);
            let created = self
                .client
                .create_collection(
                    CreateCollectionBuilder::new(&name)
                        .vectors_config(VectorParamsBuilder::new(
                            dimension as u64,
                            Distance::Cosine,
                        ))
                        .metadata(metadata),
                )
                .await;
            match created {
                Ok(_) => {}
                // Made by someone else meanwhile: checked below like any existing one.
                Err(e) if code(&e) == Some(tonic::Code::AlreadyExists) => {}
                Err(e) => return Err(self.error("create", &name, &e)),
            }
        }

        let info = self
            .client
            .collection_info(&name)
            .await
            .map_err(|e| self.error("describe", &name, &e))?
            .result
            .ok_or_else(|| self.message("describe", &name, "empty answer"))?;
        let params = info
            .config
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config);
        match params {
            Some(vectors_config::Config::Params(p)) => {
                if p.size != dimension as u64 {
                    return Err(self.message(
                        "prepare",
                        &name,
                        &format!(
                            "collection holds {}-dimensional vectors, model {model_id} makes {dimension}",
                            p.size
                        ),
                    ));
                }
                if p.distance != Distance::Cosine as i32 {
                    return Err(self.message(
                        "prepare",
                        &name,
                        &format!(
                            "collection uses distance {:?}, expected Cosine",
                            Distance::try_from(p.distance).unwrap_or(Distance::UnknownDistance)
                        ),
                    ));
                }
            }
            Some(vectors_config::Config::ParamsMap(_)) => {
                return Err(self.message(
                    "prepare",
                    &name,
                    "collection has named vectors, expected one unnamed vector",
                ))
            }
            None => return Err(self.message("prepare", &name, "collection has no vector config")),
        }

        // Indexes missing (new collection, or one made before a field was added): create them.
        for field in INDEXED_FIELDS {
            if info.payload_schema.contains_key(field) {
                continue;
            }
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(&name, field, FieldType::Keyword)
                        .wait(true),
                )
                .await
                .map_err(|e| self.error(&format!("index field {field}"), &name, &e))?;
        }
        Ok(())
    }

    /// Insert or replace points (id, vector, JSON-object payload), waiting until applied.
    pub async fn upsert(
        &self,
        model_id: &str,
        points: Vec<(Uuid, Vec<f32>, Value)>,
    ) -> Result<(), String> {
        let name = collection_name(model_id);
        let mut structs = Vec::with_capacity(points.len());
        for (id, vector, payload) in points {
            let payload = Payload::try_from(payload).map_err(|_| {
                self.message(
                    "upsert",
                    &name,
                    &format!("payload of point {id} is not a JSON object"),
                )
            })?;
            structs.push(PointStruct::new(id.to_string(), vector, payload));
        }
        let mut batches = Vec::with_capacity(structs.len().div_ceil(UPSERT_BATCH));
        while !structs.is_empty() {
            let rest = structs.split_off(structs.len().min(UPSERT_BATCH));
            batches.push(std::mem::replace(&mut structs, rest));
        }
        let name = &name;
        stream::iter(batches)
            .map(|batch| async move {
                self.client
                    .upsert_points(UpsertPointsBuilder::new(name, batch).wait(true))
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error("upsert", name, &e))
            })
            .buffer_unordered(UPSERTS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Delete points by id (missing ids and a missing collection are no error).
    pub async fn delete_points(&self, model_id: &str, ids: &[Uuid]) -> Result<(), String> {
        let name = collection_name(model_id);
        for chunk in ids.chunks(ID_BATCH) {
            let ids: Vec<PointId> = chunk
                .iter()
                .map(|id| PointId::from(id.to_string()))
                .collect();
            let result = self
                .client
                .delete_points(
                    DeletePointsBuilder::new(&name)
                        .points(PointsIdsList { ids })
                        .wait(true),
                )
                .await;
            match result {
                Ok(_) => {}
                Err(e) if code(&e) == Some(tonic::Code::NotFound) => return Ok(()),
                Err(e) => return Err(self.error("delete points", &name, &e)),
            }
        }
        Ok(())
    }

    /// Delete every point whose payload `document_id` equals `document_id`.
    pub async fn delete_document(&self, model_id: &str, document_id: &str) -> Result<(), String> {
        let name = collection_name(model_id);
        let result = self
            .client
            .delete_points(
                DeletePointsBuilder::new(&name)
                    .points(document_filter(document_id))
                    .wait(true),
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some(tonic::Code::NotFound) => Ok(()),
            Err(e) => Err(self.error(&format!("delete document {document_id}"), &name, &e)),
        }
    }

    /// Exact number of points of the model (0 when it has no collection).
    pub async fn count(&self, model_id: &str) -> Result<u64, String> {
        let name = collection_name(model_id);
        match self
            .client
            .count(CountPointsBuilder::new(&name).exact(true))
            .await
        {
            Ok(r) => Ok(r.result.map(|c| c.count).unwrap_or(0)),
            Err(e) if code(&e) == Some(tonic::Code::NotFound) => Ok(0),
            Err(e) => Err(self.error("count", &name, &e)),
        }
    }

    /// Model ids that have a collection on the server, sorted.
    pub async fn models(&self) -> Result<Vec<String>, String> {
        let list = self.client.list_collections().await.map_err(|e| {
            format!(
                "qdrant {}: list collections failed: {}",
                self.url,
                detail(&e)
            )
        })?;
        let mut out: Vec<String> = list
            .collections
            .iter()
            .filter_map(|c| model_from_collection(&c.name))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Nearest points to `vector`: (chunk_id, document_id, score, payload), best first.
    pub async fn search(
        &self,
        model_id: &str,
        vector: Vec<f32>,
        limit: usize,
    ) -> Result<Vec<(String, String, f32, Value)>, String> {
        let name = collection_name(model_id);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let response = match self
            .client
            .query(
                QueryPointsBuilder::new(&name)
                    .query(vector)
                    .limit(limit as u64)
                    .with_payload(true)
                    .with_vectors(false),
            )
            .await
        {
            Ok(r) => r,
            Err(e) if code(&e) == Some(tonic::Code::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(self.error("search", &name, &e)),
        };
        Ok(response
            .result
            .into_iter()
            .map(|p| {
                let payload = Value::from(Payload::from(p.payload));
                (
                    str_field(&payload, "chunk_id"),
                    str_field(&payload, "document_id"),
                    p.score,
                    payload,
                )
            })
            .collect())
    }

    /// `chunk_id` payload values of the points of one document.
    pub async fn document_chunk_ids(
        &self,
        model_id: &str,
        document_id: &str,
    ) -> Result<Vec<String>, String> {
        let points = self
            .scroll_all(model_id, Some(document_filter(document_id)), "chunk_id")
            .await?;
        Ok(points
            .into_iter()
            .filter_map(|p| payload_str(p, "chunk_id"))
            .collect())
    }

    /// Distinct `document_id` payload values in the model's collection, sorted.
    pub async fn document_ids(&self, model_id: &str) -> Result<Vec<String>, String> {
        let points = self.scroll_all(model_id, None, "document_id").await?;
        let ids: BTreeSet<String> = points
            .into_iter()
            .filter_map(|p| payload_str(p, "document_id"))
            .collect();
        Ok(ids.into_iter().collect())
    }

    /// Points by id: (id, payload, vector); missing ids are skipped.
    pub async fn retrieve(
        &self,
        model_id: &str,
        ids: &[Uuid],
    ) -> Result<Vec<(String, Value, Vec<f32>)>, String> {
        let name = collection_name(model_id);
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_BATCH) {
            let ids: Vec<PointId> = chunk
                .iter()
                .map(|id| PointId::from(id.to_string()))
                .collect();
            let response = match self
                .client
                .get_points(
                    GetPointsBuilder::new(&name, ids)
                        .with_payload(true)
                        .with_vectors(true),
                )
                .await
            {
                Ok(r) => r,
                Err(e) if code(&e) == Some(tonic::Code::NotFound) => return Ok(Vec::new()),
                Err(e) => return Err(self.error("retrieve", &name, &e)),
            };
            for p in response.result {
                let id = point_id_string(p.id.as_ref());
                let vector = dense_vector(&p);
                out.push((id, Value::from(Payload::from(p.payload)), vector));
            }
        }
        Ok(out)
    }

    /// Every point (optionally filtered) with only `field` of the payload, page by page.
    async fn scroll_all(
        &self,
        model_id: &str,
        filter: Option<Filter>,
        field: &str,
    ) -> Result<Vec<RetrievedPoint>, String> {
        let name = collection_name(model_id);
        let mut out = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&name)
                .limit(SCROLL_PAGE)
                .with_payload(PayloadIncludeSelector {
                    fields: vec![field.to_string()],
                })
                .with_vectors(false);
            if let Some(f) = &filter {
                request = request.filter(f.clone());
            }
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let page = match self.client.scroll(request).await {
                Ok(p) => p,
                Err(e) if code(&e) == Some(tonic::Code::NotFound) => return Ok(Vec::new()),
                Err(e) => return Err(self.error("scroll", &name, &e)),
            };
            out.extend(page.result);
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }

    fn error(&self, op: &str, collection: &str, e: &QdrantError) -> String {
        self.message(op, collection, &detail(e))
    }

    fn message(&self, op: &str, collection: &str, message: &str) -> String {
        format!(
            "qdrant {} collection {collection}: {op} failed: {message}",
            self.url
        )
    }
}

/// Collection of a model: `ingest_` + the model id with every byte outside [A-Za-z0-9-]
/// written as `_` + two lowercase hex digits (so `_` itself is `_5f`): reversible, and a valid
/// Qdrant collection name.
pub fn collection_name(model_id: &str) -> String {
    let mut out = String::with_capacity(COLLECTION_PREFIX.len() + model_id.len() * 2);
    out.push_str(COLLECTION_PREFIX);
    for b in model_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// The model id of one of our collections; `None` for any other collection name.
pub fn model_from_collection(name: &str) -> Option<String> {
    let rest = name.strip_prefix(COLLECTION_PREFIX)?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'_' {
            let hex = rest.get(i + 1..i + 3)?;
            if hex.bytes().any(|h| h.is_ascii_uppercase()) {
                return None;
            }
            let v = u8::from_str_radix(hex, 16).ok()?;
            if v.is_ascii_alphanumeric() || v == b'-' {
                return None; // never escaped: not a name we made
            }
            out.push(v);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    if out.is_empty() {
        return None;
    }
    String::from_utf8(out).ok()
}

/// `document_id` equals the id, as an exact keyword match (the client's `String` conversion
/// would turn an id with whitespace into a full-text match).
fn document_filter(document_id: &str) -> Filter {
    Filter::must([Condition::matches(
        "document_id",
        MatchValue::Keyword(document_id.to_string()),
    )])
}

fn code(e: &QdrantError) -> Option<tonic::Code> {
    match e {
        QdrantError::ResponseError { status } => Some(status.code()),
        QdrantError::ResourceExhaustedError { status, .. } => Some(status.code()),
        _ => None,
    }
}

/// One line: the gRPC code and message, or the client's own error.
fn detail(e: &QdrantError) -> String {
    let text = match e {
        QdrantError::ResponseError { status }
        | QdrantError::ResourceExhaustedError { status, .. } => {
            format!("{:?}: {}", status.code(), status.message())
        }
        other => other.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn str_field(payload: &Value, field: &str) -> String {
    payload[field].as_str().unwrap_or_default().to_string()
}

fn payload_str(point: RetrievedPoint, field: &str) -> Option<String> {
    point
        .payload
        .get(field)
        .and_then(|v| v.as_str())
        .map(|s| s.to_string())
}

fn point_id_string(id: Option<&PointId>) -> String {
    match id.and_then(|i| i.point_id_options.as_ref()) {
        Some(PointIdOptions::Uuid(u)) => u.clone(),
        Some(PointIdOptions::Num(n)) => n.to_string(),
        None => String::new(),
    }
}

fn dense_vector(point: &RetrievedPoint) -> Vec<f32> {
    let Some(vectors) = &point.vectors else {
        return Vec::new();
    };
    match vectors.get_vector() {
        Some(vector_output::Vector::Dense(d)) => d.data,
        _ => Vec::new(),
    }
}

#[async_trait::async_trait]
impl super::VectorStore for QdrantVectors {
    async fn prepare(&self, model_id: &str, dimension: usize) -> Result<(), super::StoreError> {
        QdrantVectors::prepare(self, model_id, dimension)
            .await
            .map_err(super::StoreError::vector)
    }

    async fn upsert_document(
        &self,
        doc: &std::sync::Arc<crate::pipeline::record::EnrichedDocument>,
        _dimension: usize,
    ) -> Result<(), super::StoreError> {
        let points = doc
            .chunks
            .iter()
            .zip(&doc.vectors)
            .map(|(c, v)| {
                (
                    super::point_id(&c.id),
                    v.clone(),
                    super::plan::chunk_payload(doc, c, self.persons_in_payload),
                )
            })
            .collect();
        self.upsert(&doc.model_id, points)
            .await
            .map_err(super::StoreError::vector)
    }

    async fn document_chunk_ids(
        &self,
        model_id: &str,
        document_id: &str,
    ) -> Result<Vec<String>, super::StoreError> {
        let mut ids = QdrantVectors::document_chunk_ids(self, model_id, document_id)
            .await
            .map_err(super::StoreError::vector)?;
        ids.sort();
        Ok(ids)
    }

    async fn document_ids(&self, model_id: &str) -> Result<Vec<String>, super::StoreError> {
        let mut ids = QdrantVectors::document_ids(self, model_id)
            .await
            .map_err(super::StoreError::vector)?;
        ids.sort();
        Ok(ids)
    }

    async fn delete_document(
        &self,
        model_id: &str,
        document_id: &str,
    ) -> Result<(), super::StoreError> {
        QdrantVectors::delete_document(self, model_id, document_id)
            .await
            .map_err(super::StoreError::vector)
    }

    async fn delete_chunks(
        &self,
        model_id: &str,
        chunk_ids: &[String],
    ) -> Result<(), super::StoreError> {
        let ids: Vec<Uuid> = chunk_ids.iter().map(|c| super::point_id(c)).collect();
        self.delete_points(model_id, &ids)
            .await
            .map_err(super::StoreError::vector)
    }

    async fn count(&self, model_id: &str) -> Result<u64, super::StoreError> {
        QdrantVectors::count(self, model_id)
            .await
            .map_err(super::StoreError::vector)
    }

    async fn models(&self) -> Result<Vec<String>, super::StoreError> {
        QdrantVectors::models(self)
            .await
            .map_err(super::StoreError::vector)
    }

    async fn search(
        &self,
        model_id: &str,
        vector: Vec<f32>,
        limit: usize,
    ) -> Result<Vec<super::Hit>, super::StoreError> {
        Ok(QdrantVectors::search(self, model_id, vector, limit)
            .await
            .map_err(super::StoreError::vector)?
            .into_iter()
            .map(|(chunk_id, document_id, score, payload)| super::Hit {
                chunk_id,
                document_id,
                score,
                payload,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_are_reversible() {
        for id in [
            "intfloat/multilingual-e5-small",
            "nomic-embed-text-v1.5",
            "a_b",
            "è/ü",
            "plain",
        ] {
            let name = collection_name(id);
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            assert_eq!(model_from_collection(&name).as_deref(), Some(id), "{name}");
        }
        assert_eq!(
            collection_name("intfloat/multilingual-e5-small"),
            "ingest_intfloat_2fmultilingual-e5-small"
        );
        assert_eq!(model_from_collection("other"), None);
        assert_eq!(model_from_collection("ingest_"), None);
        assert_eq!(model_from_collection("ingest_a_41"), None);
        assert_eq!(model_from_collection("ingest_a_2F"), None);
        assert_eq!(model_from_collection("ingest_a_2"), None);
    }
}
