//! `qdrant-test-server`: a TEST server that speaks a small part of Qdrant's gRPC API.
//!
//! THIS IS NOT QDRANT. It exists so the Qdrant backend (`store::qdrant`) can be tested
//! end to end on a machine that has no Qdrant server: no registry here ships one. It
//! serves, with Qdrant's own protobuf types (from `qdrant-client`) and Qdrant's own storage
//! engine in process (`qdrant-edge`, one shard per collection under `--data-dir`, kept
//! across restarts), exactly the calls the backend makes:
//!
//! - `qdrant.Qdrant/HealthCheck` (reports [`API_VERSION`], the gRPC API level it speaks)
//! - `qdrant.Collections/`: `Create`, `Get`, `List`, `Delete`, `CollectionExists`
//! - `qdrant.Points/`: `Upsert`, `Delete` (by ids or by filter), `Get`, `Scroll`, `Count`,
//!   `Search`, `Query` (nearest to a dense vector only), `CreateFieldIndex`
//!
//! Every other call, and every option of a served call that it does not honour (named,
//! sparse or multi vectors, quantization, shard keys, prefetch, order-by, conditional
//! updates, geo / nested / values-count conditions, ...), answers `UNIMPLEMENTED`, never a
//! silent success. Tuning options (HNSW, WAL, optimizers, replication, consistency,
//! timeouts) are accepted and ignored: a single node that applies every write before it
//! answers, and flushes it to disk.
//!
//! Filters support `must` / `should` / `must_not` / `min_should`, nested filters, `has_id`,
//! `is_empty`, `is_null`, and field conditions with `match` (keyword, integer, bool,
//! any-of, except, text, phrase, text-any), `range`, `is_empty`, `is_null`; array payload
//! fields match when any element matches, as in Qdrant (the engine evaluates them).
//!
//! Usage: `qdrant-test-server --data-dir DIR [--addr 127.0.0.1:6334] [--api-key KEY]`
//! (the key may also come from `QDRANT_TEST_SERVER_API_KEY`). SIGINT/SIGTERM stop it
//! cleanly (shards flushed).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::collections_server::{Collections, CollectionsServer};
use qdrant_client::qdrant::points_server::{Points, PointsServer};
use qdrant_client::qdrant::qdrant_server::{Qdrant, QdrantServer};
use qdrant_client::qdrant::snapshots_server::{Snapshots, SnapshotsServer};
use qdrant_edge::{
    CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder,
    FieldIndexOperations, JsonPath, NamedQuery, OperationError, Payload, PayloadFieldSchema,
    PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStructPersisted,
    QueryEnum, Record, ScoredPoint, ScrollRequest, SearchRequest, UpdateOperation, VectorInternal,
    VectorStructInternal, VectorStructPersisted, WithPayloadInterface, WithVector,
};
use serde_json::{json, Map, Value as Json};
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

/// The gRPC API level served: the protobuf definitions of `qdrant-client` 1.20.0. Reported
/// by `HealthCheck` so clients' version checks pass; it is not a Qdrant release.
pub const API_VERSION: &str = "1.20.0";
/// `HealthCheck` title: says plainly what this is.
pub const TITLE: &str =
    "qdrant-test-server: TEST server (Qdrant gRPC subset on qdrant-edge), not Qdrant";
/// Largest request accepted (Qdrant's default `max_request_size_mb` is 32).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
const META_FILE: &str = "collection.json";
const SHARD_DIR: &str = "shard";

type Reply<T> = Result<Response<T>, Status>;

fn unserved(call: &str) -> Status {
    Status::unimplemented(format!(
        "qdrant-test-server: qdrant.{call} is not served by this TEST server (not Qdrant)"
    ))
}

fn unsupported(what: &str) -> Status {
    Status::unimplemented(format!(
        "qdrant-test-server: {what} is not supported by this TEST server (not Qdrant)"
    ))
}

fn not_found(collection: &str) -> Status {
    Status::not_found(format!(
        "Not found: Collection `{collection}` doesn't exist!"
    ))
}

fn internal(what: &str, e: impl std::fmt::Display) -> Status {
    Status::internal(format!("{what}: {e}"))
}

fn engine_error(e: OperationError) -> Status {
    let msg = e.to_string();
    match e {
        OperationError::WrongVectorDimension { .. }
        | OperationError::VectorNameNotExists { .. }
        | OperationError::TypeError { .. }
        | OperationError::TypeInferenceError { .. }
        | OperationError::ValidationError { .. }
        | OperationError::WrongSparse
        | OperationError::WrongMulti
        | OperationError::MissingRangeIndexForOrderBy { .. }
        | OperationError::MissingMapIndexForFacet { .. }
        | OperationError::VariableTypeError { .. }
        | OperationError::NonFiniteNumber { .. } => {
            Status::invalid_argument(format!("Wrong input: {msg}"))
        }
        OperationError::PointIdError { .. } => Status::not_found(msg),
        OperationError::Timeout { .. } => Status::deadline_exceeded(msg),
        OperationError::Cancelled { .. } => Status::cancelled(msg),
        _ => Status::internal(msg),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Storage: one qdrant-edge shard per collection.
// ---------------------------------------------------------------------------------------

/// What the server keeps about a collection beside the shard.
#[derive(serde::Serialize, serde::Deserialize)]
struct CollectionMeta {
    name: String,
    created_at: u64,
    /// Qdrant collection metadata (arbitrary JSON object).
    #[serde(default)]
    metadata: Map<String, Json>,
}

struct Collection {
    meta: CollectionMeta,
    dir: PathBuf,
    /// `None` once the collection is deleted or the server is closing. Writes take the write
    /// lock (one writer per shard, and the engine's flush must not overlap anything).
    shard: RwLock<Option<EdgeShard>>,
}

impl Collection {
    fn read<T>(&self, f: impl FnOnce(&EdgeShard) -> Result<T, Status>) -> Result<T, Status> {
        let guard = self.shard.read().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(shard) => f(shard),
            None => Err(not_found(&self.meta.name)),
        }
    }

    /// Apply a write, then make it durable (the engine does not replay its WAL on load).
    fn write<T>(&self, f: impl FnOnce(&EdgeShard) -> Result<T, Status>) -> Result<T, Status> {
        let guard = self.shard.write().unwrap_or_else(PoisonError::into_inner);
        let Some(shard) = guard.as_ref() else {
            return Err(not_found(&self.meta.name));
        };
        let out = f(shard)?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.flush()))
            .map_err(|_| Status::internal("flush to disk failed"))?;
        Ok(out)
    }

    fn vector_params(shard: &EdgeShard) -> Result<(usize, Distance), Status> {
        let config = shard.config();
        let params = config
            .vectors
            .get("")
            .ok_or_else(|| Status::internal("collection has no unnamed vector"))?;
        Ok((params.size, params.distance))
    }
}

pub struct Engine {
    root: PathBuf,
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
    operations: AtomicU64,
    closed: AtomicBool,
}

impl Engine {
    /// Open the data dir, loading every collection found there.
    pub fn open(data_dir: &Path) -> Result<Self, String> {
        let root = data_dir.join("collections");
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let mut collections = BTreeMap::new();
        let entries = std::fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
            let dir = entry.path();
            let file_name = entry.file_name().to_string_lossy().to_string();
            if !dir.is_dir() {
                continue;
            }
            if file_name.starts_with('.') {
                // Left over by a delete that did not finish.
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            let meta_path = dir.join(META_FILE);
            if !meta_path.is_file() {
                // A create that did not finish: the metadata file is written last.
                eprintln!(
                    "qdrant-test-server: removing incomplete collection {}",
                    dir.display()
                );
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            let meta: CollectionMeta = std::fs::read(&meta_path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                .map_err(|e| format!("{}: {e}", meta_path.display()))?;
            let shard = EdgeShard::load(&dir.join(SHARD_DIR), None)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            collections.insert(
                meta.name.clone(),
                Arc::new(Collection {
                    meta,
                    dir,
                    shard: RwLock::new(Some(shard)),
                }),
            );
        }
        Ok(Self {
            root,
            collections: RwLock::new(collections),
            operations: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// Flush and release every shard; later calls answer `UNAVAILABLE`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let collections = std::mem::take(
            &mut *self
                .collections
                .write()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for collection in collections.values() {
            let shard = collection
                .shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            drop(shard); // flushes
        }
    }

    fn collection(&self, name: &str) -> Result<Arc<Collection>, Status> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Status::unavailable("qdrant-test-server is shutting down"));
        }
        self.collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    fn next_operation(&self) -> u64 {
        self.operations.fetch_add(1, Ordering::SeqCst)
    }

    fn create(
        &self,
        name: &str,
        size: usize,
        distance: Distance,
        metadata: Map<String, Json>,
    ) -> Result<(), Status> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Status::unavailable("qdrant-test-server is shutting down"));
        }
        let mut collections = self
            .collections
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if collections.contains_key(name) {
            return Err(Status::already_exists(format!(
                "Wrong input: Collection `{name}` already exists!"
            )));
        }
        let dir = self.root.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| internal("clear collection dir", e))?;
        }
        let shard_dir = dir.join(SHARD_DIR);
        std::fs::create_dir_all(&shard_dir).map_err(|e| internal("create collection dir", e))?;
        let config = EdgeConfigBuilder::new()
            .vector("", EdgeVectorParamsBuilder::new(size, distance).build())
            .build();
        let shard = EdgeShard::new(&shard_dir, config).map_err(engine_error)?;
        let meta = CollectionMeta {
            name: name.to_string(),
            created_at: now_secs(),
            metadata,
        };
        let bytes = serde_json::to_vec_pretty(&meta).map_err(|e| internal("metadata", e))?;
        let tmp = dir.join(format!("{META_FILE}.tmp"));
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, dir.join(META_FILE)))
            .map_err(|e| internal("write collection metadata", e))?;
        collections.insert(
            name.to_string(),
            Arc::new(Collection {
                meta,
                dir,
                shard: RwLock::new(Some(shard)),
            }),
        );
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<bool, Status> {
        let Some(collection) = self
            .collections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
        else {
            return Ok(false);
        };
        let shard = collection
            .shard
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(shard);
        let trash = self
            .root
            .join(format!(".deleted-{name}-{}", self.next_operation()));
        std::fs::rename(&collection.dir, &trash).map_err(|e| internal("delete collection", e))?;
        std::fs::remove_dir_all(&trash).map_err(|e| internal("delete collection", e))?;
        Ok(true)
    }
}

/// Run blocking engine work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("engine task failed: {e}")))?
}

// ---------------------------------------------------------------------------------------
// Conversions between Qdrant's gRPC types and the engine's.
// ---------------------------------------------------------------------------------------

fn validate_name(name: &str) -> Result<(), Status> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "Wrong input: collection name `{name}`: this TEST server accepts 1-255 of [A-Za-z0-9_.-], not starting with '.'"
        )))
    }
}

fn point_id_in(id: Option<&pb::PointId>) -> Result<PointId, Status> {
    match id.and_then(|i| i.point_id_options.as_ref()) {
        Some(pb::point_id::PointIdOptions::Num(n)) => Ok(PointId::NumId(*n)),
        Some(pb::point_id::PointIdOptions::Uuid(s)) => {
            qdrant_edge::external::uuid::Uuid::parse_str(s)
                .map(PointId::Uuid)
                .map_err(|e| Status::invalid_argument(format!("Wrong input: point id {s}: {e}")))
        }
        None => Err(Status::invalid_argument("Wrong input: point id is missing")),
    }
}

fn point_id_out(id: PointId) -> pb::PointId {
    match id {
        PointId::NumId(n) => pb::PointId::from(n),
        PointId::Uuid(u) => pb::PointId::from(u.to_string()),
    }
}

fn id_json(id: &pb::PointId) -> Result<Json, Status> {
    Ok(match point_id_in(Some(id))? {
        PointId::NumId(n) => json!(n),
        PointId::Uuid(u) => json!(u.to_string()),
    })
}

fn payload_in(payload: HashMap<String, pb::Value>) -> Payload {
    let map: Map<String, Json> = payload
        .into_iter()
        .map(|(k, v)| (k, v.into_json()))
        .collect();
    Payload::from(map)
}

fn payload_out(payload: Option<Payload>) -> HashMap<String, pb::Value> {
    payload
        .map(|p| {
            p.0.into_iter()
                .map(|(k, v)| (k, pb::Value::from(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// The single dense vector of an upserted point.
#[allow(deprecated)] // `Vector::data` is how clients before 1.16 send a dense vector
fn vector_in(vectors: Option<pb::Vectors>) -> Result<Vec<f32>, Status> {
    let vector = match vectors.and_then(|v| v.vectors_options) {
        Some(pb::vectors::VectorsOptions::Vector(v)) => v,
        Some(pb::vectors::VectorsOptions::Vectors(_)) => return Err(unsupported("named vectors")),
        None => return Err(Status::invalid_argument("Wrong input: point has no vector")),
    };
    match vector.vector {
        Some(pb::vector::Vector::Dense(d)) => Ok(d.data),
        Some(_) => Err(unsupported("vectors other than dense")),
        None if vector.indices.is_some() || vector.vectors_count.is_some() => {
            Err(unsupported("vectors other than dense"))
        }
        None => Ok(vector.data),
    }
}

fn vector_out(vector: Option<VectorStructInternal>) -> Option<pb::VectorsOutput> {
    let dense = match vector? {
        VectorStructInternal::Single(v) => v,
        VectorStructInternal::Named(mut named) => match named.remove("") {
            Some(VectorInternal::Dense(v)) => v,
            _ => return None,
        },
        VectorStructInternal::MultiDense(_) => return None,
    };
    #[allow(deprecated)]
    let output = pb::VectorOutput {
        vector: Some(pb::vector_output::Vector::Dense(pb::DenseVector {
            data: dense,
        })),
        ..Default::default()
    };
    Some(pb::VectorsOutput {
        vectors_options: Some(pb::vectors_output::VectorsOptions::Vector(output)),
    })
}

fn with_payload_in(
    selector: Option<pb::WithPayloadSelector>,
    default: bool,
) -> Result<WithPayloadInterface, Status> {
    use pb::with_payload_selector::SelectorOptions;
    let value = match selector.and_then(|s| s.selector_options) {
        None => return Ok(WithPayloadInterface::Bool(default)),
        Some(SelectorOptions::Enable(b)) => return Ok(WithPayloadInterface::Bool(b)),
        Some(SelectorOptions::Include(i)) => json!({ "include": i.fields }),
        Some(SelectorOptions::Exclude(e)) => json!({ "exclude": e.fields }),
    };
    serde_json::from_value(value)
        .map_err(|e| Status::invalid_argument(format!("Wrong input: payload selector: {e}")))
}

fn with_vector_in(selector: Option<pb::WithVectorsSelector>) -> WithVector {
    use pb::with_vectors_selector::SelectorOptions;
    match selector.and_then(|s| s.selector_options) {
        None => WithVector::Bool(false),
        Some(SelectorOptions::Enable(b)) => WithVector::Bool(b),
        Some(SelectorOptions::Include(i)) => WithVector::Selector(i.names),
    }
}

fn no_shard_keys(selector: &Option<pb::ShardKeySelector>) -> Result<(), Status> {
    match selector {
        Some(_) => Err(unsupported("shard keys")),
        None => Ok(()),
    }
}

fn filter_in(filter: Option<&pb::Filter>) -> Result<Option<qdrant_edge::Filter>, Status> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let value = filter_json(filter)?;
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("Wrong input: filter: {e}")))
}

/// Qdrant's REST form of a gRPC filter, which the engine's types deserialize.
fn filter_json(filter: &pb::Filter) -> Result<Json, Status> {
    let mut out = Map::new();
    for (key, conditions) in [
        ("must", &filter.must),
        ("should", &filter.should),
        ("must_not", &filter.must_not),
    ] {
        if !conditions.is_empty() {
            out.insert(key.into(), conditions_json(conditions)?);
        }
    }
    if let Some(min) = &filter.min_should {
        out.insert(
            "min_should".into(),
            json!({ "conditions": conditions_json(&min.conditions)?, "min_count": min.min_count }),
        );
    }
    Ok(Json::Object(out))
}

fn conditions_json(conditions: &[pb::Condition]) -> Result<Json, Status> {
    conditions
        .iter()
        .map(condition_json)
        .collect::<Result<Vec<_>, _>>()
        .map(Json::Array)
}

fn condition_json(condition: &pb::Condition) -> Result<Json, Status> {
    use pb::condition::ConditionOneOf;
    match &condition.condition_one_of {
        Some(ConditionOneOf::Field(f)) => field_condition_json(f),
        Some(ConditionOneOf::IsEmpty(c)) => Ok(json!({ "is_empty": { "key": c.key } })),
        Some(ConditionOneOf::IsNull(c)) => Ok(json!({ "is_null": { "key": c.key } })),
        Some(ConditionOneOf::HasId(c)) => {
            let ids = c
                .has_id
                .iter()
                .map(id_json)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({ "has_id": ids }))
        }
        Some(ConditionOneOf::Filter(f)) => filter_json(f),
        Some(ConditionOneOf::Nested(_)) => Err(unsupported("nested conditions")),
        Some(ConditionOneOf::HasVector(_)) => Err(unsupported("has_vector conditions")),
        Some(ConditionOneOf::Slice(_)) => Err(unsupported("slice conditions")),
        None => Err(Status::invalid_argument("Wrong input: empty condition")),
    }
}

fn field_condition_json(f: &pb::FieldCondition) -> Result<Json, Status> {
    use pb::r#match::MatchValue;
    if f.geo_bounding_box.is_some() || f.geo_radius.is_some() || f.geo_polygon.is_some() {
        return Err(unsupported("geo conditions"));
    }
    if f.values_count.is_some() {
        return Err(unsupported("values_count conditions"));
    }
    if f.datetime_range.is_some() {
        return Err(unsupported("datetime_range conditions"));
    }
    let mut out = Map::new();
    out.insert("key".into(), json!(f.key));
    if let Some(m) = &f.r#match {
        let m = match &m.match_value {
            Some(MatchValue::Keyword(s)) => json!({ "value": s }),
            Some(MatchValue::Integer(i)) => json!({ "value": i }),
            Some(MatchValue::Boolean(b)) => json!({ "value": b }),
            Some(MatchValue::Keywords(k)) => json!({ "any": k.strings }),
            Some(MatchValue::Integers(i)) => json!({ "any": i.integers }),
            Some(MatchValue::ExceptKeywords(k)) => json!({ "except": k.strings }),
            Some(MatchValue::ExceptIntegers(i)) => json!({ "except": i.integers }),
            Some(MatchValue::Text(t)) => json!({ "text": t }),
            Some(MatchValue::Phrase(t)) => json!({ "phrase": t }),
            Some(MatchValue::TextAny(t)) => json!({ "text_any": t }),
            Some(MatchValue::Prefix(_)) => return Err(unsupported("prefix match")),
            Some(MatchValue::Substring(_)) => return Err(unsupported("substring match")),
            None => return Err(Status::invalid_argument("Wrong input: empty match")),
        };
        out.insert("match".into(), m);
    }
    if let Some(r) = &f.range {
        let mut range = Map::new();
        for (k, v) in [("lt", r.lt), ("gt", r.gt), ("gte", r.gte), ("lte", r.lte)] {
            if let Some(v) = v {
                range.insert(k.into(), json!(v));
            }
        }
        out.insert("range".into(), Json::Object(range));
    }
    if let Some(b) = f.is_empty {
        out.insert("is_empty".into(), json!(b));
    }
    if let Some(b) = f.is_null {
        out.insert("is_null".into(), json!(b));
    }
    if out.len() == 1 {
        return Err(Status::invalid_argument(format!(
            "Wrong input: condition on `{}` has nothing to check",
            f.key
        )));
    }
    Ok(Json::Object(out))
}

fn distance_in(distance: i32) -> Result<Distance, Status> {
    match pb::Distance::try_from(distance) {
        Ok(pb::Distance::Cosine) => Ok(Distance::Cosine),
        Ok(pb::Distance::Euclid) => Ok(Distance::Euclid),
        Ok(pb::Distance::Dot) => Ok(Distance::Dot),
        Ok(pb::Distance::Manhattan) => Ok(Distance::Manhattan),
        _ => Err(Status::invalid_argument(format!(
            "Wrong input: unknown distance {distance}"
        ))),
    }
}

fn distance_out(distance: Distance) -> pb::Distance {
    match distance {
        Distance::Cosine => pb::Distance::Cosine,
        Distance::Euclid => pb::Distance::Euclid,
        Distance::Dot => pb::Distance::Dot,
        Distance::Manhattan => pb::Distance::Manhattan,
    }
}

fn schema_type_in(field_type: i32) -> Result<PayloadSchemaType, Status> {
    Ok(match pb::FieldType::try_from(field_type) {
        Ok(pb::FieldType::Keyword) => PayloadSchemaType::Keyword,
        Ok(pb::FieldType::Integer) => PayloadSchemaType::Integer,
        Ok(pb::FieldType::Float) => PayloadSchemaType::Float,
        Ok(pb::FieldType::Geo) => PayloadSchemaType::Geo,
        Ok(pb::FieldType::Text) => PayloadSchemaType::Text,
        Ok(pb::FieldType::Bool) => PayloadSchemaType::Bool,
        Ok(pb::FieldType::Datetime) => PayloadSchemaType::Datetime,
        Ok(pb::FieldType::Uuid) => PayloadSchemaType::Uuid,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "Wrong input: unknown field type {field_type}"
            )))
        }
    })
}

fn schema_type_out(t: PayloadSchemaType) -> pb::PayloadSchemaType {
    match t {
        PayloadSchemaType::Keyword => pb::PayloadSchemaType::Keyword,
        PayloadSchemaType::Integer => pb::PayloadSchemaType::Integer,
        PayloadSchemaType::Float => pb::PayloadSchemaType::Float,
        PayloadSchemaType::Geo => pb::PayloadSchemaType::Geo,
        PayloadSchemaType::Text => pb::PayloadSchemaType::Text,
        PayloadSchemaType::Bool => pb::PayloadSchemaType::Bool,
        PayloadSchemaType::Datetime => pb::PayloadSchemaType::Datetime,
        PayloadSchemaType::Uuid => pb::PayloadSchemaType::Uuid,
    }
}

fn record_out(r: Record) -> pb::RetrievedPoint {
    pb::RetrievedPoint {
        id: Some(point_id_out(r.id)),
        payload: payload_out(r.payload),
        vectors: vector_out(r.vector),
        shard_key: None,
        order_value: None,
    }
}

fn scored_out(p: ScoredPoint) -> pb::ScoredPoint {
    pb::ScoredPoint {
        id: Some(point_id_out(p.id)),
        payload: payload_out(p.payload),
        score: p.score,
        version: p.version,
        vectors: vector_out(p.vector),
        shard_key: None,
        order_value: None,
    }
}

fn update_result(operation_id: u64, wait: Option<bool>) -> pb::PointsOperationResponse {
    // Writes are applied (and flushed) before the answer either way.
    let status = if wait == Some(false) {
        pb::UpdateStatus::Acknowledged
    } else {
        pb::UpdateStatus::Completed
    };
    pb::PointsOperationResponse {
        result: Some(pb::UpdateResult {
            operation_id: Some(operation_id),
            status: status as i32,
        }),
        time: 0.0,
        usage: None,
    }
}

/// A nearest-neighbour search on the collection's unnamed dense vector.
struct Nearest {
    collection: String,
    vector: Vec<f32>,
    using: Option<String>,
    filter: Option<pb::Filter>,
    limit: u64,
    offset: u64,
    score_threshold: Option<f32>,
    with_payload: Option<pb::WithPayloadSelector>,
    with_vectors: Option<pb::WithVectorsSelector>,
}

// ---------------------------------------------------------------------------------------
// The gRPC services.
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct Service {
    engine: Arc<Engine>,
}

impl Service {
    async fn nearest(&self, q: Nearest) -> Result<Vec<pb::ScoredPoint>, Status> {
        if q.using.as_deref().is_some_and(|u| !u.is_empty()) {
            return Err(unsupported("named vectors"));
        }
        if q.limit == 0 {
            return Err(Status::invalid_argument(
                "Wrong input: limit must be at least 1",
            ));
        }
        let filter = filter_in(q.filter.as_ref())?;
        let with_payload = with_payload_in(q.with_payload, false)?;
        let with_vector = with_vector_in(q.with_vectors);
        let collection = self.engine.collection(&q.collection)?;
        blocking(move || {
            collection.read(|shard| {
                let (size, _) = Collection::vector_params(shard)?;
                if q.vector.len() != size {
                    return Err(Status::invalid_argument(format!(
                        "Wrong input: Vector dimension error: expected dim: {size}, got {}",
                        q.vector.len()
                    )));
                }
                let points = shard
                    .search(SearchRequest {
                        query: QueryEnum::Nearest(NamedQuery {
                            query: VectorInternal::Dense(q.vector),
                            using: None,
                        }),
                        filter,
                        params: None,
                        limit: q.limit as usize,
                        offset: q.offset as usize,
                        with_payload: Some(with_payload),
                        with_vector: Some(with_vector),
                        score_threshold: q.score_threshold,
                    })
                    .map_err(engine_error)?;
                Ok(points.into_iter().map(scored_out).collect())
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl Qdrant for Service {
    async fn health_check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Reply<pb::HealthCheckReply> {
        Ok(Response::new(pb::HealthCheckReply {
            title: TITLE.to_string(),
            version: API_VERSION.to_string(),
            commit: None,
        }))
    }
}

#[tonic::async_trait]
impl Collections for Service {
    async fn get(
        &self,
        request: Request<pb::GetCollectionInfoRequest>,
    ) -> Reply<pb::GetCollectionInfoResponse> {
        let start = Instant::now();
        let collection = self.engine.collection(&request.get_ref().collection_name)?;
        let info = blocking(move || {
            collection.read(|shard| {
                let (size, distance) = Collection::vector_params(shard)?;
                let info = shard.info();
                let payload_schema = info
                    .payload_schema
                    .into_iter()
                    .map(|(key, index)| {
                        (
                            key.to_string(),
                            pb::PayloadSchemaInfo {
                                data_type: schema_type_out(index.data_type) as i32,
                                params: None,
                                points: Some(index.points as u64),
                            },
                        )
                    })
                    .collect();
                let metadata = collection
                    .meta
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), pb::Value::from(v.clone())))
                    .collect();
                Ok(pb::CollectionInfo {
                    status: pb::CollectionStatus::Green as i32,
                    optimizer_status: Some(pb::OptimizerStatus {
                        ok: true,
                        error: String::new(),
                    }),
                    segments_count: info.segments_count as u64,
                    config: Some(pb::CollectionConfig {
                        params: Some(pb::CollectionParams {
                            shard_number: 1,
                            vectors_config: Some(pb::VectorsConfig {
                                config: Some(pb::vectors_config::Config::Params(
                                    pb::VectorParams {
                                        size: size as u64,
                                        distance: distance_out(distance) as i32,
                                        ..Default::default()
                                    },
                                )),
                            }),
                            replication_factor: Some(1),
                            write_consistency_factor: Some(1),
                            ..Default::default()
                        }),
                        metadata,
                        ..Default::default()
                    }),
                    payload_schema,
                    points_count: Some(info.points_count as u64),
                    indexed_vectors_count: Some(info.indexed_vectors_count as u64),
                    warnings: Vec::new(),
                    update_queue: None,
                    created_at: Some(prost_types::Timestamp {
                        seconds: collection.meta.created_at as i64,
                        nanos: 0,
                    }),
                })
            })
        })
        .await?;
        Ok(Response::new(pb::GetCollectionInfoResponse {
            result: Some(info),
            time: start.elapsed().as_secs_f64(),
        }))
    }

    async fn list(
        &self,
        _: Request<pb::ListCollectionsRequest>,
    ) -> Reply<pb::ListCollectionsResponse> {
        let collections = self
            .engine
            .collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .map(|name| pb::CollectionDescription { name: name.clone() })
            .collect();
        Ok(Response::new(pb::ListCollectionsResponse {
            collections,
            time: 0.0,
        }))
    }

    async fn create(
        &self,
        request: Request<pb::CreateCollection>,
    ) -> Reply<pb::CollectionOperationResponse> {
        let start = Instant::now();
        let r = request.into_inner();
        validate_name(&r.collection_name)?;
        if r.sparse_vectors_config.is_some() {
            return Err(unsupported("sparse vectors"));
        }
        if r.quantization_config.is_some() {
            return Err(unsupported("quantization"));
        }
        if r.strict_mode_config.is_some() {
            return Err(unsupported("strict mode"));
        }
        if r.sharding_method == Some(pb::ShardingMethod::Custom as i32) {
            return Err(unsupported("custom sharding"));
        }
        let params = match r.vectors_config.and_then(|v| v.config) {
            Some(pb::vectors_config::Config::Params(p)) => p,
            Some(pb::vectors_config::Config::ParamsMap(_)) => {
                return Err(unsupported("named vectors"))
            }
            None => {
                return Err(Status::invalid_argument(
                    "Wrong input: vectors_config is required by this TEST server",
                ))
            }
        };
        if params.multivector_config.is_some() {
            return Err(unsupported("multivectors"));
        }
        if params.quantization_config.is_some() {
            return Err(unsupported("quantization"));
        }
        if params
            .datatype
            .is_some_and(|d| d != pb::Datatype::Float32 as i32 && d != pb::Datatype::Default as i32)
        {
            return Err(unsupported("vector datatypes other than float32"));
        }
        if params.size == 0 || params.size > 65536 {
            return Err(Status::invalid_argument(format!(
                "Wrong input: vector size {} out of range 1..=65536",
                params.size
            )));
        }
        let distance = distance_in(params.distance)?;
        let metadata: Map<String, Json> = r
            .metadata
            .into_iter()
            .map(|(k, v)| (k, v.into_json()))
            .collect();
        let engine = self.engine.clone();
        let name = r.collection_name;
        let size = params.size as usize;
        blocking(move || engine.create(&name, size, distance, metadata)).await?;
        Ok(Response::new(pb::CollectionOperationResponse {
            result: true,
            time: start.elapsed().as_secs_f64(),
        }))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteCollection>,
    ) -> Reply<pb::CollectionOperationResponse> {
        let start = Instant::now();
        let engine = self.engine.clone();
        let name = request.into_inner().collection_name;
        let result = blocking(move || engine.delete(&name)).await?;
        Ok(Response::new(pb::CollectionOperationResponse {
            result,
            time: start.elapsed().as_secs_f64(),
        }))
    }

    async fn collection_exists(
        &self,
        request: Request<pb::CollectionExistsRequest>,
    ) -> Reply<pb::CollectionExistsResponse> {
        let exists = self
            .engine
            .collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&request.get_ref().collection_name);
        Ok(Response::new(pb::CollectionExistsResponse {
            result: Some(pb::CollectionExists { exists }),
            time: 0.0,
        }))
    }

    // Not served: every one of these answers UNIMPLEMENTED.
    async fn update(
        &self,
        _: Request<pb::UpdateCollection>,
    ) -> Reply<pb::CollectionOperationResponse> {
        Err(unserved("Collections/Update"))
    }
    async fn update_aliases(
        &self,
        _: Request<pb::ChangeAliases>,
    ) -> Reply<pb::CollectionOperationResponse> {
        Err(unserved("Collections/UpdateAliases"))
    }
    async fn list_collection_aliases(
        &self,
        _: Request<pb::ListCollectionAliasesRequest>,
    ) -> Reply<pb::ListAliasesResponse> {
        Err(unserved("Collections/ListCollectionAliases"))
    }
    async fn list_aliases(
        &self,
        _: Request<pb::ListAliasesRequest>,
    ) -> Reply<pb::ListAliasesResponse> {
        Err(unserved("Collections/ListAliases"))
    }
    async fn collection_cluster_info(
        &self,
        _: Request<pb::CollectionClusterInfoRequest>,
    ) -> Reply<pb::CollectionClusterInfoResponse> {
        Err(unserved("Collections/CollectionClusterInfo"))
    }
    async fn update_collection_cluster_setup(
        &self,
        _: Request<pb::UpdateCollectionClusterSetupRequest>,
    ) -> Reply<pb::UpdateCollectionClusterSetupResponse> {
        Err(unserved("Collections/UpdateCollectionClusterSetup"))
    }
    async fn create_shard_key(
        &self,
        _: Request<pb::CreateShardKeyRequest>,
    ) -> Reply<pb::CreateShardKeyResponse> {
        Err(unserved("Collections/CreateShardKey"))
    }
    async fn delete_shard_key(
        &self,
        _: Request<pb::DeleteShardKeyRequest>,
    ) -> Reply<pb::DeleteShardKeyResponse> {
        Err(unserved("Collections/DeleteShardKey"))
    }
    async fn list_shard_keys(
        &self,
        _: Request<pb::ListShardKeysRequest>,
    ) -> Reply<pb::ListShardKeysResponse> {
        Err(unserved("Collections/ListShardKeys"))
    }
}

#[tonic::async_trait]
impl Points for Service {
    async fn upsert(
        &self,
        request: Request<pb::UpsertPoints>,
    ) -> Reply<pb::PointsOperationResponse> {
        let start = Instant::now();
        let r = request.into_inner();
        no_shard_keys(&r.shard_key_selector)?;
        if r.update_filter.is_some() {
            return Err(unsupported("conditional upserts (update_filter)"));
        }
        if r.update_mode
            .is_some_and(|m| m != pb::UpdateMode::Upsert as i32)
        {
            return Err(unsupported("update modes other than upsert"));
        }
        let mut points = Vec::with_capacity(r.points.len());
        for p in r.points {
            points.push((
                point_id_in(p.id.as_ref())?,
                vector_in(p.vectors)?,
                p.payload,
            ));
        }
        let collection = self.engine.collection(&r.collection_name)?;
        let operation = self.engine.next_operation();
        blocking(move || {
            collection.write(|shard| {
                let (size, _) = Collection::vector_params(shard)?;
                let mut persisted = Vec::with_capacity(points.len());
                for (id, vector, payload) in points {
                    if vector.len() != size {
                        return Err(Status::invalid_argument(format!(
                            "Wrong input: Vector dimension error: expected dim: {size}, got {}",
                            vector.len()
                        )));
                    }
                    persisted.push(PointStructPersisted {
                        id,
                        vector: VectorStructPersisted::Single(vector),
                        payload: Some(payload_in(payload)),
                    });
                }
                shard
                    .update(UpdateOperation::PointOperation(
                        PointOperations::UpsertPoints(PointInsertOperations::PointsList(persisted)),
                    ))
                    .map_err(engine_error)
            })
        })
        .await?;
        let mut response = update_result(operation, r.wait);
        response.time = start.elapsed().as_secs_f64();
        Ok(Response::new(response))
    }

    async fn delete(
        &self,
        request: Request<pb::DeletePoints>,
    ) -> Reply<pb::PointsOperationResponse> {
        use pb::points_selector::PointsSelectorOneOf;
        let start = Instant::now();
        let r = request.into_inner();
        no_shard_keys(&r.shard_key_selector)?;
        let operation = match r.points.and_then(|p| p.points_selector_one_of) {
            Some(PointsSelectorOneOf::Points(list)) => PointOperations::DeletePoints {
                ids: list
                    .ids
                    .iter()
                    .map(|id| point_id_in(Some(id)))
                    .collect::<Result<_, _>>()?,
            },
            Some(PointsSelectorOneOf::Filter(f)) => PointOperations::DeletePointsByFilter(
                filter_in(Some(&f))?.expect("a filter was given"),
            ),
            None => {
                return Err(Status::invalid_argument(
                    "Wrong input: no points selector given",
                ))
            }
        };
        let collection = self.engine.collection(&r.collection_name)?;
        let operation_id = self.engine.next_operation();
        blocking(move || {
            collection.write(|shard| {
                shard
                    .update(UpdateOperation::PointOperation(operation))
                    .map_err(engine_error)
            })
        })
        .await?;
        let mut response = update_result(operation_id, r.wait);
        response.time = start.elapsed().as_secs_f64();
        Ok(Response::new(response))
    }

    async fn get(&self, request: Request<pb::GetPoints>) -> Reply<pb::GetResponse> {
        let start = Instant::now();
        let r = request.into_inner();
        no_shard_keys(&r.shard_key_selector)?;
        let ids: Vec<PointId> = r
            .ids
            .iter()
            .map(|id| point_id_in(Some(id)))
            .collect::<Result<_, _>>()?;
        let with_payload = with_payload_in(r.with_payload, true)?;
        let with_vector = with_vector_in(r.with_vectors);
        let collection = self.engine.collection(&r.collection_name)?;
        let result = blocking(move || {
            collection.read(|shard| {
                let records = shard
                    .retrieve(&ids, Some(with_payload), Some(with_vector))
                    .map_err(engine_error)?;
                Ok(records.into_iter().map(record_out).collect())
            })
        })
        .await?;
        Ok(Response::new(pb::GetResponse {
            result,
            time: start.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    async fn create_field_index(
        &self,
        request: Request<pb::CreateFieldIndexCollection>,
    ) -> Reply<pb::PointsOperationResponse> {
        let start = Instant::now();
        let r = request.into_inner();
        if r.field_index_params.is_some() {
            return Err(unsupported("field index parameters"));
        }
        let field_name = JsonPath::try_from(r.field_name.as_str()).map_err(|_| {
            Status::invalid_argument(format!("Wrong input: field name `{}`", r.field_name))
        })?;
        let field_schema = match r.field_type {
            Some(t) => Some(PayloadFieldSchema::FieldType(schema_type_in(t)?)),
            None => None,
        };
        let collection = self.engine.collection(&r.collection_name)?;
        let operation_id = self.engine.next_operation();
        blocking(move || {
            collection.write(|shard| {
                shard
                    .update(UpdateOperation::FieldIndexOperation(
                        FieldIndexOperations::CreateIndex(CreateIndex {
                            field_name,
                            field_schema,
                        }),
                    ))
                    .map_err(engine_error)
            })
        })
        .await?;
        let mut response = update_result(operation_id, r.wait);
        response.time = start.elapsed().as_secs_f64();
        Ok(Response::new(response))
    }

    async fn search(&self, request: Request<pb::SearchPoints>) -> Reply<pb::SearchResponse> {
        let start = Instant::now();
        let r = request.into_inner();
        no_shard_keys(&r.shard_key_selector)?;
        if r.sparse_indices.is_some() {
            return Err(unsupported("sparse vectors"));
        }
        let result = self
            .nearest(Nearest {
                collection: r.collection_name,
                vector: r.vector,
                using: r.vector_name,
                filter: r.filter,
                limit: r.limit,
                offset: r.offset.unwrap_or(0),
                score_threshold: r.score_threshold,
                with_payload: r.with_payload,
                with_vectors: r.with_vectors,
            })
            .await?;
        Ok(Response::new(pb::SearchResponse {
            result,
            time: start.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    async fn scroll(&self, request: Request<pb::ScrollPoints>) -> Reply<pb::ScrollResponse> {
        let start = Instant::now();
        let r = request.into_inner();
        no_shard_keys(&r.shard_key_selector)?;
        if r.order_by.is_some() {
            return Err(unsupported("scroll order_by"));
        }
        let limit = r.limit.unwrap_or(10) as usize;
        if limit == 0 {
            return Err(Status::invalid_argument(
                "Wrong input: limit must be at least 1",
            ));
        }
        let offset = match &r.offset {
            Some(id) => Some(point_id_in(Some(id))?),
            None => None,
        };
        let filter = filter_in(r.filter.as_ref())?;
        let with_payload = with_payload_in(r.with_payload, true)?;
        let with_vector = with_vector_in(r.with_vectors);
        let collection = self.engine.collection(&r.collection_name)?;
        let (result, next) = blocking(move || {
            collection.read(|shard| {
                let (records, next) = shard
                    .scroll(ScrollRequest {
                        offset,
                        limit: Some(limit),
                        filter,
                        with_payload: Some(with_payload),
                        with_vector,
                        order_by: None,
                    })
                    .map_err(engine_error)?;
                Ok((
                    records.into_iter().map(record_out).collect(),
                    next.map(point_id_out),
                ))
            })
        })
        .await?;
        Ok(Response::new(pb::ScrollResponse {
            next_page_offset: next,
            result,
            time: start.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    async fn count(&self, request: Request<pb::CountPoints>) -> Reply<pb::CountResponse> {
        let start = Instant::now();
        let r = request.into_inner();
        no_shard_keys(&r.shard_key_selector)?;
        let filter = filter_in(r.filter.as_ref())?;
        let exact = r.exact.unwrap_or(true);
        let collection = self.engine.collection(&r.collection_name)?;
        let count = blocking(move || {
            collection.read(|shard| {
                shard
                    .count(CountRequest { filter, exact })
                    .map_err(engine_error)
            })
        })
        .await?;
        Ok(Response::new(pb::CountResponse {
            result: Some(pb::CountResult {
                count: count as u64,
            }),
            time: start.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    async fn query(&self, request: Request<pb::QueryPoints>) -> Reply<pb::QueryResponse> {
        let start = Instant::now();
        let r = request.into_inner();
        no_shard_keys(&r.shard_key_selector)?;
        if !r.prefetch.is_empty() {
            return Err(unsupported("query prefetch"));
        }
        if r.lookup_from.is_some() {
            return Err(unsupported("query lookup_from"));
        }
        let vector = match r.query.and_then(|q| q.variant) {
            Some(pb::query::Variant::Nearest(input)) => match input.variant {
                Some(pb::vector_input::Variant::Dense(d)) => d.data,
                _ => return Err(unsupported("nearest queries other than by a dense vector")),
            },
            Some(_) => return Err(unsupported("queries other than nearest")),
            None => return Err(unsupported("queries without a query")),
        };
        let result = self
            .nearest(Nearest {
                collection: r.collection_name,
                vector,
                using: r.using,
                filter: r.filter,
                limit: r.limit.unwrap_or(10),
                offset: r.offset.unwrap_or(0),
                score_threshold: r.score_threshold,
                with_payload: r.with_payload,
                with_vectors: r.with_vectors,
            })
            .await?;
        Ok(Response::new(pb::QueryResponse {
            result,
            time: start.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    // Not served: every one of these answers UNIMPLEMENTED.
    async fn update_vectors(
        &self,
        _: Request<pb::UpdatePointVectors>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/UpdateVectors"))
    }
    async fn delete_vectors(
        &self,
        _: Request<pb::DeletePointVectors>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/DeleteVectors"))
    }
    async fn set_payload(
        &self,
        _: Request<pb::SetPayloadPoints>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/SetPayload"))
    }
    async fn overwrite_payload(
        &self,
        _: Request<pb::SetPayloadPoints>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/OverwritePayload"))
    }
    async fn delete_payload(
        &self,
        _: Request<pb::DeletePayloadPoints>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/DeletePayload"))
    }
    async fn clear_payload(
        &self,
        _: Request<pb::ClearPayloadPoints>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/ClearPayload"))
    }
    async fn delete_field_index(
        &self,
        _: Request<pb::DeleteFieldIndexCollection>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/DeleteFieldIndex"))
    }
    async fn create_vector_name(
        &self,
        _: Request<pb::CreateVectorNameRequest>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/CreateVectorName"))
    }
    async fn delete_vector_name(
        &self,
        _: Request<pb::DeleteVectorNameRequest>,
    ) -> Reply<pb::PointsOperationResponse> {
        Err(unserved("Points/DeleteVectorName"))
    }
    async fn search_batch(
        &self,
        _: Request<pb::SearchBatchPoints>,
    ) -> Reply<pb::SearchBatchResponse> {
        Err(unserved("Points/SearchBatch"))
    }
    async fn search_groups(
        &self,
        _: Request<pb::SearchPointGroups>,
    ) -> Reply<pb::SearchGroupsResponse> {
        Err(unserved("Points/SearchGroups"))
    }
    async fn recommend(&self, _: Request<pb::RecommendPoints>) -> Reply<pb::RecommendResponse> {
        Err(unserved("Points/Recommend"))
    }
    async fn recommend_batch(
        &self,
        _: Request<pb::RecommendBatchPoints>,
    ) -> Reply<pb::RecommendBatchResponse> {
        Err(unserved("Points/RecommendBatch"))
    }
    async fn recommend_groups(
        &self,
        _: Request<pb::RecommendPointGroups>,
    ) -> Reply<pb::RecommendGroupsResponse> {
        Err(unserved("Points/RecommendGroups"))
    }
    async fn discover(&self, _: Request<pb::DiscoverPoints>) -> Reply<pb::DiscoverResponse> {
        Err(unserved("Points/Discover"))
    }
    async fn discover_batch(
        &self,
        _: Request<pb::DiscoverBatchPoints>,
    ) -> Reply<pb::DiscoverBatchResponse> {
        Err(unserved("Points/DiscoverBatch"))
    }
    async fn update_batch(
        &self,
        _: Request<pb::UpdateBatchPoints>,
    ) -> Reply<pb::UpdateBatchResponse> {
        Err(unserved("Points/UpdateBatch"))
    }
    async fn query_batch(&self, _: Request<pb::QueryBatchPoints>) -> Reply<pb::QueryBatchResponse> {
        Err(unserved("Points/QueryBatch"))
    }
    async fn query_groups(
        &self,
        _: Request<pb::QueryPointGroups>,
    ) -> Reply<pb::QueryGroupsResponse> {
        Err(unserved("Points/QueryGroups"))
    }
    async fn facet(&self, _: Request<pb::FacetCounts>) -> Reply<pb::FacetResponse> {
        Err(unserved("Points/Facet"))
    }
    async fn search_matrix_pairs(
        &self,
        _: Request<pb::SearchMatrixPoints>,
    ) -> Reply<pb::SearchMatrixPairsResponse> {
        Err(unserved("Points/SearchMatrixPairs"))
    }
    async fn search_matrix_offsets(
        &self,
        _: Request<pb::SearchMatrixPoints>,
    ) -> Reply<pb::SearchMatrixOffsetsResponse> {
        Err(unserved("Points/SearchMatrixOffsets"))
    }
}

/// Snapshots are not served at all; registered so the answer says so plainly.
#[tonic::async_trait]
impl Snapshots for Service {
    async fn create(
        &self,
        _: Request<pb::CreateSnapshotRequest>,
    ) -> Reply<pb::CreateSnapshotResponse> {
        Err(unserved("Snapshots/Create"))
    }
    async fn list(&self, _: Request<pb::ListSnapshotsRequest>) -> Reply<pb::ListSnapshotsResponse> {
        Err(unserved("Snapshots/List"))
    }
    async fn delete(
        &self,
        _: Request<pb::DeleteSnapshotRequest>,
    ) -> Reply<pb::DeleteSnapshotResponse> {
        Err(unserved("Snapshots/Delete"))
    }
    async fn create_full(
        &self,
        _: Request<pb::CreateFullSnapshotRequest>,
    ) -> Reply<pb::CreateSnapshotResponse> {
        Err(unserved("Snapshots/CreateFull"))
    }
    async fn list_full(
        &self,
        _: Request<pb::ListFullSnapshotsRequest>,
    ) -> Reply<pb::ListSnapshotsResponse> {
        Err(unserved("Snapshots/ListFull"))
    }
    async fn delete_full(
        &self,
        _: Request<pb::DeleteFullSnapshotRequest>,
    ) -> Reply<pb::DeleteSnapshotResponse> {
        Err(unserved("Snapshots/DeleteFull"))
    }
}

/// Checks the `api-key` (or `authorization: Bearer`) header when the server has a key.
#[derive(Clone)]
pub struct ApiKeyCheck(Option<Arc<str>>);

impl tonic::service::Interceptor for ApiKeyCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(key) = &self.0 else {
            return Ok(request);
        };
        let meta = request.metadata();
        let given = meta
            .get("api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                meta.get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
            });
        if given == Some(&**key) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "Must provide an API key or an Authorization bearer token",
            ))
        }
    }
}

/// Serve on `listener` until `shutdown` completes, then flush and close every collection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    data_dir: &Path,
    api_key: Option<String>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let dir = data_dir.to_path_buf();
    let engine = tokio::task::spawn_blocking(move || Engine::open(&dir))
        .await
        .map_err(|e| format!("opening {}: {e}", data_dir.display()))??;
    let engine = Arc::new(engine);
    let service = Arc::new(Service {
        engine: engine.clone(),
    });
    let check = ApiKeyCheck(api_key.map(Arc::from));
    let result = tonic::transport::Server::builder()
        // Health checks answer without a key, as Qdrant's do.
        .add_service(QdrantServer::from_arc(service.clone()))
        .add_service(InterceptedService::new(
            CollectionsServer::from_arc(service.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            check.clone(),
        ))
        .add_service(InterceptedService::new(
            PointsServer::from_arc(service.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            check.clone(),
        ))
        .add_service(InterceptedService::new(
            SnapshotsServer::from_arc(service.clone()),
            check,
        ))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
        .map_err(|e| format!("server failed: {e}"));
    drop(service);
    tokio::task::spawn_blocking(move || engine.close())
        .await
        .map_err(|e| format!("closing: {e}"))?;
    result
}

const USAGE: &str =
    "usage: qdrant-test-server --data-dir DIR [--addr 127.0.0.1:6334] [--api-key KEY]
A TEST server speaking a subset of Qdrant's gRPC API on Qdrant's embedded engine. Not Qdrant.";

fn parse_args() -> Result<(String, PathBuf, Option<String>), String> {
    let mut addr = "127.0.0.1:6334".to_string();
    let mut data_dir = None;
    let mut api_key = std::env::var("QDRANT_TEST_SERVER_API_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--addr" => addr = value("--addr")?,
            "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--api-key" => api_key = Some(value("--api-key")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "-V" | "--version" => {
                println!("qdrant-test-server (TEST server) gRPC API {API_VERSION}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let data_dir = data_dir.ok_or_else(|| format!("--data-dir is required\n{USAGE}"))?;
    Ok((addr, data_dir, api_key))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() {
    let (addr, data_dir, api_key) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("qdrant-test-server: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("qdrant-test-server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "qdrant-test-server (TEST server, not Qdrant; gRPC API {API_VERSION}) listening on {addr}, data in {}",
        data_dir.display()
    );
    match serve(listener, &data_dir, api_key, shutdown_signal()).await {
        Ok(()) => eprintln!("qdrant-test-server: stopped"),
        Err(e) => {
            eprintln!("qdrant-test-server: {e}");
            std::process::exit(1);
        }
    }
}
